"""The scan over the PEP line's energy (``analysis.scan``, ``bayes-vip scan``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from bayes_vip.analysis.scan import look_elsewhere
from bayes_vip.cli import main
from bayes_vip.errors import InputError
from bayes_vip.pipeline.scan import ScanRequest


def test_look_elsewhere_counts_upcrossings_and_never_lowers_p():
    e = np.arange(10.0)
    q0 = [0.0, 2.0, 0.5, 0.2, 1.5, 9.0, 3.0, 0.1, 0.0, 0.0]  # two upcrossings of 1
    lee = look_elsewhere(e, q0)
    assert lee["upcrossings"] == 2
    assert lee["energy_eV"] == 5.0
    assert lee["p_local"] == pytest.approx(stats.norm.sf(3.0))
    assert lee["p_global"] == pytest.approx(stats.norm.sf(3.0) + 2 * math.exp(-(9.0 - 1.0) / 2))
    assert lee["z_global"] < lee["z_local"]
    # no excess above u0: nothing to correct, p_global = 1
    quiet = look_elsewhere(e, [0.1] * 10)
    assert quiet["upcrossings"] == 0
    assert quiet["p_global"] == 1.0
    assert quiet["z_global"] == 0.0


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"step": 0.0}, "scan.step_eV"),
        ({"step": -5.0}, "scan.step_eV"),
        ({"start": 7800.0, "stop": 7700.0}, "scan.stop_eV"),
        ({"start": 6500.0}, "scan.start_eV"),
        ({"stop": 12000.0}, "scan.stop_eV"),
        ({"step": 0.5}, "scan.step_eV"),  # 601 energies
        ({"level": 1.0}, "scan.level"),
        ({"level": 0.4}, "scan.level"),
        ({"start": math.nan}, "scan.start_eV"),
    ],
)
def test_impossible_windows_are_refused(kw, field):
    with pytest.raises(InputError) as exc:
        ScanRequest.validated(**kw)
    assert exc.value.field == field


def test_the_window_includes_its_ends():
    assert ScanRequest.validated(7700, 7760, 20).energies() == [7700, 7720, 7740, 7760]
    assert ScanRequest.validated(7700, 7765, 20).energies() == [7700, 7720, 7740, 7760]


def test_bad_scan_option_exits_2_before_any_fit(tmp_path, capsys):
    run = tmp_path / "no-run-needed"
    rc = main(["scan", str(run), "--step-eV", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1
    assert "step" in err[0]
    assert not run.exists()  # nothing simulated, nothing written


@pytest.mark.slow
def test_a_line_off_the_nominal_energy_is_found_where_it_is(tmp_path, capsys):
    """A demo run with 250 PEP counts injected at 7800 eV, not at the nominal 7746.7 eV.

    ``bayes-vip fit --scan``: the scan's largest local excess must lie within one step of
    7800 eV and be significant there, its limits must sit above the injected counts, and
    the record must hold every energy of the window; classic.json holds its summary.
    """
    run = tmp_path / "demo"
    argv = ["simulate", "--preset", "demo", "--level", "energy", "--seed", "3", "--out", str(run)]
    assert main([*argv, "--signal", "7800", "--signal-counts", "250"]) == 0
    capsys.readouterr()
    rc = main(["fit", str(run), "--scan", "--from-eV", "7650", "--to-eV", "7950",
               "--step-eV", "50", "--json"])  # fmt: skip
    assert rc == 0
    classic = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    out = json.loads((run / "results" / "scan.json").read_text())
    assert [p["energy_eV"] for p in out["points"]] == [7650, 7700, 7750, 7800, 7850, 7900, 7950]
    lee = out["largest_excess"]
    assert abs(lee["energy_eV"] - 7800) <= 50
    assert lee["z_local"] > 3
    at = next(p for p in out["points"] if p["energy_eV"] == 7800)
    assert at["cls"] > at["N_X"] - at["sigma_N_X"]
    assert (run / "results" / "scan_poisson.png").stat().st_size > 10_000
    # the summary in classic.json is the scan's, point by point
    summary = json.loads((run / "results" / "classic.json").read_text())["scan"]
    assert summary == classic["scan"]
    assert summary["largest_excess"] == lee
    for p, q in zip(summary["points"], out["points"], strict=True):
        assert p["energy_eV"] == q["energy_eV"]
        assert p["cls"] == q["cls"]
        assert p["expected_cls_median"] == q["expected_cls"]["+0"]


def test_fit_refuses_an_impossible_scan_window_before_any_fit(tmp_path, capsys):
    run = tmp_path / "no-run-needed"
    rc = main(["fit", str(run), "--scan", "--from-eV", "7900", "--to-eV", "7600"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1
    assert "--to-eV" in err[0] or "stop" in err[0]
    assert not run.exists()


def test_scan_options_without_scan_are_refused(tmp_path, capsys):
    run = tmp_path / "no-run-needed"
    assert main(["fit", str(run), "--from-eV", "7500", "--cl", "0.9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--from-eV, --cl: set without --scan" in err[0]
    assert not run.exists()
