"""Several runs in one analysis (issue 17, part 2): one beta^2/2, per-run nuisances.

The combined model's likelihood is the product of the runs' own likelihoods, and with the
shared parameters fixed its posterior factorises into the runs' own; the efficiencies'
prior has the covariance the manifests ask for; the classic fits combine into one profile
likelihood; bad combinations stop at the boundary; and `sample RUN1 RUN2` runs end to end.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from bayes_vip.cli import main


def _simulated(root: Path, name: str, seed: int, signal: float) -> Path:
    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign

    run = root / name
    sim = simulate_campaign(preset("demo"), rng=np.random.default_rng(seed), signal_counts=signal)
    write_energy_campaign(sim, run, rng=np.random.default_rng(seed))
    toml = run / "run.toml"
    # named after its folder; an efficiency that shares 6 % of its 10 % with the other run's
    text = toml.read_text()
    assert "rel_uncertainty = 0.1\n" in text
    extra = 'group = "mc"\nshared_rel = 0.06\n'
    toml.write_text(text.replace("rel_uncertainty = 0.1\n", "rel_uncertainty = 0.1\n" + extra, 1))
    return run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two small simulated runs (demo layout, 2 SDDs each), each fitted classically."""
    root = tmp_path_factory.mktemp("combine")
    runs = [_simulated(root, "run-a", 41, 60.0), _simulated(root, "run-b", 42, 0.0)]
    for r in runs:
        assert main(["fit", str(r), "--json"]) == 0
    return runs


@pytest.fixture(scope="module")
def combined(two_runs):
    from bayes_vip.bayes.combine import RunEstimate, combine_data, combined_estimate
    from bayes_vip.io.config import load_config
    from bayes_vip.io.manifest import load_manifest
    from bayes_vip.pipeline.sample import bayes_data

    cfg = load_config(two_runs[0])
    datas, classics = zip(*(bayes_data(r, cfg, figures=False) for r in two_runs), strict=True)
    mans = [load_manifest(r) for r in two_runs]
    est = combined_estimate(
        [RunEstimate.of(c, d.counts_per_beta2half) for c, d in zip(classics, datas, strict=True)]
    )
    comb = combine_data(list(datas), [m.name for m in mans], [m.efficiency for m in mans], est)
    return list(datas), comb


def _trace(data, values):
    from numpyro import handlers

    from bayes_vip.bayes.model import vip_model

    sub = handlers.substitute(vip_model, data={k: jnp.asarray(v) for k, v in values.items()})
    return handlers.trace(sub).get_trace(data, "flat-beta", 50.0)


def _loglik(tr) -> float:
    site = tr["obs"]
    return float(site["fn"].log_prob(site["value"]).sum())


def _logjoint(tr) -> float:
    return float(
        sum(s["fn"].log_prob(s["value"]).sum() for s in tr.values() if s["type"] == "sample")
    )


def _random_point(comb, rng, *, shared=None):
    from bayes_vip.bayes.data import init_values

    v = {
        k: np.asarray(x, float) + 0.05 * rng.standard_normal(np.shape(x))
        for k, x in init_values(comb, "flat-beta").items()
    }
    v["tail_frac"] = np.clip(v["tail_frac"], 0.01, 0.4)
    v["shelf_frac"] = np.clip(v["shelf_frac"], 0.01, 0.25)
    v.update(shared or {})
    return v


def test_the_combined_likelihood_is_the_product_of_the_runs_likelihoods(combined):
    """At any point, the combined model's log likelihood is the sum of the runs' own.

    Each run's own model (its ``BayesData``) is evaluated at its slice of the point
    (``bayes.combine.split_values``), with beta^2/2 and the Fano factor shared.
    """
    from bayes_vip.bayes.combine import split_values

    datas, comb = combined
    rng = np.random.default_rng(0)
    for b in (0.0, 1.0, 4.0):
        v = _random_point(comb, rng, shared={"beta2half_1e29": np.asarray(b)})
        v["eff_z"] = rng.standard_normal(2)
        v["eff_g"] = rng.standard_normal(1)
        total = _loglik(_trace(comb, v))
        parts = [_loglik(_trace(d, split_values(comb, v, r, d))) for r, d in enumerate(datas)]
        assert total == pytest.approx(sum(parts), abs=1e-8)
        assert np.isfinite(total)
        assert total < 0


def _one_sdd_fewer_bins(d, keep_sdd: int = 1, drop_bins: int = 7):
    """A run's data with one SDD only and fewer bins: another layout for the same model."""
    import dataclasses

    cells = d.sdd == keep_sdd
    init, prior = dict(d.init), dict(d.prior)
    for store in (init, prior):
        store["rate"] = np.asarray(store["rate"])[:, [keep_sdd]]
        store["level"] = np.asarray(store["level"])[:, [keep_sdd]]
    n = d.counts.shape[1] - drop_bins
    return dataclasses.replace(
        d,
        edges=d.edges[cells, : n + 1],
        counts=d.counts[cells, :n],
        mask=d.mask[cells, :n],
        live_s=d.live_s[cells],
        period=d.period[cells],
        sdd=np.zeros(int(cells.sum()), int),
        batch=d.batch[cells],
        sdd_ids=[d.sdd_ids[keep_sdd]],
        init=init,
        prior=prior,
    )


def test_runs_of_different_layouts_combine_cell_by_cell(combined):
    """Runs with different SDD and bin counts: the product of likelihoods still holds.

    The second run keeps one SDD of two and 7 bins fewer, so the periods, SDDs, pairs and
    cells of the two runs are offset differently and the shorter run's bins are padded.
    """
    from bayes_vip.bayes.combine import RunEstimate, combine_data, split_values
    from bayes_vip.io.manifest import Efficiency

    datas, _ = combined
    small = _one_sdd_fewer_bins(datas[1])
    runs = [small, datas[0]]  # the smaller run first: its offsets are the ones reused
    effs = [Efficiency(0.0182, 0.1), Efficiency(0.0182, 0.1)]
    comb = combine_data(runs, ["small", "full"], effs, RunEstimate(1.0, 1.0))
    assert comb.n_sdd == 3
    assert comb.counts.shape[1] == datas[0].counts.shape[1]
    assert not comb.mask[: small.n_cell, -7:].any()  # the padding is outside the likelihood
    assert np.all(np.diff(comb.edges, axis=1) > 0)
    rng = np.random.default_rng(5)
    for b in (0.5, 3.0):
        v = _random_point(comb, rng, shared={"beta2half_1e29": np.asarray(b)})
        total = _loglik(_trace(comb, v))
        parts = [_loglik(_trace(d, split_values(comb, v, r, d))) for r, d in enumerate(runs)]
        assert total == pytest.approx(sum(parts), abs=1e-8)


def test_the_joint_classic_minimum_is_found_where_the_gaussian_guess_misses():
    """`CombinedProfile.best` finds the minimum of skewed profiles, checked on a grid."""
    from bayes_vip.analysis.combine import CombinedProfile

    class Skewed:  # S(mu) = (mu - c)^2 / s^2 above c, 30 times steeper below
        def __init__(self, c, s):
            self.c, self.scale, self.observed = c, s, None

        def deviance(self, mu, data):
            z = (mu - self.c) / self.scale
            return z * z * (1.0 if z > 0 else 30.0)

        def best(self, data):
            return self.c, 0.0

    prof = CombinedProfile([Skewed(0.0, 1.0), Skewed(8.0, 1.0)], [1.0, 1.0])
    b, s_min = prof.best((None, None))
    grid = np.linspace(-5, 15, 200001)
    dev = [prof.deviance(x, (None, None)) for x in grid[::100]]
    fine = grid[::100][int(np.argmin(dev))]
    assert b == pytest.approx(fine, abs=0.02)
    assert s_min <= min(dev) + 1e-9
    assert abs(b - 4.0) > 1.0  # the Gaussian guess (the mean, 4) is not the minimum


def test_with_the_shared_parameters_fixed_the_posterior_factorises(combined):
    """Log p(all | shared) - sum_r log p_r(run r | shared) does not depend on the runs' own.

    With beta^2/2, the Fano factor and the efficiencies fixed, the combined posterior of
    the nuisances is the product of the single-run analyses' posteriors: the difference of
    the log densities is a constant (the shared sites' prior terms) at random points.
    """
    from bayes_vip.bayes.combine import split_values

    datas, comb = combined
    rng = np.random.default_rng(1)
    shared = {
        "beta2half_1e29": np.asarray(2.0),
        "fano": np.asarray(0.12),
        "eff_z": np.array([0.3, -0.7]),
        "eff_g": np.array([0.5]),
    }
    diffs = []
    for _ in range(4):
        v = _random_point(comb, rng, shared=shared)
        whole = _logjoint(_trace(comb, v))
        parts = 0.0
        for r, d in enumerate(datas):
            tr = _trace(d, split_values(comb, v, r, d))
            # the run's own model samples its efficiency (shared here): leave its prior out
            parts += _logjoint(tr) - float(
                tr["efficiency"]["fn"].log_prob(tr["efficiency"]["value"])
            )
        diffs.append(whole - parts)
    assert np.ptp(diffs) < 1e-8, diffs


def test_the_efficiencies_prior_has_the_manifests_covariance(combined):
    """Runs of one efficiency group: log efficiencies with covariance shared_1 x shared_2."""
    from numpyro.infer import Predictive

    from bayes_vip.bayes.combine import efficiency_covariance
    from bayes_vip.bayes.model import vip_model

    _, comb = combined
    want = efficiency_covariance(comb.runs)
    assert want[0, 1] == pytest.approx(0.06**2)
    assert want[0, 0] == pytest.approx(0.1**2)
    import jax

    draws = Predictive(vip_model, num_samples=4000, return_sites=["efficiency"])(
        jax.random.PRNGKey(3), comb, "flat-beta", 50.0, observe=False
    )["efficiency"]
    log_eff = np.log(np.asarray(draws))
    got = np.cov(log_eff.T)
    # sd of a sample covariance of 4000 draws: about sqrt(2/4000) of the variance scale
    assert np.allclose(got, want, atol=4 * np.sqrt(2 / 4000) * 0.01)
    assert np.allclose(
        log_eff.mean(0), np.log(comb.runs["efficiency"]), atol=4 * 0.1 / np.sqrt(4000)
    )


def _check_classic_combination(out: Path) -> None:
    """The runs' classic fits combined (`fit RUN1 RUN2`, which `sample RUN1 RUN2` runs first).

    One beta^2/2, narrower than either run's, near their Gaussian mean.
    """
    rec = json.loads((out / "results" / "classic.json").read_text())
    assert rec["combined"]
    assert [r["run"] for r in rec["runs"]] == ["run-a", "run-b"]
    sig = [r["sigma_N_X"] / r["counts_per_1e-29"] * 1e-29 for r in rec["runs"]]
    hats = [r["beta2half_hat"] for r in rec["runs"]]
    w = 1.0 / np.square(sig)
    gauss = float(np.sum(w * hats) / np.sum(w))
    assert rec["sigma_beta2half"] < min(sig)
    assert rec["sigma_beta2half"] == pytest.approx(1.0 / np.sqrt(np.sum(w)), rel=1e-9)
    # the joint minimum of the profiles lies near the Gaussian combination of the runs'
    assert abs(rec["beta2half_hat"] - gauss) < 0.2 * rec["sigma_beta2half"]
    ul = rec["conversion"]["beta2half_upper_limits"]
    assert ul["profile 0.95"] > max(rec["beta2half_hat"], 0.0)
    assert (out / "combination.toml").is_file()
    assert (out / "results" / "combined_profile.png").is_file()


def _bad(argv, capsys, *words):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err


def test_bad_combinations_stop_before_any_work(two_runs, tmp_path, capsys):
    """A run given twice, --out with one run, a counts prior, mixed levels, a bad group."""
    a, b = map(str, two_runs)
    out = tmp_path / "never"
    _bad(["sample", a, a, "--out", str(out)], capsys, "given twice")
    _bad(["fit", a, "--out", str(out)], capsys, "--out")
    _bad(["sample", a, b, "--prior", "flat-counts", "--out", str(out)], capsys, "--prior")
    _bad(["fit", a, b, "--scan", "--out", str(out)], capsys, "--scan")
    _bad(["fit", a, b, "--sdd", "1", "--out", str(out)], capsys, "--sdd")
    bad = tmp_path / "bad-group"
    shutil.copytree(a, bad, ignore=shutil.ignore_patterns("results"))
    toml = bad / "run.toml"
    toml.write_text(toml.read_text().replace("shared_rel = 0.06", "shared_rel = 0.2"))
    _bad(["fit", a, str(bad), "--out", str(out)], capsys, "efficiency.shared_rel")
    _bad(["sample", a, b, "--out", str(out), "--resume"], capsys, "sample-checkpoint.npz")
    other = tmp_path / "other-bins"
    shutil.copytree(b, other, ignore=shutil.ignore_patterns("results"))
    toml = other / "run.toml"
    toml.write_text(toml.read_text() + "\n[analysis.sample]\nbin_eV = 20.0\n")
    _bad(["sample", a, str(other), "--out", str(out)], capsys, "analysis.sample.bin_eV", "alike")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "combination.toml").write_text("[combination\nruns = ")
    _bad(["report", str(damaged)], capsys, "combination.toml")
    # the combination's folder is neither a run's folder nor another combination's
    _bad(["fit", a, b, "--out", a], capsys, "--out", "run.toml")
    _bad(["fit", a, b, "--out", str(damaged)], capsys, "combination.toml")
    assert not out.exists()


def test_sample_runs_end_to_end_with_each_runs_limits_and_the_report(two_runs, tmp_path, capsys):
    """`sample RUN1 RUN2`: the classic fits combined, each run alone, then together.

    Then `--extend` on the combination's checkpoint, and `report` of its folder.

    Short chains (the gates may fail: exit 3 still writes the results). The combined record
    carries each run's own limits as its own `limits.json` has them.
    """
    a, b = map(str, two_runs)
    out = tmp_path / "both"
    short = ["--chains", "2", "--warmup", "100", "--samples", "100", "--max-draws", "100"]
    rc = main(["sample", a, b, "--out", str(out), *short, "--json"])
    assert rc in (0, 3)
    _check_classic_combination(out)  # sample fitted the runs together first
    lim = json.loads((out / "results" / "limits.json").read_text())
    assert lim["combined"]
    assert lim["run"] == "run-a+run-b"
    for row, run in zip(lim["runs"], two_runs, strict=True):
        own = json.loads((run / "results" / "limits.json").read_text())
        got = row["beta2half_upper_limits"]["0.95"]["value"]
        assert got == own["upper_limits"]["beta2half"]["0.95"]["value"]
    assert lim["model"]["cells"] == 8
    assert lim["model"]["efficiency"][0] == [0.0182, 0.0182]
    import arviz as az

    post = az.from_netcdf(out / "results" / "posterior.nc").posterior
    assert post["efficiency"].shape[-1] == 2
    assert post["tail_frac"].shape[-1] == 2
    assert post["fano"].ndim == 2  # one Fano factor: (chain, draw)
    capsys.readouterr()
    # the combination's checkpoint: 50 more draws per chain
    rc = main(["sample", a, b, "--out", str(out), "--extend", "50", "--json"])
    assert rc in (0, 3)
    more = az.from_netcdf(out / "results" / "posterior.nc").posterior
    assert more.sizes["draw"] == post.sizes["draw"] + 50
    # the same draws (constrained again in other batches: to the last bit or so)
    np.testing.assert_allclose(
        more["beta2half_1e29"].values[:, : post.sizes["draw"]],
        post["beta2half_1e29"].values,
        rtol=1e-13,
    )
    assert main(["report", str(out), "--json"]) == 0
    html = (out / "results" / "report.html").read_text()
    assert 'id="runs-table"' in html
    assert "run-a" in html
    assert "run-b" in html
    assert 'id="ul95-combined"' in html
