"""The ADC-level model, whose calibration is latent.

The calibration is fixed by the calibration lines below the region (as measurements) and the
lines inside it; its posterior covers the simulator's true calibration even where the classic
one is spoiled.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_vip.cli import main


@pytest.fixture(scope="module")
def adc_data(tmp_path_factory):
    from bayes_vip.bayes.data import build_data
    from bayes_vip.io.campaign import build_campaign
    from bayes_vip.io.config import default_config
    from bayes_vip.io.manifest import load_manifest
    from bayes_vip.io.outputs import calibration_path, load_calibration
    from bayes_vip.physics.lines import pep_signal
    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_campaign

    run = tmp_path_factory.mktemp("adc") / "demo"
    write_campaign(
        simulate_campaign(preset("demo"), rng=np.random.default_rng(78), signal_counts=0.0), run
    )
    assert main(["calibrate", str(run), "--json", "--iterations", "150"]) == 0
    assert main(["fit", str(run), "--json"]) == 0
    man = load_manifest(run)
    classic = json.loads((run / "results" / "classic.json").read_text())
    cal = load_calibration(calibration_path(man))
    # spoil the classic offset of every second batch by 15 eV
    p = cal["p_refined"].values.copy()
    p[:, :, cal["batch"].values % 2 == 1, 0] += 15.0
    cal["p_refined"] = (cal["p_refined"].dims, p)
    bin_eV = default_config().sample.bin_eV
    data = build_data(
        man, build_campaign(man), classic, signal=pep_signal("ka1"), cal=cal, bin_eV=bin_eV
    )
    return man, classic, data


def test_calibration_lines_below_the_region_are_data(adc_data):
    _, _, d = adc_data
    assert d.level == "adc"
    assert d.n_cell == 8
    # Ti Ka, Ti Kb, Mn Ka, Mn Kb: below 7 keV; Cu Ka (inside the region) is not repeated
    assert d.line_eV.shape == (4,)
    assert np.all(d.line_eV < 7000.0)
    assert d.line_ok.all()
    assert np.all(d.line_adc_err > 0)
    # one reference calibration per SDD
    for s in range(d.n_sdd):
        assert np.ptp(d.p_ref[d.sdd == s], axis=0).max() == 0.0


def test_laplace_posterior_covers_the_true_calibration(adc_data):

    from bayes_vip.bayes.data import default_upper
    from bayes_vip.bayes.drift import calibration_recovery, true_cell_calibration
    from bayes_vip.bayes.sampling import Posterior

    man, classic, d = adc_data
    upper = default_upper(d, classic, "flat-beta")
    post = Posterior(d, "flat-beta", upper)
    lap = post.laplace()
    draws = post.laplace_idata(lap, draws=400, rng=np.random.default_rng(0))
    rec = calibration_recovery(draws, d, true_cell_calibration(man, d))
    pulls = np.array(
        [r["posterior_error_eV"] / r["posterior_sd_eV"] for r in rec["cells"]], dtype=float
    )
    # the spoiled classic calibration is off by ~15 eV or more; the posterior is not
    assert rec["rms_classic_error_eV"] > 10.0
    assert rec["rms_posterior_error_eV"] < 0.5 * rec["rms_classic_error_eV"]
    assert np.all(np.abs(pulls) < 3.5), pulls
    assert rec["covered_fraction"] >= 0.8


def test_centroid_offsets_are_the_same_model_at_adc_level(adc_data):
    """At ADC level the SDDs' mean corrections are sampled for the centroids: same density."""
    from tests.bayes._density import check_centroid_offsets_keep_the_density

    check_centroid_offsets_keep_the_density(adc_data[2])


def test_calibration_lines_and_reference_are_inputs_of_one_program(adc_data):
    """SBC at the ADC level draws the lines' energies anew: an input, not a new model."""
    from dataclasses import replace

    from bayes_vip.bayes.sampling import Posterior

    _, _, d = adc_data
    shifted = replace(d, line_eV=d.line_eV + 3.0, p_ref=d.p_ref * (1 + 1e-4))
    p1 = Posterior(d, "flat-beta", 30.0)
    p2 = Posterior(shifted, "flat-beta", 30.0)
    assert p2._vg is p1._vg  # one layout, one program
    f = p1.flat0
    mine = {**p1.inputs(), "line_eV": p2.inputs()["line_eV"], "p_ref": p2.inputs()["p_ref"]}
    v_mine, g_mine = p1._vg(f, mine)
    v2, g2 = p2._vg(f, p2.inputs())
    v1, _ = p1._vg(f, p1.inputs())
    np.testing.assert_allclose(float(v_mine), float(v2), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(g_mine), np.asarray(g2), rtol=1e-10, atol=1e-8)
    assert abs(float(v_mine) - float(v1)) > 1.0


def test_the_calibration_start_follows_the_calibration_lines(adc_data):
    """``Posterior.calibration_start``: the corrections that the calibration lines ask for.

    Lines measured 10 eV higher ask for a calibration 10 eV higher where they are. One
    Newton step on the lines-only potential (quadratic in the corrections) lands on its
    minimum, and every other site keeps its start.
    """
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from bayes_vip.bayes.model import cell_energy
    from bayes_vip.bayes.sampling import Posterior
    from bayes_vip.physics.lines import line_group

    _, _, d = adc_data
    post = Posterior(d, "flat-beta", 30.0)
    higher = {**post.inputs(), "line_eV": post.inputs()["line_eV"] + 10.0}
    before = post.unravel(jnp.asarray(post.flat0))
    base = post.unravel(jnp.asarray(post.calibration_start()))
    after = post.unravel(jnp.asarray(post.calibration_start(higher)))
    for k in before:
        if k not in Posterior.CALIBRATION_SITES:
            np.testing.assert_array_equal(np.asarray(after[k]), np.asarray(before[k]))
    # the correction at Mn Ka, among the lines (c0 and c1 are at model.E_REF, 8 keV): the
    # model's calibration of a cell whose reference maps ADC 0 to the line's energy
    e_mn = line_group("Mn Ka").centroid_eV
    at_line = np.tile([e_mn, 0.0, 0.0], (d.n_cell, 1))

    def at_mn(site):
        c2 = np.asarray(site["cal_c2"])[np.asarray(d.sdd)]
        e = cell_energy(at_line, site["cal_c0"], site["cal_c1"], c2, np.zeros((d.n_cell, 1)))
        return np.asarray(e)[:, 0] - e_mn

    np.testing.assert_allclose(at_mn(after) - at_mn(base), 10.0, atol=0.5)
    # the minimum of the lines-only potential: its gradient there is nil
    names = [k for k in Posterior.CALIBRATION_SITES if k in after]
    rest = {k: v for k, v in after.items() if k not in names}
    x, _ = ravel_pytree({k: after[k] for k in names})
    x0, _ = ravel_pytree({k: before[k] for k in names})
    g = np.asarray(post._programs["cal_start"](x, rest, higher)[0])
    g0 = np.asarray(post._programs["cal_start"](x0, rest, higher)[0])
    assert np.linalg.norm(g) < 1e-6 * np.linalg.norm(g0)
