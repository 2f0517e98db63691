"""The CLI as a user runs it: help, version, info, simulate.

Every bad-input case (exit code 2, one line naming the file and field, no traceback, no
output files) is in the matrix of ``tests/test_boundary.py``.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import uproot

from bayes_vip.cli import main
from tests.conftest import MEASURED_RUN

GOOD = (MEASURED_RUN / "run.toml").read_text()


def run_cli(capsys, *args):
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def files_under(path):
    return sorted(p.relative_to(path) for p in path.rglob("*"))


def test_version_and_help_from_the_installed_command():
    beside = Path(sys.executable).parent / "bayes-vip"  # the venv running the tests
    exe = str(beside) if beside.exists() else shutil.which("bayes-vip")
    if exe is None:
        pytest.fail("bayes-vip is not installed (pip install -e .)")
    v = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert v.returncode == 0
    assert v.stdout.startswith("bayes-vip ")
    h = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert h.returncode == 0
    for cmd in ("info", "simulate"):
        assert cmd in h.stdout


def test_info_json_on_the_measured_run(capsys, measured_root):
    rc, out, _err = run_cli(capsys, "info", str(MEASURED_RUN), "--json")
    assert rc == 0
    s = json.loads(out)
    assert [p["name"] for p in s["periods"]] == ["current-on", "current-off"]
    assert s["sdds"] == [1, 2, 3, 4, 5, 6]
    f = uproot.open(measured_root)
    for p, prefix in (("current-on", "withCurrent"), ("current-off", "noCurrentSmall")):
        for sdd in range(1, 7):
            assert s["counts"][p][str(sdd)] == int(f[f"{prefix}sdd{sdd}"].values().sum(dtype=float))
    assert s["binning"] == {"unit": "eV", "lo": 1000.0, "hi": 10000.0, "n_bins": 9000, "width": 1.0}


def test_info_table(capsys):
    rc, out, _ = run_cli(capsys, "info", str(MEASURED_RUN))
    assert rc == 0
    assert "current-on" in out
    assert "1,325,367" in out


def test_simulate_then_info(capsys, tmp_path):
    out_dir = tmp_path / "demo"
    rc, out, _ = run_cli(
        capsys,
        "simulate",
        "--preset",
        "demo",
        "--out",
        str(out_dir),
        "--seed",
        "5",
        "--signal-counts",
        "50",
        "--json",
    )
    assert rc == 0
    res = json.loads(out)
    assert res["events"] > 1e5
    assert res["signal_counts_realised"] > 0
    rc, out, _ = run_cli(capsys, "info", str(out_dir), "--json")
    s = json.loads(out)
    assert rc == 0
    assert s["level"] == "adc"
    assert len(s["sdds"]) == 2
    assert sum(p["counts"] for p in s["periods"]) + s["outside_binning"] == res["events"]


def test_module_entry_point():
    r = subprocess.run(
        [sys.executable, "-m", "bayes_vip.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0
    assert "bayes-vip" in r.stdout


def test_a_failed_sampling_is_one_line_and_exit_3(monkeypatch, capsys):
    """``SamplingFailed`` (a collapsed warm-up) exits 3 like failed gates; bad input still 2."""
    import bayes_vip.cli as cli
    from bayes_vip.errors import InputError, SamplingFailed

    for exc, code in ((SamplingFailed("NUTS warm-up collapsed"), 3), (InputError("bad"), 2)):

        def app(*args, exc=exc, **kw):
            raise exc

        monkeypatch.setattr(cli, "app", app)
        assert main(["sample"]) == code
        err = capsys.readouterr().err
        assert err == f"bayes-vip: error: {exc}\n"
