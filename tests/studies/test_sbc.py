"""Simulation-based calibration: ranks, uniformity tests, draws from the model, bad input.

Draws from the model and the quick SBC studies (the production sampler, a negative control
and a broken sampler) are in ``test_sbc_quick.py``; the full study in docs/validation.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayes_vip.cli import main
from bayes_vip.studies.sbc import rank_statistics, ranks_of
from tests.conftest import MEASURED_RUN


def _cli(capsys, *args):
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_ranks_count_the_thinned_draws_below_the_truth():
    draws = np.arange(400.0).reshape(4, 100)  # pooled: 0..399
    assert ranks_of(draws, -1.0, 99) == 0
    assert ranks_of(draws, 1e9, 99) == 99
    # 99 draws evenly over 0..399: about a quarter lie below 100
    assert ranks_of(draws, 100.0, 99) == 25
    with pytest.raises(ValueError, match="999 ranked draws"):
        ranks_of(draws, 1.0, 999)  # more ranked draws than draws


def test_uniform_ranks_pass_and_miscalibrated_ones_fail():
    rng = np.random.default_rng(0)
    L, n = 99, 1000
    good = rank_statistics(rng.integers(0, L + 1, n), L)
    assert good["uniform"], (good["chi2_p"], good["ecdf_outside_points"])
    assert good["chi2_dof"] == 19  # 20 bins of 5 ranks
    assert sum(good["histogram"]) == n
    # ranks of a posterior that is too narrow pile at both ends (U shape) ...
    narrow = np.minimum((rng.beta(0.7, 0.7, n) * (L + 1)).astype(int), L)
    # ... of a biased one at one end; of one too wide in the middle
    biased = np.minimum((rng.beta(1.0, 1.3, n) * (L + 1)).astype(int), L)
    wide = np.minimum((rng.beta(1.5, 1.5, n) * (L + 1)).astype(int), L)
    for bad in (narrow, biased, wide):
        st = rank_statistics(bad, L)
        assert not st["uniform"]
        assert not st["ecdf_in_band"]
    # a handful of ranks: the band is wide, and uniform ranks still pass
    few = rank_statistics(rng.integers(0, 20, 20), 19)
    assert few["uniform"]
    assert few["chi2_dof"] == 1
    assert rank_statistics(np.zeros(20, int), 19)["uniform"] is False


def test_the_band_holds_uniform_ecdfs_about_95_percent_of_the_time():
    # the simultaneous band's level, checked on 400 uniform rank sets of 50
    rng = np.random.default_rng(1)
    inside = [rank_statistics(rng.integers(0, 100, 50), 99)["ecdf_in_band"] for _ in range(400)]
    rate = np.mean(inside)
    assert 0.91 <= rate <= 0.99, rate  # binomial sd at 95 %: 1.1 %


@pytest.fixture(scope="module")
def energy_demo(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("sbc") / "demo-energy"
    rc = main(["simulate", "--preset", "demo", "--level", "energy", "--seed", "5",
               "--out", str(run), "--json"])  # fmt: skip
    assert rc == 0
    return run


def test_sbc_bad_input_exits_2_naming_the_option(capsys, energy_demo, tmp_path):
    out = tmp_path / "sbc"
    cases = [
        (["--sims", "0"], "study.sims"),
        (["--rank-draws", "5"], "study.rank_draws"),
        (["--fano-shift", "3"], "study.fano_shift"),
        (["--seed", "-1"], "study.seed"),
        (["--workers", "0"], "study.workers"),
        (["--chains", "2", "--samples", "20"], "sample.samples"),
    ]
    for args, field in cases:
        rc, _, err = _cli(capsys, "study", "sbc", energy_demo, "--out", out, *args)
        assert rc == 2, (args, err)
        assert field in err or field.split(".")[1].replace("_", "-") in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    rc, _, err = _cli(capsys, "study", "sbc", MEASURED_RUN, "--out", out)
    assert rc == 2
    assert "simulation.settings" in err
    assert not out.exists()  # no partial output
