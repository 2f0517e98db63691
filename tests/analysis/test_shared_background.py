"""One background for both currents.

The classic fit's tie, the model's drifting background, and the study that compares layouts
of the current in time.
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from bayes_vip.analysis.classic import Freedoms, fit_step1, fit_step2
from bayes_vip.analysis.conventions import ROI_GROUPS
from bayes_vip.analysis.spectral import JointModel
from bayes_vip.io.config import load_config, with_values
from bayes_vip.io.manifest import load_manifest
from bayes_vip.physics.lines import line_group
from bayes_vip.physics.spectrum import SpectrumModel
from bayes_vip.pipeline.inputs import fit_inputs
from bayes_vip.pipeline.simulate import SimulationRequest, simulate
from bayes_vip.studies.engine import Toy
from bayes_vip.studies.modulation import (
    modulation_spec,
    modulation_toy,
    modulation_toys,
    summarise,
)


@pytest.fixture(scope="module")
def switched(tmp_path_factory):
    """The demo's layout switched every hour, its background rising by 30 % over the run."""
    run = tmp_path_factory.mktemp("sw") / "sw"
    req = SimulationRequest.validated(
        "demo", seed=4, level="energy", cycle_s=3600.0, background_drift=0.3, signal_counts=60
    )
    simulate(req, run)
    return run


def test_the_tied_background_is_the_current_on_one_scaled_by_live_time():
    groups = tuple(line_group(g) for g in ROI_GROUPS)
    m = SpectrumModel(groups=groups, e_min=500.0, e_max=20000.0)
    keys = tuple(g.key for g in groups)
    jm = JointModel(m, shared=("fano", "noise", "tail_frac", "tail_beta", "escape_frac",
                               "shelf_frac", "slope", "exp_len", "exp_level"),
                    tied=(*keys, "level"), exposure_ratio=0.8)  # fmt: skip
    assert not any(n.startswith("off.") for n in jm.free_names)
    vals = {"fano": 0.16, "noise": 40.0, "tail_frac": 0.08, "tail_beta": 4.0,
            "escape_frac": 0.0, "shelf_frac": 0.07, "slope": -0.02, "exp_len": 200.0,
            "exp_level": 0.0, "on.level": 3.0}  # fmt: skip
    x = [vals.get(n, 1000.0) for n in jm.free_names]
    edges = jnp.arange(7000.0, 10000.0, 10.0)
    mu = np.asarray(jm.expected(jnp.array(x), edges))
    np.testing.assert_allclose(mu[1], 0.8 * mu[0], rtol=1e-12)
    with pytest.raises(ValueError, match="tied"):
        JointModel(m, shared=("level",), tied=("level",))


def test_the_shared_classic_fit_counts_the_current_off_spectrum(switched):
    man = load_manifest(switched)
    cfg = load_config(switched)
    s1, s2, _ = fit_inputs(man, cfg)
    assert s2.live_s == pytest.approx((10 * 86400.0, 10 * 86400.0))
    step1 = fit_step1(s1)
    out = {}
    for bg in ("separate", "shared"):
        st2 = fit_step2(step1, s2, signal=cfg.signal_line(), freedoms=Freedoms(background=bg))
        out[bg] = st2
    sep, sh = out["separate"].result, out["shared"].result
    # the tie removes the current-off intensities and level from the free parameters...
    n_tied = len(ROI_GROUPS) + 1
    assert len(sep.values) - len(sh.values) == n_tied
    # ...and the current-off counts then fix the current-on background: sigma(N_X) shrinks
    assert sh.errors["N_X"] < sep.errors["N_X"]
    # with the current switched every hour both see the same (drifting) background, and the
    # shared fit agrees with the separate one within its error
    assert abs(sh.values["N_X"] - sep.values["N_X"]) < sep.errors["N_X"]


def test_the_model_shares_the_background_and_recovers_its_drift(switched):
    import os

    from bayes_vip.pipeline.fit import fit
    from bayes_vip.pipeline.sample import sample

    os.environ["BAYES_VIP_REPORT"] = "off"
    cfg = with_values(
        load_config(switched),
        sample={"background": "shared", "drift_days": 5.0, "chains": 2, "warmup": 200,
                "samples": 300, "max_draws": 300},
    )  # fmt: skip
    fit(switched, cfg, figures=False)
    lim = sample(switched, cfg, figures=True)
    assert any(f.endswith("bayes_background_drift.png") for f in lim["figures"])
    assert lim["model"]["background"] == "shared"
    assert lim["model"]["drift_blocks"] == 4
    from bayes_vip.results.report import write_report

    assert "its common factor per drift block" in write_report(switched).read_text()
    import arviz as az

    post = az.from_netcdf(switched / "results" / "posterior.nc").posterior
    assert post["log_rate"].shape[2:] == (2, len(ROI_GROUPS))  # per SDD, not per period
    drift = post["background_drift"].values.reshape(-1, 4)  # four 5-day blocks
    assert drift.shape[1] == 4
    # truth: 1 + 0.3 (t / T - 1/2) averaged over each block: 0.8875 ... 1.1125
    d_first, d_last = drift[:, 0], drift[:, -1]
    diff = d_last - d_first
    assert diff.mean() > 3 * diff.std()
    assert diff.mean() == pytest.approx(0.225, abs=4 * diff.std())
    assert math.isfinite(lim["upper_limits"]["N_X"]["0.95"]["value"])


def test_summaries_of_the_study():
    spec = {**modulation_spec(n_sdd=1, toys=2, layouts=("two-periods", "50s")),
            "reference_sigma_N_X": 10.0}  # fmt: skip
    toys = modulation_toys(spec)
    assert len(toys) == 2 * 2 * 2
    # layouts and signals take turns: the first four toys cover every cell once
    assert {(t.params["layout"], t.params["multiple"]) for t in toys[:4]} == {
        (lay, k) for lay in ("two-periods", "50s") for k in (0.0, 2.0)
    }
    rows = []
    for t in toys:
        inj = t.params["injected"]
        shift = -10.0 if t.params["layout"] == "two-periods" else 0.0  # a biased layout
        rows.append({**t.params, "status": "ok", "separate_N_X": inj + 1.0,
                     "separate_sigma_N_X": 10.0, "separate_ul95": inj + 5.0,
                     "shared_N_X": inj + shift, "shared_sigma_N_X": 9.0,
                     "shared_ul95": inj + shift + 5.0})  # fmt: skip
    s = summarise(rows, spec)
    cell = {(c["layout"], c["background"], c["multiple"]): c for c in s["cells"]}
    c = cell[("two-periods", "shared", 2.0)]
    assert c["bias_N_X"] == -10.0
    assert c["pull_mean"] == pytest.approx(-10 / 9)
    assert c["coverage_ul95"]["k"] == 0
    assert c["coverage_ul95"]["n"] == 2
    assert cell[("50s", "separate", 2.0)]["coverage_ul95"]["fraction"] == 1.0


def test_one_toy_of_the_study(tmp_path):
    spec = {**modulation_spec(base="demo", n_sdd=1, toys=1), "reference_sigma_N_X": 10.0}
    row = modulation_toy(Toy(0, 11, {"layout": "weekly", "injected": 20.0}), spec)
    assert row["intervals"] == 4  # 10 + 10 days in turns of 7 days: 7 on, 7 off, 3 on, 3 off
    for bg in ("separate", "shared"):
        assert row[f"{bg}_ul95"] > row[f"{bg}_ul90"] > 0
        assert math.isfinite(row[f"{bg}_N_X"])
        assert row[f"{bg}_sigma_N_X"] > 0
