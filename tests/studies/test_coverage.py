"""A quick coverage study through the production path (the full one: docs/validation.md).

Every toy is simulated, fitted classically and sampled by NUTS as `bayes-vip fit` and
`bayes-vip sample` do, on the Dask engine, with fewer draws than the defaults.
"""

from __future__ import annotations

import math

import pytest

from bayes_vip.io.config import load_config
from bayes_vip.studies.coverage import coverage_study
from bayes_vip.studies.engine import IN_PROCESS, read_store


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    from bayes_vip.cli import main

    tmp = tmp_path_factory.mktemp("coverage")
    run = tmp / "demo-energy"
    assert main(["simulate", "--preset", "demo", "--level", "energy", "--seed", "21",
                 "--out", str(run), "--json"]) == 0  # fmt: skip
    # 2 x (100 + 200) draws, not extended: the gates fail at that size (a study records such a
    # toy and still counts it in `bayes_all`), but the Rao-Blackwellised 95 % limits of the
    # first three toys are within 1.5 % of those of the default 4 x 1000 draws (55.0, 99.4,
    # 32.4 against 55.1, 99.2, 32.1 counts; 18-30 s a toy instead of 45-50). At 2 x (200 + 500),
    # extended to 2 x 2000 for the gates, this fixture took 335 s of the suite's 1483 s
    cfg = load_config(run, overrides={"sample.chains": 2, "sample.warmup": 100,
                                      "sample.samples": 200, "sample.max_draws": 200})  # fmt: skip
    rec = coverage_study(run, cfg, out=tmp / "study", multiples=(0, 3), toys=2, seed=3, workers=1)
    return tmp, run, cfg, rec


@pytest.mark.slow
def test_quick_coverage_through_the_production_path(quick):
    quick = quick[3]
    sigma = quick["reference"]["sigma_N_X"]
    assert sigma > 0
    assert quick["toys_done"] == quick["toys_total"] == 4
    zero, three = quick["multiples"]
    assert zero["errors"] == three["errors"] == 0, zero["error_messages"] + three["error_messages"]
    assert three["injected_counts"] == pytest.approx(3 * sigma)
    # every 95 % limit, classic and Bayesian, lies above the truth in these 4 toys; at 3 sigma
    # a miscalibrated conversion or a biased signal shape would put it below
    for lv in (zero, three):
        for method in ("classic_profile", "bayes_all"):
            c = lv["coverage"]["95"][method]
            assert c["k"] == c["n"] == 2, (lv["multiple"], method)
            lo, hi = c["cp95"]
            assert hi == 1.0
            assert lo == pytest.approx(0.025**0.5, rel=1e-9)  # Clopper-Pearson for 2 of 2
    # the expected sensitivity is of the order of 1.6-2 classic sigmas, as for a Gaussian
    sens = quick["expected_sensitivity_ul95_counts"]
    assert 1.0 * sigma < sens["bayes"] < 3.0 * sigma
    assert 1.0 * sigma < sens["classic_profile"] < 3.0 * sigma
    # the false-detection rates at zero are reported (0 or 1 of 2 for a 3-sigma excess)
    fd = zero["false_detection"]
    assert fd["classic_3sigma"]["n"] == fd["bayes_BF10_gt_10"]["n"] == 2
    assert math.isfinite(quick["toys_per_s_per_worker"])


@pytest.mark.slow
def test_each_toy_records_its_warm_up_restarts_and_retries(quick):
    rows = read_store(quick[0] / "study" / "toys.parquet")
    assert len(rows) == 4
    for r in rows:  # counts, as limits.json's sampler lists them
        assert isinstance(r["bayes_warmup_restarts"], int)
        assert r["bayes_warmup_restarts"] >= 0
        assert isinstance(r["bayes_retries"], int)
        assert r["bayes_retries"] >= 0


@pytest.mark.slow
def test_quick_coverage_fails_a_broken_sampler(quick, monkeypatch):
    """The same quick study catches a realistic bug in the Bayesian path.

    The bug: the model's data carry the periods' currents swapped, so that the signal is
    sought in the current-off spectrum. The classic fit is untouched and still covers; at
    3 sigma the Bayesian 95 % limits fall below the truth in both toys. (In this process,
    where the patch applies.)
    """
    import dataclasses

    import bayes_vip.bayes.data as bayes_data

    real = bayes_data.build_data

    def swapped(*args, **kw):
        data = real(*args, **kw)
        assert data.current_A.size == 2
        assert data.current_A.max() > data.current_A.min()
        return dataclasses.replace(data, current_A=data.current_A[::-1].copy())

    monkeypatch.setattr(bayes_data, "build_data", swapped)
    tmp, run = quick[0], quick[1]
    # the quick study's draws: the bug moves the limits by several sigma
    cfg = quick[2]
    rec = coverage_study(
        run, cfg, out=tmp / "broken", multiples=(3,), toys=2, seed=3, scheduler=IN_PROCESS
    )
    (three,) = rec["multiples"]
    assert three["errors"] == 0, three["error_messages"]
    cov = three["coverage"]["95"]
    assert cov["classic_profile"]["k"] == cov["classic_profile"]["n"] == 2
    assert cov["bayes_all"]["n"] == 2
    assert cov["bayes_all"]["k"] == 0
