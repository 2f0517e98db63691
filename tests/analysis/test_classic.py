"""Classic analysis.

The seed-000 conversion, the fit on the measured run, recovery of an injected signal over
toys, and bad input.
"""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.constants as sc

from bayes_vip.analysis import classic
from bayes_vip.analysis.spectral import spectra_from_campaign
from bayes_vip.cli import main
from bayes_vip.io.campaign import load_campaign
from bayes_vip.physics.conversion import beta2half_from_counts, exposure
from bayes_vip.physics.lines import pep_signal
from bayes_vip.simulate.presets import preset
from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign
from tests.conftest import MEASURED_RUN, SEED000_CONVERT

SEED000 = {
    "charge_C": 100.0 * 34 * 86400,
    "length_cm": 7.1,
    "mean_free_path_cm": 3.9e-6,
    "efficiency": 0.018,
}


def test_seed000_conversion_number():
    """Seed 000 eq. 3: the published beta^2/2 <= 3.4e-29.

    From 3 x 67 = 201 counts, 34 d at 100 A, D = 7.1 cm, mu = 3.9e-6 cm, efficiency 1.8 %.
    """
    exp = exposure(**SEED000)
    b = beta2half_from_counts(201.0, exp)
    # independent arithmetic: N_new = I t / e, N_int = D / mu, capture 1/10
    expected = 201.0 / (100.0 * 34 * 86400 / sc.e * 0.1 * (7.1 / 3.9e-6) * 0.018)
    assert b == pytest.approx(expected, rel=1e-12)
    assert b == pytest.approx(3.345e-29, rel=1e-3)
    # the seed prints 3.4e-29: the formula gives 3.345e-29, 1.6 % below (docs/classic.md)
    assert abs(b - 3.4e-29) / 3.4e-29 < 0.02
    assert exp.n_int_model == "rs"
    assert exp.n_int == pytest.approx(7.1 / 3.9e-6)


def test_convert_command(capsys):
    rc = main(SEED000_CONVERT)
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["beta2half"] == pytest.approx(3.345e-29, rel=1e-3)
    assert out["exposure"]["n_int_model"] == "rs"
    for bad in (
        ["--time-s", "-1"],
        ["--efficiency", "1.8"],
        ["--mfp-cm", "0"],
        ["--n-int", "warp"],
    ):
        args = dict(
            zip(
                ["--counts", "--current-A", "--time-s", "--length-cm", "--mfp-cm", "--efficiency"],
                ["201", "100", "100", "7.1", "3.9e-6", "0.018"],
                strict=True,
            )
        )
        extra = []
        if bad[0] in args:
            args[bad[0]] = bad[1]
        else:
            extra = bad
        argv = ["convert"] + [x for kv in args.items() for x in kv] + extra
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert "Traceback" not in err


def test_poisson_statistic_is_finite_with_empty_bins():
    """An empty bin must not poison the gradient (jnp.where differentiates both branches)."""
    dev = classic.cost_function("poisson")
    n = jnp.array([0.0, 3.0, 10.0])
    g = jax.grad(lambda mu: dev(mu, n))(jnp.array([0.5, 2.0, 12.0]))
    assert np.all(np.isfinite(np.asarray(g)))
    # d/dmu 2(mu - n + n ln(n/mu)) = 2(1 - n/mu)
    np.testing.assert_allclose(np.asarray(g), 2 * (1 - np.array([0.0, 1.5, 10 / 12])))
    chi2 = classic.cost_function("chi2")
    assert float(chi2(jnp.array([2.0]), jnp.array([0.0]))) == 4.0  # empty bin: variance 1


@pytest.fixture(scope="module")
def measured_fit(tmp_path_factory, measured_root):
    run = tmp_path_factory.mktemp("measured")
    text = (
        (MEASURED_RUN / "run.toml")
        .read_text()
        .replace("../../../shared/data/vip2-2016-17/energyHistograms.root", str(measured_root))
    )
    (run / "run.toml").write_text(text)
    rc = main(["fit", str(run), "--json"])
    assert rc == 0
    return run, json.loads((run / "results" / "classic.json").read_text())


def test_measured_run_converges_with_valid_minimum(measured_fit):
    run, out = measured_fit
    for step in ("step1", "step2"):
        assert out[step]["is_valid"]
        assert out[step]["has_accurate_covar"]
    assert out["step2"]["chi2_ndf"] < 1.3  # the 7-11 keV model describes the data
    assert out["decisions"]["noise_split_step1"]["chosen"]  # the data ask for it
    fw = out["fwhm_cu_ka1_eV"]
    assert 150 < fw["off"][0] < fw["on"][0] < 220  # worse with current on
    assert abs(out["energy_shift_eV"][0]) < 60
    ul = out["upper_limits_counts"]
    assert 0 < ul["profile 0.9"] < ul["profile 0.95"] < ul["profile 0.997"]
    assert ul["3sigma (seed 000: 3 x sigma(N_X))"] == pytest.approx(3 * out["sigma_N_X"])
    conv = out["conversion"]
    assert conv["n_new"] == pytest.approx(100.0 * 7034400.0 / sc.e)
    assert conv["n_int_model"] == "rs"
    for k, v in ul.items():
        assert conv["beta2half_upper_limits"][k] == pytest.approx(
            v / (conv["n_new"] * 0.1 * 7.1 / 3.91e-6 * 0.0182)
        )
    for f in out["figures"].values():
        assert (run / "results" / f.split("/results/")[-1]).stat().st_size > 10_000


def test_cls_limits_and_expected_bands_of_the_measured_run(measured_fit):
    _, out = measured_fit
    ul, ex = out["upper_limits_counts"], out["expected_limits"]
    factor = out["conversion"]["beta2half_upper_limits"]["CLs 0.95"] / ul["CLs 0.95"]
    for level in ("0.9", "0.95", "0.997"):
        # CLs divides p_mu by 1 - p_b <= 1: its limit is above the profile limit
        assert ul[f"CLs {level}"] > ul[f"profile {level}"]
        for method in ("cls", "profile"):
            b = ex["counts"][method][level]
            assert 0 <= b["-2"] < b["-1"] < b["+0"] < b["+1"] < b["+2"]
            for k, v in b.items():
                assert ex["beta2half"][method][level][k] == pytest.approx(v * factor)
        # N_X is 0.13 sigma above 0: each observed limit lies within its +-1 sigma band, and
        # near the median
        for method, key in (("cls", "CLs"), ("profile", "profile")):
            b = ex["counts"][method][level]
            assert b["-1"] < ul[f"{key} {level}"] < b["+1"]
            assert ul[f"{key} {level}"] == pytest.approx(b["+0"], rel=0.1)
    # the Asimov width is the fit's own error of N_X, to the model's nonlinearity
    assert ex["sigma_A_counts"] == pytest.approx(out["sigma_N_X"], rel=0.1)


def test_toys_recover_the_injected_signal(tmp_path):
    """Quick CI version of benchmarks/toys_classic.py.

    Demo-size energy-level runs with a known PEP signal; the pull (N_X - realised)/sigma has
    mean ~0 and width ~1.
    """
    pulls = []
    for seed in range(8):
        sim = simulate_campaign(
            preset("demo"), rng=np.random.default_rng(100 + seed), signal_counts=150.0
        )
        write_energy_campaign(sim, tmp_path / f"t{seed}", rng=np.random.default_rng(100 + seed))
        ds = load_campaign(tmp_path / f"t{seed}")
        s1 = spectra_from_campaign(ds, 3500, 11000, 10)
        s2 = spectra_from_campaign(ds, 7000, 11000, 10)
        r = classic.fit_two_step(
            s1, s2, signal=pep_signal("ka1"), statistic="poisson", profile=False
        )
        assert r.step1.is_valid
        assert r.step2.is_valid
        pulls.append((r.n_x - sim.truth["signal_counts_realised"]) / r.sigma_n_x)
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 3 / math.sqrt(len(pulls))  # 3 standard errors
    assert 0.4 < pulls.std(ddof=1) < 1.8


def test_a_line_just_above_zero_is_fixed_there_and_the_errors_are_right(tmp_path):
    """A valid minimum with a line 0.013 sigma above its bound: HESSE's covariance was wrong.

    Toy 198 of the Poisson coverage study (docs/validation.md): the current-on Ni Ka line
    ended at 0.016 +- 1.2 counts and every line's error, N_X's included, came out as 2 counts
    with an "accurate" covariance. The fit now fixes that line at zero and fits again.
    """
    seed = 1398576459
    sim = simulate_campaign(
        preset("demo"), rng=np.random.default_rng(seed), signal_counts=59.363029, signal="ka1"
    )
    write_energy_campaign(sim, tmp_path / "t", signal="ka1", rng=np.random.default_rng(seed))
    ds = load_campaign(tmp_path / "t")
    r = classic.fit_two_step(
        spectra_from_campaign(ds, 3500, 11000, 10),
        spectra_from_campaign(ds, 7000, 11000, 10),
        signal=pep_signal("ka1"),
        statistic="poisson",
    )
    assert "on.Ni Ka" in r.step2.fixed_at_limit, "the toy no longer puts Ni Ka at its bound"
    assert r.step2.values["on.Ni Ka"] == 0.0
    # the profile limit does not use HESSE: the 95 % limit is N_X + 1.645 sigma within 20 %
    profile_sigma = (r.profile_limits["0.95"] - r.n_x) / 1.645
    assert 0.8 < r.sigma_n_x / profile_sigma < 1.25
    assert r.step2.errors["on.Cu Ka"] > 10


def _one_period_run(tmp_path, measured_root):
    text = (
        (MEASURED_RUN / "run.toml")
        .read_text()
        .replace("../../../shared/data/vip2-2016-17/energyHistograms.root", str(measured_root))
    )
    head, _, _ = text.partition("[[sources]]")
    head = head.replace('[[periods]]\nname = "current-off"', '[[ignored]]\nname = "x"')
    src = text[text.index("[[sources]]") :].split("[[sources]]")[1]
    (tmp_path / "run.toml").write_text(head + "[[sources]]" + src)
    return tmp_path


def test_bad_input_exits_2_and_writes_nothing(tmp_path, measured_root, capsys, monkeypatch):
    run = tmp_path / "one"
    run.mkdir()
    _one_period_run(run, measured_root)
    assert main(["fit", str(run)]) == 2
    err = capsys.readouterr().err
    assert "current-off" in err
    assert len(err.strip().splitlines()) == 1
    assert not (run / "results").exists()

    good = tmp_path / "good"
    good.mkdir()
    (good / "run.toml").write_text(
        (MEASURED_RUN / "run.toml")
        .read_text()
        .replace("../../../shared/data/vip2-2016-17/energyHistograms.root", str(measured_root))
    )
    for args, word in (
        (["--signal-energy", "12000"], "--signal-energy"),
        (["--signal-energy", "kz"], "--signal-energy"),
        (["--statistic", "likelihood"], "--statistic"),
        (["--bin-eV", "2.5"], "--bin-eV"),
        (["--sdd", "9"], "--sdd"),
    ):
        assert main(["fit", str(good), *args]) == 2, args
        err = capsys.readouterr().err
        assert word in err
        assert len(err.strip().splitlines()) == 1
        assert "Traceback" not in err
    assert not (good / "results").exists()

    # a fit that fails: MIGRAD allowed too few calls never reaches a valid minimum
    from iminuit import Minuit

    orig = Minuit.migrad
    monkeypatch.setattr(Minuit, "migrad", lambda self, ncall=None, **kw: orig(self, ncall=5))
    assert main(["fit", str(good)]) == 2
    err = capsys.readouterr().err
    assert "valid minimum" in err
    assert len(err.strip().splitlines()) == 1
    assert not (good / "results").exists()  # no invalid minimum reported, nothing written


def test_measured_fit_with_close_encounter_n_int(measured_fit, capsys):
    """The same fit converted with seed 001's N_int; results name the model used."""
    from bayes_vip.physics import transport as tr

    run, rs = measured_fit
    assert main(["fit", str(run), "--n-int", "close-encounter", "--json"]) == 0
    ce = json.loads(capsys.readouterr().out)
    assert ce["conversion"]["n_int_model"] == "close-encounter"
    # 100 A, cross-section 0.01 cm^2 and D = 7.1 cm from the manifest
    t = tr.Target("run", 0.071, 1e-6, 1.0, 100.0)
    assert ce["conversion"]["n_int"] == pytest.approx(tr.close_encounters(t), rel=1e-9)
    k = "profile 0.95"
    assert ce["upper_limits_counts"][k] == pytest.approx(rs["upper_limits_counts"][k])
    ratio = (
        rs["conversion"]["beta2half_upper_limits"][k]
        / ce["conversion"]["beta2half_upper_limits"][k]
    )
    assert ratio == pytest.approx(ce["conversion"]["n_int"] / rs["conversion"]["n_int"])
