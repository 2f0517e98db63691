"""``bayes-vip calibrate`` and ``train-peakfinder`` as a user runs them.

With the shipped peak finder: outputs, accuracy against the simulator's truth, the fit
downstream, bad input.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from bayes_vip.cli import main
from bayes_vip.io.manifest import load_manifest
from bayes_vip.physics.lines import line_group
from bayes_vip.physics.response import energy_to_adc


@pytest.fixture(scope="module")
def calibrated_demo(tmp_path_factory):
    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_campaign

    run = tmp_path_factory.mktemp("cal") / "demo"
    write_campaign(
        simulate_campaign(preset("demo"), rng=np.random.default_rng(77), signal_counts=0.0), run
    )
    assert main(["calibrate", str(run), "--json", "--iterations", "150"]) == 0
    return run


def test_calibrate_writes_constants_close_to_the_truth(calibrated_demo, capsys):
    run = calibrated_demo
    capsys.readouterr()
    res = run / "results"
    for f in (
        "calibration.nc",
        "calibration.json",
        "calibration_loglik.png",
        "calibration_shift.png",
        "calibration_cu_ka.png",
    ):
        assert (res / f).is_file(), f
    with xr.open_dataset(res / "calibration.nc", engine="h5netcdf") as cal:
        cal = cal.load()
    assert (cal["status"].values == 0).all()
    p_true = np.asarray(load_manifest(run).raw["truth"]["calibration"])
    e_cu = line_group("Cu Ka").energies[0]
    a = np.asarray(energy_to_adc(e_cu, p_true))
    for which in ("standard", "refined"):
        p = cal[f"p_{which}"].values
        cov = cal[f"cov_{which}"].values
        e = p[..., 0] + p[..., 1] * a + p[..., 2] * a * a
        v = np.stack([np.ones_like(a), a, a * a], axis=-1)
        sd = np.sqrt(np.einsum("...i,...ij,...j->...", v, cov, v))
        pull = (e - e_cu) / sd
        # 8 cells: every error at Cu Ka within 3.5 sigma, and the errors are honest in size
        assert np.all(np.abs(pull) < 3.5), (which, pull)
        assert 2.0 < np.median(sd) < 30.0
    summary = json.loads((res / "calibration.json").read_text())
    t = summary["table_1"]
    assert set(t) == {"reference", "optimized", "true calibration"}
    # the eq.-4 FWHM with the calibrations found is within 5 eV of the one with the truth
    for k in ("reference", "optimized"):
        assert abs(t[k]["fwhm_eV"][0] - t["true calibration"]["fwhm_eV"][0]) < 5.0
        assert abs(t[k]["position_eV"][0] - 8047.8) < 5.0
    ll = summary["refinement"]["loglik_first_last"]
    assert ll[1] > ll[0]


def test_fit_runs_on_the_calibrated_adc_run(calibrated_demo, capsys):
    assert main(["fit", str(calibrated_demo), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["step2"]["is_valid"]
    assert abs(out["N_X"]) < 4 * out["sigma_N_X"]  # no signal was injected


def test_fit_on_an_uncalibrated_adc_run_says_what_to_do(tmp_path, capsys):
    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_campaign

    run = tmp_path / "raw"
    write_campaign(simulate_campaign(preset("demo"), rng=np.random.default_rng(3)), run)
    assert main(["fit", str(run)]) == 2
    err = capsys.readouterr().err
    assert "calibration.nc" in err
    assert "bayes-vip calibrate" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["calibrate", str(run), "--refine-lines", "xy"]) == 2
    assert "--refine-lines" in capsys.readouterr().err
    assert not (run / "results").exists()


def test_calibrate_refuses_an_energy_level_run(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "e"), "--level", "energy"]) == 0
    capsys.readouterr()
    assert main(["calibrate", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "run.level" in err
    assert len(err.strip().splitlines()) == 1


def test_shipped_peakfinder_loads_without_training_and_finds_the_lines():
    from bayes_vip.calibration.peakfinder import N_PARAMS
    from bayes_vip.calibration.synthetic import draw_spectra
    from bayes_vip.calibration.train import load_model, predict_adc

    model, meta = load_model()
    assert meta["n_params"] == N_PARAMS
    assert {"training", "metrics"} <= set(meta)
    d = draw_spectra(200, (6e4, 6e4), rng=np.random.default_rng(123))  # a 2-day batch
    err = np.abs(predict_adc(model, d["x"]) - d["y"])
    assert np.median(err) < 8.0
    # good enough to seed the line fits (their position window is +-35 ADC)
    assert np.mean(np.all(err < 30.0, axis=1)) > 0.97


def test_train_peakfinder_command_writes_a_loadable_model(tmp_path, capsys):
    from bayes_vip.calibration.train import load_model

    out = tmp_path / "pf"
    rc = main(
        [
            "train-peakfinder",
            "--out",
            str(out),
            "--n-train",
            "256",
            "--epochs",
            "1",
            "--n-finetune",
            "128",
            "--finetune-epochs",
            "1",
            "--metrics-n",
            "8",
            "--json",
        ]
    )
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["metrics"]["cnn"]) == 6
    _model, meta = load_model(out)
    assert meta["training"]["n_train"] == 256
    assert main(["train-peakfinder", "--out", str(out), "--epochs", "0"]) == 2
