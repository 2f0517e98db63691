"""The hierarchical model.

Its expected counts against the classic SpectrumModel, feasible starts, bad input, parallel
against sequential chains, and one short end-to-end sampling of a simulated run with a known
signal.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayes_vip.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def energy_run(tmp_path_factory):
    """Demo preset at energy level with 150 expected PEP counts, classic fit done."""
    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign

    run = tmp_path_factory.mktemp("bayes") / "sig"
    sim = simulate_campaign(preset("demo"), rng=np.random.default_rng(31), signal_counts=150.0)
    write_energy_campaign(sim, run, rng=np.random.default_rng(31))
    assert main(["fit", str(run), "--json"]) == 0
    return run


def _data(run, **kw):
    from bayes_vip.bayes.data import build_data
    from bayes_vip.io.campaign import build_campaign
    from bayes_vip.io.config import default_config
    from bayes_vip.io.manifest import load_manifest
    from bayes_vip.physics.lines import pep_signal

    man = load_manifest(run)
    classic = json.loads((run / "results" / "classic.json").read_text())
    bin_eV = default_config().sample.bin_eV
    return build_data(
        man, build_campaign(man), classic, signal=pep_signal("ka1"), bin_eV=bin_eV, **kw
    )


def _sites(d):
    """Fixed values of the model's sites (energy level, no calibration offsets)."""
    return {
        "fano": 0.13,
        "noise": jnp.asarray([[38.0, 41.0], [27.0, 29.0]]),
        "tail_frac": 0.1,
        "tail_beta": 3.0,
        "shelf_frac": 0.06,
        "log_rate": jnp.log(jnp.asarray(d.init["rate"])),
        "log_level": jnp.log(jnp.asarray(d.init["level"])),
        "slope": jnp.full(d.n_sdd, -0.03),
        "offset": jnp.zeros(d.n_cell),
        "gain": jnp.zeros(d.n_cell),
    }


def test_expected_counts_equal_the_classic_spectrum_model(energy_run, capsys):
    """The model's lean line sum reproduces SpectrumModel (no escape peaks in the ROI)."""
    from bayes_vip.analysis.classic import _FIT_SUPPORT
    from bayes_vip.bayes.model import expected_counts
    from bayes_vip.physics.spectrum import SpectrumModel

    d = _data(energy_run)
    s = _sites(d)
    mu = np.asarray(expected_counts(d, s, 40.0))
    bg = SpectrumModel(groups=d.groups, escape_groups=(), **_FIT_SUPPORT)
    sig = SpectrumModel(groups=(d.signal,), escape_groups=(), **_FIT_SUPPORT)
    for i in range(d.n_cell):
        p, j = d.period[i], d.sdd[i]
        q = {
            "rates": jnp.exp(s["log_rate"][p, j]),
            "noise": s["noise"][p, j],
            "fano": 0.13,
            "tail_frac": 0.1,
            "tail_beta": 3.0,
            "escape_frac": 0.0,
            "shelf_frac": 0.06,
            "level": jnp.exp(s["log_level"][p, j]),
            "slope": -0.03,
            "exp_level": 0.0,
            "exp_len": 200.0,
        }
        ref = np.array(bg.expected_counts(d.edges[i], q, d.live_s[i]))
        ref += (
            40.0
            * d.signal_share[i]
            * np.asarray(
                sig.expected_counts(d.edges[i], {**q, "rates": jnp.ones(1), "level": 0.0}, 1.0)
            )
        )
        np.testing.assert_allclose(mu[i], ref, rtol=1e-9, atol=1e-9)
    # the signal goes to current-on cells only, in proportion to their live time
    assert np.allclose(d.signal_share[d.current_A[d.period] == 0], 0.0)
    assert abs(d.signal_share.sum() - 1.0) < 1e-12


def test_the_line_position_prior_moves_the_signal_and_only_the_signal(energy_run):
    """``--line-sd-eV``: a latent shift of the PEP line, Normal(0, sd) through ``line_z``.

    The signal's counts move with the shift, to 1e-3 of the line response computed at the
    moved energy (the resolution is kept at the nominal one); the lines and continuum do
    not move; without the option the model has no such site.
    """
    from numpyro import handlers

    from bayes_vip.bayes.data import init_values
    from bayes_vip.bayes.model import expected_counts, vip_model
    from bayes_vip.physics.lines import pep_signal

    d = _data(energy_run, line_sd_eV=10.0)
    assert init_values(d, "flat-counts")["line_z"] == 0.0
    assert "line_z" not in init_values(_data(energy_run), "flat-counts")
    tr = handlers.trace(handlers.seed(vip_model, 0)).get_trace(d, "flat-counts", 200.0)
    assert tr["line_z"]["type"] == "sample"
    assert float(tr["line_shift"]["value"]) == pytest.approx(10.0 * float(tr["line_z"]["value"]))
    s = _sites(d)
    on = int(np.argmax(d.signal_share))
    base = np.asarray(expected_counts(d, {**s, "line_shift": 0.0}, 0.0))
    for shift in (-30.0, 25.0):
        moved = np.asarray(expected_counts(d, {**s, "line_shift": shift}, 500.0)) - base
        d2 = dataclasses.replace(d, signal=pep_signal(float(d.signal.energies[0]) + shift))
        ref = np.asarray(expected_counts(d2, {**s, "line_shift": 0.0}, 500.0)) - base
        np.testing.assert_allclose(moved[on], ref[on], rtol=1e-3, atol=1e-3 * ref[on].max())
        centre = 0.5 * (d.edges[on][1:] + d.edges[on][:-1])
        mean = float((moved[on] * centre).sum() / moved[on].sum())
        nominal = np.asarray(expected_counts(d, {**s, "line_shift": 0.0}, 500.0)) - base
        mean0 = float((nominal[on] * centre).sum() / nominal[on].sum())
        assert mean - mean0 == pytest.approx(shift, abs=1.0)


def test_a_nan_in_the_model_is_named_not_raised_as_a_traceback(energy_run):

    from bayes_vip.bayes.sampling import laplace
    from bayes_vip.errors import AnalysisError

    d = _data(energy_run)
    d.init["tail_beta"] = float("nan")
    with pytest.raises(AnalysisError, match="not finite at the classic starting point"):
        laplace(d, "flat-beta", 50.0)


def test_bad_input_to_sample_exits_2_with_the_cause(energy_run, tmp_path, capsys):
    # a prior bound below the classic estimate
    assert main(["sample", str(energy_run), "--prior", "flat-counts", "--prior-upper", "1"]) == 2
    err = capsys.readouterr().err
    assert "--prior-upper" in err
    assert "excludes the classic estimate" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["sample", str(energy_run), "--prior", "jeffreys"]) == 2
    assert "--prior" in capsys.readouterr().err
    # a run without current-on data
    off = tmp_path / "off"
    off.mkdir()
    toml = (energy_run / "run.toml").read_text().replace("current_A = 100.0", "current_A = 0.0")
    (off / "run.toml").write_text(toml.replace('path = "', f'path = "{energy_run}/'))
    assert main(["sample", str(off)]) == 2
    err = capsys.readouterr().err
    assert "current-on" in err
    assert "Traceback" not in err
    assert not (off / "results" / "posterior.nc").exists()


def _with_host_devices(n: int, script: str, run: Path):
    """Run ``script`` (argv: the run, the repository) with ``n`` XLA host devices.

    Returns the JSON of its last line of output.
    """
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}",
        "JAX_ENABLE_X64": "1",
        "JAX_PLATFORMS": "cpu",
    }
    r = subprocess.run(
        [sys.executable, "-c", script, str(run), str(REPO)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


_PAR = """
import json, os, sys
import jax
import numpy as np
jax.config.update("jax_enable_x64", True)
sys.path.insert(0, sys.argv[2])
from tests.bayes.test_model import _data
from bayes_vip.bayes.nuts import WhitenedNUTS
from bayes_vip.bayes.sampling import Posterior
from pathlib import Path
assert jax.local_device_count() == 2
compiles = []
def count(event, duration, **kw):
    if event == "/jax/core/compile/backend_compile_duration":
        compiles.append(duration)
jax.monitoring.register_event_duration_secs_listener(count)
d = _data(Path(sys.argv[1]))
post = Posterior(d, "flat-beta", 50.0)
lap = post.laplace()
out = {}
for parallel in (True, False):
    name = "parallel" if parallel else "sequential"
    s = WhitenedNUTS(post, chains=2, warmup=10, window=10, chunk=5, parallel=parallel)
    s.start(lap, post.inputs(), key=jax.random.PRNGKey(3), rng=np.random.default_rng(3),
            samples=0)
    n0 = len(compiles)
    s.extend(5)  # the first draws after warm-up, with the step size fixed
    out["compiles_" + name] = len(compiles) - n0
    out[name] = s.flat_draws().ravel().tolist()
print(json.dumps(out))
"""


def test_two_host_devices_give_the_same_chains_as_sequential(energy_run):
    """Same keys, same starts: the first iterations agree to rounding.

    Over hundreds of iterations the pmap- and jit-compiled gradients' last-bit differences
    grow along the chaotic trajectories, so long chains agree in distribution only.
    """
    out = _with_host_devices(2, _PAR, energy_run)
    np.testing.assert_allclose(out["parallel"], out["sequential"], rtol=1e-6, atol=1e-9)
    # the draws after warm-up reuse the warm-up's compiled chunk: the fixed step size has the
    # adapted one's type and layout (a weak type or another sharding compiled it again)
    assert out["compiles_parallel"] == 0
    assert out["compiles_sequential"] == 0


#: The end-to-end run's options: 2 warm-up phases and 3 checkpoints of draws (a checkpoint in
#: warm-up, and at 0, 50, 100 and 150 draws per chain).
END_TO_END = ["--chains", "2", "--warmup", "150", "--samples", "150", "--max-draws", "150",
              "--checkpoint-every", "50"]  # fmt: skip


def test_sample_end_to_end_covers_the_injected_signal_and_resumes_after_a_kill(
    energy_run, capsys, monkeypatch
):
    """One run, then the same run killed (SIGKILL) after a checkpoint and resumed.

    (One test: the uninterrupted run that the resumed one must equal is the end-to-end run.)
    """
    import arviz as az

    monkeypatch.setenv("BAYES_VIP_REPORT", "on")  # as a user runs it: the report too
    rc = main(["sample", str(energy_run), *END_TO_END, "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc in (0, 3)
    assert (rc == 0) == res["gates"]["passed"]
    idata = az.from_netcdf(energy_run / "results" / "posterior.nc")
    for g in ("posterior", "sample_stats", "observed_data", "posterior_predictive"):
        assert g in idata.groups()
    n = idata.posterior["N_X"].values.ravel()
    lo, hi = np.quantile(n, [0.005, 0.995])
    assert lo < 150.0 < hi  # the expected injected counts
    ul = res["upper_limits"]
    assert ul["N_X"]["0.95"]["value"] > ul["N_X"]["0.9"]["value"] > 0
    assert ul["beta2half"]["0.997"]["mcse"] > 0
    assert {"r_hat_max", "ess_bulk_min", "ess_tail_min", "divergences"} <= set(res["diagnostics"])
    assert res["bayes_factor"]["BF_10_signal_vs_no_signal"] > 0
    assert res["config"]["sample"]["chains"] == 2
    assert res["config"]["sample"]["seed"] == 0
    assert res["classic"]["N_X"] == pytest.approx(
        json.loads((energy_run / "results" / "classic.json").read_text())["N_X"]
    )
    for f in (
        "bayes_trace.png",
        "bayes_beta2half.png",
        "bayes_pair.png",
        "bayes_ppc.png",
        "limits.json",
    ):
        assert (energy_run / "results" / f).is_file()
    assert res["report"] == str(energy_run / "results" / "report.html")
    page = (energy_run / "results" / "report.html").read_text()
    assert "posterior.nc is the one limits.json was made from" in page
    monkeypatch.setenv("BAYES_VIP_REPORT", "off")
    _killed_and_resumed(energy_run, res, capsys)


def test_too_few_draws_fail_the_gates_and_the_limit_mcse_gate(energy_run, capsys):
    """Forced to stop at 20 draws per chain, the run fails ESS and the MCSE gate: exit 3."""
    rc = main(
        [
            "sample",
            str(energy_run),
            "--chains",
            "2",
            "--warmup",
            "100",
            "--samples",
            "20",
            "--max-draws",
            "20",
            "--json",
        ]
    )
    res = json.loads(capsys.readouterr().out)
    assert rc == 3
    assert not res["gates"]["passed"]
    failed = " ".join(res["gates"]["failed"])
    assert "MCSE of the 99.7 % limit" in failed
    assert "ESS" in failed
    # 2 x 20 draws put 0.12 draws beyond the 99.7 % limit: its MCSE cannot be estimated
    assert "not established" in failed


def test_failed_gates_extend_the_chains_up_to_max_draws(energy_run):
    from bayes_vip.bayes.sampling import GATES, sample_posterior

    d = _data(energy_run)
    res = sample_posterior(
        d,
        chains=2,
        warmup=100,
        samples=50,
        max_draws=150,
        key=jax.random.PRNGKey(1),
        rng=np.random.default_rng(1),
    )
    info = res.info
    assert info["extensions"], "50 draws per chain cannot pass the gates"
    assert info["extensions"][0]["after_draws"] == 50
    assert 50 < info["draws_per_chain"] <= 150
    assert res.idata.posterior.sizes["draw"] == info["draws_per_chain"]
    if not res.limits["gates"]["passed"]:
        assert info["draws_per_chain"] == 150  # stopped only at the bound
    mcse = res.limits["diagnostics"]["limit_mcse_rel_max"]
    assert res.limits["gates"]["passed"] == (
        mcse <= GATES["limit_mcse_rel_max"] and not res.limits["gates"]["failed"]
    )


def test_only_divergences_ask_for_the_one_retry():
    from bayes_vip.bayes.sampling import DIVERGENCE_RETRY_TARGET, _retry_divergent

    def lim(divergences, passed):
        return {"gates": {"passed": passed}, "diagnostics": {"divergences": divergences}}

    assert _retry_divergent(lim(1, False), 0.95)
    assert not _retry_divergent(lim(0, False), 0.95)  # ESS or R-hat: extensions, not a retry
    assert not _retry_divergent(lim(1, False), DIVERGENCE_RETRY_TARGET)  # once only
    assert not _retry_divergent(lim(0, True), 0.95)


def test_divergent_chains_are_run_again_with_a_smaller_step(energy_run):
    """Chains that diverge are run again with a smaller step.

    At a target acceptance of 0.45 the step is too large and the chains diverge. The run is
    made again at DIVERGENCE_RETRY_TARGET; the first run's draws are dropped, but its
    gradients are counted.
    """
    from bayes_vip.bayes.sampling import DIVERGENCE_RETRY_TARGET, sample_posterior

    d = _data(energy_run)
    res = sample_posterior(
        d,
        chains=2,
        warmup=100,
        samples=100,
        target_accept=0.45,
        key=jax.random.PRNGKey(4),
        rng=np.random.default_rng(4),
        predictive_draws=0,
    )
    info = res.info
    assert len(info["retries"]) == 1, "0.45 should diverge"
    first = info["retries"][0]
    assert first["target_accept"] == 0.45
    assert any("divergent" in f for f in first["failed"])
    assert info["target_accept"] == DIVERGENCE_RETRY_TARGET
    assert info["gradients"] > first["gradients"]  # both runs' gradients
    assert res.idata.posterior.sizes["draw"] == info["draws_per_chain"] == 100
    assert res.limits["diagnostics"]["divergences"] < 3


def test_extension_asks_for_what_the_failed_gates_need():
    from bayes_vip.bayes.sampling import _extension

    ok = {
        "divergences": 0,
        "ess_bulk_min": 1000.0,
        "ess_tail_min": 1000.0,
        "r_hat_max": 1.001,
        "limit_mcse_rel_max": 0.01,
    }
    assert _extension({"diagnostics": ok}, 1000, 4000, 50) == 200  # 20 % margin
    # MCSE 6 % against 3 %: four times the draws (x 1.2 margin), in whole chunks
    slow = {**ok, "limit_mcse_rel_max": 0.06}
    assert _extension({"diagnostics": slow}, 1000, 10000, 50) == 3800
    assert _extension({"diagnostics": slow}, 1000, 2000, 50) == 1000  # capped
    assert _extension({"diagnostics": slow}, 2000, 2000, 50) == 0  # at the bound
    assert _extension({"diagnostics": {**slow, "divergences": 1}}, 1000, 4000, 50) == 0
    # chains that have not met (R-hat above 2): stop, do not extend for hours
    assert _extension({"diagnostics": {**ok, "r_hat_max": 1.5}}, 1000, 4000, 50) == 3000
    assert _extension({"diagnostics": {**ok, "r_hat_max": 4.5}}, 1000, 4000, 50) == 0
    unknown = {**ok, "limit_mcse_rel_max": float("inf")}  # too few draws to estimate it
    assert _extension({"diagnostics": unknown}, 20, 4000, 50) == 3980


def test_limits_under_the_flat_counts_prior(energy_run):
    """With --prior flat-counts, beta^2/2 is the deterministic site.

    Its ESS, limits and the Bayes factor's variable follow (this once raised a TypeError after
    a whole NUTS run).
    """
    import arviz as az

    from bayes_vip.bayes.sampling import limits

    d = _data(energy_run)
    rng = np.random.default_rng(0)
    n = rng.uniform(0.0, 50.0, (2, 300))
    idata = az.from_dict(
        posterior={"N_X": n, "beta2half_1e29": n / 3.0, "fano": rng.normal(0.15, 0.01, n.shape)},
        sample_stats={"diverging": np.zeros(n.shape, bool)},
    )
    lim = limits(idata, d, "flat-counts", 50.0)
    assert lim["diagnostics"]["ess_bulk_beta2half"] > 300
    assert lim["upper_limits"]["N_X"]["0.95"]["value"] == pytest.approx(np.quantile(n, 0.95))
    assert lim["upper_limits"]["beta2half"]["0.95"]["value"] == pytest.approx(
        np.quantile(n / 3.0, 0.95) * 1e-29
    )
    assert lim["bayes_factor"]["variable"] == "N_X"


_SHARD = """
import json, sys
import jax
import numpy as np
jax.config.update("jax_enable_x64", True)
sys.path.insert(0, sys.argv[2])
from tests.bayes.test_model import _data
from bayes_vip.bayes.sampling import Posterior, cell_sharding
from pathlib import Path
assert jax.local_device_count() == 4
d = _data(Path(sys.argv[1]))
cells = cell_sharding(d.n_cell, chains=1)
assert cells is not None and len(cells.device_set) == 4
plain = Posterior(d, "flat-beta", 50.0)
sharded = Posterior(d, "flat-beta", 50.0, cells=cells)
rng = np.random.default_rng(5)
c = plain.inputs()
out = []
for k in range(4):
    f = plain.flat0 + (0.0 if k == 0 else 0.05) * rng.standard_normal(plain.flat0.shape)
    v0, g0 = plain._vg(f, c)
    v1, g1 = sharded._vg(f, c)
    out.append([float(v0), float(v1), np.asarray(g0).tolist(), np.asarray(g1).tolist()])
print(json.dumps(out))
"""


def test_cells_sharded_over_four_devices_give_the_same_log_density(energy_run):
    """With more devices than chains the cell axis is sharded (``jax.sharding``).

    The log density and its gradient agree with the unsharded ones to 1e-10, at the classic
    start and at three points around it (4 host devices, one cell each).
    """
    for v0, v1, g0, g1 in _with_host_devices(4, _SHARD, energy_run):
        assert v1 == pytest.approx(v0, rel=1e-10)
        np.testing.assert_allclose(g1, g0, rtol=1e-10, atol=1e-10 * np.max(np.abs(g0)))


def test_centroid_offsets_are_the_same_model(energy_run):
    """Sampling the SDD offsets of the line centroids leaves the log density unchanged."""
    from tests.bayes._density import check_centroid_offsets_keep_the_density

    check_centroid_offsets_keep_the_density(_data(energy_run))


@pytest.mark.parametrize(("prior", "upper"), [("flat-counts", 600.0), ("flat-beta", 40.0)])
def test_a_draws_signal_conditional_is_the_models_density_along_the_signal(
    energy_run, prior, upper
):
    """The Rao-Blackwellised limits rest on the split of the expected counts.

    Holding every other latent of one draw fixed, the model's own potential along the signal
    site, integrated on a fine grid, gives the conditional's quantiles (under flat-beta the
    site is beta^2/2, and the conditional's counts per unit converts).
    """
    from jax.flatten_util import ravel_pytree
    from numpyro.distributions.transforms import biject_to

    from bayes_vip.bayes.model import signal_prior
    from bayes_vip.bayes.sampling import Posterior

    post = Posterior(_data(energy_run), prior, upper)
    lap = post.laplace()
    rng = np.random.default_rng(2)
    flat = lap["flat_map"] + 0.7 * lap["sqrt_cov"] @ rng.standard_normal(lap["flat_map"].size)
    cond = post.conditionals(flat[None])
    site = "N_X" if prior == "flat-counts" else "beta2half_1e29"
    z = post.unravel(jnp.asarray(flat))
    index = int(np.argmax(ravel_pytree({k: jnp.full_like(v, k == site) for k, v in z.items()})[0]))
    v = np.linspace(0.0, upper, 20001)[1:-1]
    zs = np.repeat(flat[None], v.size, axis=0)
    to_v = biject_to(signal_prior(post.data, prior, upper).support)  # the site's own map
    zs[:, index] = np.asarray(to_v.inv(jnp.asarray(v)))
    pot = np.asarray(jax.vmap(post._flat_pot, in_axes=(0, None))(jnp.asarray(zs), post.inputs()))
    # the potential holds log |dv/dz|: take it out
    logp = -pot - np.asarray(to_v.log_abs_det_jacobian(jnp.asarray(zs[:, index]), jnp.asarray(v)))
    dens = np.exp(logp - logp.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]))])
    cdf /= cdf[-1]
    for q in (0.5, 0.95, 0.997):
        brute = float(np.interp(q, cdf, v))
        assert cond.quantile(q, beta=prior == "flat-beta") == pytest.approx(brute, rel=2e-3)
    # the sampler's Gibbs step of the signal (sampling.GIBBS_SIGNAL) draws from the same
    # density, and moves the signal's coordinate only
    from scipy.stats import kstest

    at, refresh = post.signal_gibbs()
    assert at == index

    def chain(f0, keys, inputs):
        def one(f, key):
            f = refresh(f, key, inputs)[0]
            return f, f[index]

        return jax.lax.scan(one, f0, keys)

    keys = jax.random.split(jax.random.PRNGKey(4), 1500)
    f, ys = jax.jit(chain)(jnp.asarray(flat), keys, post.inputs())
    drawn = np.asarray(to_v(ys))
    rest = np.delete(np.asarray(f), index)
    np.testing.assert_array_equal(rest, np.delete(flat, index))
    assert kstest(drawn, lambda x: np.interp(x, v, cdf)).pvalue > 1e-3


def test_centroid_slopes_and_the_carried_laplace(energy_run):
    """The offsets' slopes on the tail's centroid shift, and the Laplace carried over.

    Carried through the shear, the peak-offset posterior's mode and covariance are those a
    fresh mode search finds in the centroid coordinates (the same model).
    """
    from bayes_vip.bayes.sampling import Posterior

    d = _data(energy_run)
    plain = Posterior(d, "flat-beta", 50.0)
    lap0 = plain.laplace()
    slopes = plain.centroid_slopes(lap0)
    assert slopes.shape == (d.n_sdd,)
    assert np.all(np.isfinite(slopes))
    shifted = Posterior(d, "flat-beta", 50.0, centroid_offsets=slopes + 0.5)
    carried = shifted.carried_laplace(plain, lap0)
    fresh = shifted.laplace(start=carried["flat_map"])
    np.testing.assert_allclose(carried["flat_map"], fresh["flat_map"], atol=1e-6)
    # the fresh Hessian is a finite difference (step 1e-5): its own error is about 1e-5, and
    # the covariance's relative error is that times the variance, up to 2.5e-3 in the
    # loosest direction (variance about 250 on the demo)
    big = np.abs(fresh["cov"]).max()
    rtol = max(1e-4, 1e-5 * big)
    np.testing.assert_allclose(carried["cov"], fresh["cov"], rtol=rtol, atol=1e-6 * big)
    # the offsets' entries did move (a shear by 0.5 + slope of the tail's shift)
    assert np.max(np.abs(carried["flat_map"] - lap0["flat_map"])) > 1e-3


def test_the_mode_is_found_where_l_bfgs_b_stalls(energy_run):
    """From a start 10 sd away, L-BFGS-B stalls at the edge of the model's domain.

    (The potential is infinite beyond it; as on vip2-2016 at ADC level, from the classic
    start.) Newton steps do not converge from there; BFGS from the stalled point does, and
    the Laplace step then finds the same mode as from the classic start, and says how.
    """
    from bayes_vip.bayes.sampling import Posterior

    post = Posterior(_data(energy_run), "flat-beta", 50.0)
    lap0 = post.laplace()
    assert lap0["optimiser"] == "L-BFGS-B"
    assert lap0["newton_converged"]
    rng = np.random.default_rng(0)
    far = lap0["flat_map"] + 10.0 * lap0["sqrt_cov"] @ rng.standard_normal(lap0["flat_map"].size)
    lap = post.laplace(start=far)
    assert lap["optimiser"] == "L-BFGS-B, then BFGS"
    assert lap["newton_converged"]
    assert lap["potential_at_map"] == pytest.approx(lap0["potential_at_map"], abs=1e-5)
    sd = np.sqrt(np.diag(lap0["cov"]))
    assert np.max(np.abs(lap["flat_map"] - lap0["flat_map"]) / sd) < 0.01


@pytest.mark.parametrize("scale", [0.05, 1.0, 30.0])
def test_the_signals_softplus_map(scale):
    """``SoftplusInterval`` maps the real line onto (0, upper).

    With its own inverse and Jacobian; linear above its bend and exponential below it.
    """
    from numpyro.distributions.transforms import biject_to

    from bayes_vip.bayes.model import SignalPrior, SoftplusInterval

    upper = 40.0
    t = biject_to(SignalPrior(upper, scale).support)
    assert isinstance(t, SoftplusInterval)
    y = jnp.linspace(-40.0 * scale, 3.0 * upper, 401)
    b = t(y)
    assert np.all(np.asarray(b) > 0.0)
    assert np.all(np.asarray(b) < upper)
    assert np.all(np.diff(np.asarray(b)) > 0.0)
    np.testing.assert_allclose(np.asarray(t.inv(b)), np.asarray(y), rtol=1e-9, atol=1e-9 * scale)
    slope = jax.vmap(jax.grad(lambda x: t(x)))(y)
    np.testing.assert_allclose(
        np.asarray(t.log_abs_det_jacobian(y, b)), np.log(np.asarray(slope)), atol=1e-10
    )

    # before the squeeze into (0, upper), t = -upper log(1 - b / upper) is c softplus(y / c):
    # linear above the bend, exponential below it
    def soft(x):
        return -upper * np.log1p(-float(t(jnp.asarray(x))) / upper)

    assert soft(10.0 * scale) == pytest.approx(10.0 * scale, rel=1e-4)
    assert soft(-10.0 * scale) == pytest.approx(scale * np.exp(-10.0), rel=1e-3)


def test_the_signals_coordinate_does_not_change_the_model(energy_run, monkeypatch):
    """Sampled through the softplus map or numpyro's logit map, the signal has one density.

    At the same constrained point, the two potentials on the unconstrained spaces differ by
    exactly the two maps' log Jacobians.
    """
    from jax.flatten_util import ravel_pytree
    from numpyro.distributions.transforms import biject_to

    import bayes_vip.bayes.model as model
    from bayes_vip.bayes.sampling import Posterior

    d = _data(energy_run)
    upper = 40.0
    pots = {}
    for soft in (True, False):
        monkeypatch.setattr(model, "SIGNAL_SOFTPLUS", soft)
        post = Posterior(d, "flat-beta", upper)
        z = post.unravel(jnp.asarray(post.flat0))
        to_b = biject_to(model.signal_prior(d, "flat-beta", upper).support)
        assert isinstance(to_b, model.SoftplusInterval) == soft
        out = []
        for b in (1e-4, 0.3, 2.0, 15.0):
            y = to_b.inv(jnp.asarray(b))
            z["beta2half_1e29"] = y
            flat = ravel_pytree(z)[0]
            pot = float(post._pot(flat, post.inputs()))
            out.append(pot + float(to_b.log_abs_det_jacobian(y, jnp.asarray(b))))
        pots[soft] = np.array(out)
    np.testing.assert_allclose(pots[True], pots[False], rtol=1e-12, atol=1e-8)
    assert np.ptp(pots[True]) > 1.0  # the density does depend on the signal: the check can fail


def test_runs_of_one_layout_share_the_compiled_log_density(energy_run):
    """The run's numbers are arguments of the compiled program, not constants in it.

    Two posteriors of the same layout whose numbers all differ (edges, live times, prior
    centres, the bound, the centroid slopes) lower to the same program, and its value and
    gradient with the other run's numbers are that run's own posterior's. The second is
    built in another thread, so that it compiles its own programs instead of sharing the
    first's (``test_posteriors_of_one_layout_share_their_programs_in_a_thread``).
    """
    import threading
    from dataclasses import replace

    from numpyro.infer.util import potential_energy

    from bayes_vip.bayes.sampling import Posterior

    d1 = _data(energy_run)
    prior = {
        **d1.prior,
        "fano": d1.prior["fano"] * 1.05,
        "noise_p": np.asarray(d1.prior["noise_p"]) * 1.1,
        "tail_beta": d1.prior["tail_beta"] * 0.9,
        "rate": np.asarray(d1.prior["rate"]) * 1.2,
        "slope_sd": d1.prior["slope_sd"] * 2.0,
    }
    d2 = replace(d1, edges=d1.edges + 1.5, live_s=d1.live_s * 0.8, prior=prior)
    p1 = Posterior(d1, "flat-beta", 50.0, centroid_offsets=np.full(d1.n_sdd, 0.9))
    built = []
    t = threading.Thread(
        target=lambda: built.append(
            Posterior(d2, "flat-beta", 60.0, centroid_offsets=np.full(d1.n_sdd, 0.5))
        )
    )
    t.start()
    t.join()
    (p2,) = built
    assert p2._vg is not p1._vg  # its own programs, compiled from d2
    in1, in2 = p1.inputs(), p2.inputs(d1.counts + 1.0)
    changed = [k for k in in1 if not np.array_equal(np.asarray(in1[k]), np.asarray(in2[k]))]
    assert {"edges", "live_s", "upper", "alpha", "prior_fano", "counts"} <= set(changed)
    f = p1.flat0

    def text(p, inputs):
        return p._vg.lower(f, inputs).as_text(debug_info=False)

    assert text(p1, in1) == text(p2, in2)
    # p1's compiled program with p2's numbers is p2's posterior, and not p1's
    v12, g12 = p1._vg(f, in2)
    v2, g2 = p2._vg(f, in2)
    v1, _ = p1._vg(f, in1)
    np.testing.assert_allclose(float(v12), float(v2), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(g12), np.asarray(g2), rtol=1e-10, atol=1e-9)
    assert abs(float(v12) - float(v1)) > 1.0
    # and the numbers as inputs give the density of the model with d2's numbers as constants
    v_const = potential_energy(p2.model, (), {"counts": d1.counts + 1.0}, p2.unravel(f))
    np.testing.assert_allclose(float(v12), float(v_const), rtol=1e-12)


def test_posteriors_of_one_layout_share_their_programs_in_a_thread(energy_run, monkeypatch):
    """A second toy of a layout reuses the first's jitted functions and chains' kernels."""
    import threading

    from bayes_vip.bayes import model
    from bayes_vip.bayes.sampling import Posterior

    d = _data(energy_run)
    a = Posterior(d, "flat-beta", 50.0, centroid_offsets=np.full(d.n_sdd, 0.9))
    b = Posterior(d, "flat-beta", 70.0, centroid_offsets=np.full(d.n_sdd, 0.2))
    assert b._vg is a._vg
    assert b.samplers is a.samplers
    # another layout of sites, or other module constants of the model: other programs
    peak = Posterior(d, "flat-beta", 50.0, centroid_offsets=False)
    assert peak._vg is not a._vg
    monkeypatch.setattr(model, "SHELF_PRIOR_SD", 0.03)
    assert Posterior(d, "flat-beta", 50.0, centroid_offsets=np.full(d.n_sdd, 0.9))._vg is not a._vg
    monkeypatch.undo()
    # another thread has its own (the chains' samplers hold state)
    got = []
    same = {"centroid_offsets": np.full(d.n_sdd, 0.9)}
    t = threading.Thread(target=lambda: got.append(Posterior(d, "flat-beta", 50.0, **same)._vg))
    t.start()
    t.join()
    assert got
    assert got[0] is not a._vg
    # the samplers of a posterior built here are that thread's own there
    theirs = []
    t = threading.Thread(target=lambda: theirs.append(a.samplers))
    t.start()
    t.join()
    assert theirs
    assert theirs[0] is not a.samplers
    assert a.samplers is b.samplers


def test_sample_without_figures_fits_the_classic_step_without_figures(
    energy_run, tmp_path, monkeypatch
):
    """``sample(..., figures=False)`` on a run with no classic fit asks for none of its figures.

    A later analysis that wants them fits again.
    """
    import shutil

    from bayes_vip.io.config import load_config
    from bayes_vip.pipeline import fit as fit_mod
    from bayes_vip.pipeline.sample import bayes_data

    run = tmp_path / "run"
    shutil.copytree(energy_run, run)
    shutil.rmtree(run / "results")
    asked = []
    real = fit_mod.fit

    def spy(*args, **kw):
        asked.append(kw.get("figures", True))
        return real(*args, **kw)

    monkeypatch.setattr(fit_mod, "fit", spy)
    bayes_data(run, load_config(run), figures=False)
    assert asked == [False]
    assert not list((run / "results").glob("*.png"))
    # a later run that wants the figures fits again, once, and draws them
    bayes_data(run, load_config(run))
    bayes_data(run, load_config(run))
    assert asked == [False, True]
    assert list((run / "results").glob("*.png"))


def test_an_inputs_dict_keeps_the_posteriors_bound_and_slopes(energy_run):
    from bayes_vip.bayes.sampling import Posterior

    d = _data(energy_run)
    post = Posterior(d, "flat-beta", 40.0, centroid_offsets=np.full(d.n_sdd, 0.7))
    foreign = {**post.inputs(), "upper": np.asarray(99.0), "alpha": np.zeros(d.n_sdd)}
    got = post.inputs(foreign)
    assert float(got["upper"]) == 40.0
    np.testing.assert_array_equal(np.asarray(got["alpha"]), np.full(d.n_sdd, 0.7))
    assert got["counts"] is foreign["counts"]


def _killed_and_resumed(energy_run, ref, capsys):
    """The end-to-end run again, killed once it has saved some draws, then resumed."""
    import arviz as az

    from bayes_vip.bayes.checkpoint import read_meta
    from bayes_vip.io.atomic import sha256

    opts = END_TO_END
    results = energy_run / "results"
    ckpt = results / "sample-checkpoint.npz"
    idata = az.from_netcdf(results / "posterior.nc")
    ref_draws = {k: v.values.copy() for k, v in idata.posterior.data_vars.items()}
    assert read_meta(ckpt)["finished"]
    assert ref["result_set"]["posterior_sha256"] == sha256(results / "posterior.nc")

    # the same run in another process, killed once it has saved some of its draws; one
    # device there, as here, so that its chains run one after the other as here
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    cmd = [sys.executable, "-m", "bayes_vip.cli", "sample", str(energy_run), *opts]
    seen = ckpt.stat().st_mtime_ns
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while True:
            assert proc.poll() is None, f"ended before it was killed: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no checkpoint with draws within 300 s"
            if ckpt.stat().st_mtime_ns != seen:
                seen = ckpt.stat().st_mtime_ns
                meta = read_meta(ckpt)
                if meta["stage"] == "draws" and 0 < meta["draws"] < 150:
                    break
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    # the previous result set is whole: its posterior is the one its limits name
    done = json.loads((results / "limits.json").read_text())
    assert done["result_set"]["posterior_sha256"] == sha256(results / "posterior.nc")

    assert main(["sample", str(energy_run), "--resume", "--json"]) in (0, 3)
    res = json.loads(capsys.readouterr().out)
    assert res["sampler"]["resumed"]["draws"] == meta["draws"]
    idata = az.from_netcdf(results / "posterior.nc")
    assert set(idata.posterior.data_vars) == set(ref_draws)
    for k, v in ref_draws.items():
        np.testing.assert_array_equal(idata.posterior[k].values, v, err_msg=k)
    assert res["upper_limits"] == ref["upper_limits"]
    assert res["diagnostics"] == ref["diagnostics"]
    assert res["result_set"]["posterior_sha256"] == sha256(results / "posterior.nc")
    assert not [p.name for p in results.iterdir() if p.name.endswith(".tmp")]
    # a finished run is not resumed but extended: its draws stay, 50 more per chain follow
    assert main(["sample", str(energy_run), "--resume"]) == 2
    assert "--extend" in capsys.readouterr().err
    assert main(["sample", str(energy_run), "--extend", "50", "--json"]) in (0, 3)
    more = json.loads(capsys.readouterr().out)
    assert more["sampler"]["draws_per_chain"] == 200
    assert more["sampler"]["resumed"]["extended_by"] == 50
    idata = az.from_netcdf(results / "posterior.nc")
    for k, v in ref_draws.items():
        np.testing.assert_array_equal(idata.posterior[k].values[:, :150], v, err_msg=k)
