"""Quick coverage study (the full one: docs/scripts/coverage_study.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def quick():
    from bayes_vip.pipeline.studies import coverage_study

    return coverage_study(
        "demo", multiples=(0, 3), toys=2, chains=2, warmup=200, samples=300, progress=None
    )


def test_quick_coverage_upper_limits_lie_above_the_injected_signal(quick):
    sigma = quick["sigma_classic"]
    assert sigma > 0
    assert quick["toys_per_level"] == 2
    zero, three = quick["levels"]
    assert three["injected_counts"] == pytest.approx(3 * sigma)
    # every 95 % limit above the truth, at zero and at 3 sigma of injected signal
    assert zero["ul95_above_truth"] == 1.0
    assert three["ul95_above_truth"] == 1.0
    # at 3 sigma the central 90 % interval brackets the truth in at least 1 of 2 toys: a wrong
    # conversion of beta^2/2 to counts, or a biased signal shape, would miss it
    assert three["central90_contains_truth"] >= 1 / 2
    # the expected sensitivity is of the order of 1.6-2 classic sigmas, as for a Gaussian
    assert 1.0 * sigma < quick["expected_sensitivity_ul95_counts"] < 3.0 * sigma
    # sampler health: the full study (docs/bayes.md) saw divergent transitions in 8 of 100
    # toys, at most 3 of 1600 in one toy; here at most one of a toy's 600 may diverge
    for lv in quick["levels"]:
        for toy in lv["toys"]:
            assert toy["divergences"] <= 1
            assert toy["r_hat_max"] < 1.05
