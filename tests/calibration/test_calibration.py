"""Calibration (seed 002).

Synthetic data, classic search, line fits, quadratic calibration, refinement, regrouping, bad
cells. The end-to-end command is tested in test_cli.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayes_vip.calibration import baseline
from bayes_vip.calibration.calibrate import (
    MIN_COUNTS,
    _calibrate_cell,
    check_seeds,
    regroup_batches,
)
from bayes_vip.calibration.linefit import LineFit, fit_calibration, fit_line
from bayes_vip.calibration.peakfinder import LINES
from bayes_vip.calibration.synthetic import draw_spectra, line_energies
from bayes_vip.physics.response import adc_to_energy, energy_to_adc


@pytest.fixture(scope="module")
def high_count_spectra():
    return draw_spectra(12, (3e5, 3e5), rng=np.random.default_rng(5), raw=True)


def test_synthetic_spectra_put_the_lines_where_the_calibration_says(high_count_spectra):
    d = high_count_spectra
    assert d["x"].shape == (12, 300, 1)
    assert d["counts"].shape == (12, 4096)
    assert np.all(np.diff(d["y"], axis=1) > 0)
    # the true centroid maps back to the line energy through the drawn calibration
    e = np.asarray(adc_to_energy(d["y"], d["calibration"][:, None, :]))
    np.testing.assert_allclose(e, np.broadcast_to(line_energies(), e.shape), atol=1e-6)
    # the Poisson totals scatter around the requested level
    assert np.all(np.abs(d["total"] / 3e5 - 1) < 0.02)
    # the ADC histogram's largest bin is within a few sigma of Ti Ka (the strongest line)
    peak = np.argmax(d["counts"], axis=1) + 0.5
    assert np.all(np.abs(peak - d["y"][:, 0]) < 15)


def test_classic_search_finds_all_lines_at_high_counts(high_count_spectra):
    d = high_count_spectra
    found = np.stack([baseline.search_lines(c, line_energies()) for c in d["counts"]])
    err = np.abs(found - d["y"])
    assert np.mean(np.all(err <= 10, axis=1)) >= 0.75


def test_pattern_match_assigns_lines_and_ignores_extra_peaks():
    e = line_energies()
    true = (e - 30.0) / 2.9
    peaks = np.sort(np.concatenate([true, [(2770 - 30) / 2.9, (8905 - 30) / 2.9]]))
    prom = np.ones_like(peaks)
    got = baseline.match_lines(peaks, prom, e, baseline.TUNED)
    np.testing.assert_allclose(got, true)
    # one line missing: NaN there, the others still matched
    got = baseline.match_lines(np.delete(true, 1), np.ones(4), e, baseline.TUNED)
    assert np.isnan(got[1])
    assert np.allclose(np.delete(got, 1), np.delete(true, 1))


def test_check_seeds_flags_inconsistent_cnn_output():
    e = line_energies()
    good = (e - 10.0) / 2.9
    assert check_seeds(good) == ""
    assert "ordered" in check_seeds(good[[0, 2, 1, 3, 4]])
    assert "gain" in check_seeds(good / 3.0)
    bent = good.copy()
    bent[3] += 40.0
    assert "straight line" in check_seeds(bent)


def _line_spectrum(rng, mu_adc, gain, amp, bg):
    """A Cu Ka doublet at ADC position mu_adc (Ka1) with a flat background, via the model."""
    from scipy.stats import exponnorm, norm

    from bayes_vip.calibration.linefit import TAIL_BETA, TAIL_FRAC
    from bayes_vip.physics.lines import line_group

    g = line_group("Cu Ka")
    edges = np.arange(4097.0)
    cdf = 0.0
    for en, w in zip(g.energies, g.weights, strict=True):  # Gaussian + seed-002 tail, by scipy
        mu = mu_adc + (en - g.energies[0]) / gain
        cdf = cdf + w * (
            (1 - TAIL_FRAC) * norm.cdf(edges, mu, 27.0)
            + TAIL_FRAC * exponnorm.sf(mu - edges, TAIL_BETA, scale=27.0)
        )
    return rng.poisson(amp * np.diff(cdf) + bg)


def test_line_fit_recovers_the_position_within_its_error():
    rng = np.random.default_rng(3)
    pulls = []
    for k in range(12):
        mu = 2700.0 + 3.3 * k
        c = _line_spectrum(rng, mu, 2.9, 3000.0, 2.0)
        f = fit_line(c, "Cu Ka", mu + 4.0, 2.9)  # seed off by 4 ADC
        assert f.ok, f.message
        pulls.append((f.mu - mu) / f.mu_err)
        assert 0.3 < f.mu_err < 1.5
    assert abs(np.mean(pulls)) < 1.0
    assert 0.4 < np.std(pulls) < 1.8


def test_quadratic_calibration_through_exact_points():
    p = np.array([-25.0, 2.93, 1.1e-6])
    fits = [
        LineFit(k, True, mu=float(energy_to_adc(en, p)), mu_err=0.3)
        for k, en in zip(LINES, list(_strongest()), strict=True)
    ]
    cal = fit_calibration(fits)
    np.testing.assert_allclose(cal["p"], p, rtol=1e-6, atol=1e-6)
    assert cal["ndf"] == 2
    assert cal["chi2"] < 1e-6
    # fewer than three lines cannot give a quadratic
    assert fit_calibration([*fits[:2], LineFit("Mn Ka", False)]) is None


def _strongest():
    from bayes_vip.physics.lines import line_group

    return [line_group(k).energies[0] for k in LINES]


def test_too_few_counts_is_flagged_with_a_warning_naming_the_cell():
    seen = []
    cell = _calibrate_cell(
        np.ones(4096, dtype=int) // 2, np.zeros(5), "period x SDD 3 batch 7", seen.append
    )
    assert cell.status == 1
    assert "too few counts" in cell.reason
    assert seen
    assert "SDD 3 batch 7" in seen[0]
    assert str(MIN_COUNTS) in seen[0]


def test_inconsistent_cnn_falls_back_to_the_classic_search(high_count_spectra):
    d = high_count_spectra
    seen = []
    bad = d["y"][0][[4, 3, 2, 1, 0]]  # reversed: not ordered in energy
    cell = _calibrate_cell(d["counts"][0], bad, "cell A", seen.append)
    assert cell.seed_source == 1
    assert any("falling back to the classic peak search" in m for m in seen)
    assert cell.status == 0
    # the calibration found through the fallback maps the lines to their energies
    e = np.asarray(adc_to_energy(d["y"][0], cell.p))
    assert np.all(np.abs(e - line_energies()) < 10.0)


def test_regroup_batches_conserves_counts_and_live_time(tmp_path):
    from bayes_vip.io.campaign import load_campaign
    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_campaign

    pre = preset("demo")
    write_campaign(simulate_campaign(pre, rng=np.random.default_rng(4)), tmp_path / "r")
    ds = load_campaign(tmp_path / "r")
    assert ds.sizes["batch"] == 2
    g = regroup_batches(ds, 24 * 10)  # the whole 10-day period in one group
    assert g.sizes["batch"] == 1
    assert int(g["counts"].sum()) == int(ds["counts"].sum())
    np.testing.assert_allclose(g["live_time_s"].values[..., 0], ds["live_time_s"].sum("batch"))
    same = regroup_batches(ds, 24 * 5)
    np.testing.assert_array_equal(same["counts"].values, ds["counts"].values)
    from bayes_vip.errors import InputError

    with pytest.raises(InputError, match=r"calibration\.batch_hours"):
        regroup_batches(ds, -1.0)
