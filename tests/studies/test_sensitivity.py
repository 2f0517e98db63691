"""The sensitivity decomposition of the classic fit (``studies.sensitivity``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from bayes_vip.analysis import classic
from bayes_vip.analysis.spectral import spectra_from_campaign
from bayes_vip.errors import InputError
from bayes_vip.io.campaign import load_campaign
from bayes_vip.physics.lines import pep_signal
from bayes_vip.simulate.presets import preset
from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign
from bayes_vip.studies.sensitivity import (
    VARIANTS,
    _cls95,
    sensitivity_spec,
    summarise,
)


def test_each_freedom_changes_the_step2_model(tmp_path):
    """Every ``Freedoms`` switch changes the fitted model as it says, on one demo toy.

    A Gaussian PEP line counts the Gaussian core only: its N_X and sigma(N_X) both shrink by
    the core's share of the response, so the significance stays the same.
    """
    sim = simulate_campaign(preset("demo"), rng=np.random.default_rng(7), signal_counts=300.0)
    write_energy_campaign(sim, tmp_path / "t", rng=np.random.default_rng(7))
    ds = load_campaign(tmp_path / "t")
    step1 = classic.fit_step1(spectra_from_campaign(ds, 3500, 11000, 10))
    s2 = spectra_from_campaign(ds, 7000, 11000, 10)
    fits = {
        key: classic.fit_step2(
            step1, s2, signal=pep_signal("ka1"), freedoms=classic.Freedoms(**changes)
        )
        for key, changes in {
            "default": {},
            "tail_fixed": {"tail": False, "noise": False},
            "gaussian": {"signal_shape": "gaussian", "tail": False, "noise": False},
            "tail_free": {"tail": True, "noise": False},
            "no_shift": {"shift": False, "tail": False, "noise": False},
            "shared_background": {"shared_background": True, "tail": False, "noise": False},
        }.items()
    }
    names = {k: set(f.result.names) for k, f in fits.items()}
    assert {"on.level", "off.level", "shift"} <= names["default"]
    assert "level" in names["shared_background"]
    assert "on.level" not in names["shared_background"]
    assert "shift" not in names["no_shift"]
    assert "tail_frac" in names["tail_free"]
    assert fits["tail_free"].decisions["tail_refit_step2"]["note"] == "imposed (Freedoms)"
    assert "tail_frac" not in names["tail_fixed"]
    assert fits["tail_fixed"].decisions == {}
    assert set(fits["default"].decisions) == {"noise_refit_step2", "tail_refit_step2"}
    d, g = fits["tail_fixed"].result, fits["gaussian"].result
    share_n = g.values["N_X"] / d.values["N_X"]
    share_sigma = g.errors["N_X"] / d.errors["N_X"]
    assert 0.6 < share_sigma < 0.98
    assert share_n == pytest.approx(share_sigma, rel=0.05)


def _rows(rng, key_sigma: dict[str, tuple[float, float, float]], injected, n):
    """Synthetic toy rows: per variant (true sigma, quoted sigma, bias in counts)."""
    rows = []
    for i in range(n):
        s = injected[i % len(injected)]
        row = {"index": i, "status": "ok", "seconds": 1.0, "injected": s}
        for key, (true, quoted, bias) in key_sigma.items():
            row |= {
                f"{key}_N_X": s + bias + true * rng.normal(),
                f"{key}_sigma": quoted,
                f"{key}_valid": True,
            }
        rows.append(row)
    return rows


def test_the_summary_keeps_the_unbiased_covering_fit_with_the_least_expected_limit():
    """Biased or under-covering variants are refused; the best of the rest is chosen."""
    spec = sensitivity_spec(injected=(0.0, 300.0), toys=400, seed=1)
    truth = {
        "default": (100.0, 100.0, 0.0),
        "gaussian": (80.0, 80.0, -40.0),  # biased: half a sigma low
        "tail_fixed": (90.0, 90.0, 0.0),  # better and honest: chosen
        "tail_free": (90.0, 60.0, 0.0),  # quotes too small a sigma: under-covers
        "no_shift": (120.0, 120.0, 0.0),
        "range_7_8.6": (100.0, 100.0, 0.0),
        "shared_background": (100.0, 100.0, 0.0),
        "window": (95.0, 95.0, 0.0),
    }
    assert set(truth) == {*VARIANTS, "window"}
    rows = _rows(np.random.default_rng(3), truth, spec["injected"], 800)
    out = summarise(rows, spec)
    v = out["choice"]["verdicts"]
    assert out["choice"]["chosen"] == "tail_fixed"
    assert not v["gaussian"]["passes"]
    assert "biased" in " ".join(v["gaussian"]["reasons"])
    assert not v["tail_free"]["passes"]
    assert "under-covers" in " ".join(v["tail_free"]["reasons"])
    for key in ("default", "no_shift", "window"):
        assert v[key]["passes"], (key, v[key])
    z = {k: out["variants"][k]["injected"][0] for k in truth}
    # the spread of N_X hat is the true sigma, to its standard error
    for key, (true, _, _) in truth.items():
        assert abs(z[key]["N_X"]["sd"] - true) < 4 * z[key]["N_X"]["sd_err"], key
    assert z["no_shift"]["expected_cls95_median"] > z["default"]["expected_cls95_median"]
    assert out["paired_with_default_at_zero"]["no_shift"]["sigma_ratio_median"] == 1.2


def test_cls95_of_a_gaussian_estimate():
    """At N = 0 the CLs 95 % limit is 1.96 sigma; far above zero it tends to N + 1.645 sigma."""
    assert _cls95(0.0, 10.0) == pytest.approx(10 * norm.isf(0.025), rel=1e-12)
    assert _cls95(80.0, 10.0) == pytest.approx(80 + 10 * norm.isf(0.05), rel=1e-9)
    # the defining equation, below zero too
    mu = _cls95(-15.0, 10.0)
    assert norm.cdf((-15 - mu) / 10) / norm.cdf(-1.5) == pytest.approx(0.05, rel=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"injected": (0.0,), "toys": 0, "seed": 1}, "study.toys"),
        ({"injected": (0.0,), "toys": 5, "seed": -1}, "study.seed"),
        ({"injected": (-3.0,), "toys": 5, "seed": 1}, "study.injected"),
        ({"injected": (float("nan"),), "toys": 5, "seed": 1}, "study.injected"),
    ],
)
def test_bad_study_options_are_refused(kwargs, field):
    """Impossible options name their field before any toy runs."""
    with pytest.raises(InputError) as e:
        sensitivity_spec(**kwargs)
    assert e.value.field == field


def test_a_shape_given_twice_must_agree():
    """``fit_two_step``'s signal_shape and its freedoms' cannot say different things."""
    with pytest.raises(ValueError, match="disagree"):
        classic.fit_two_step(
            None,
            None,
            signal=pep_signal("ka1"),
            signal_shape="response",
            freedoms=classic.Freedoms(signal_shape="gaussian"),
        )
