"""The CLI as a user runs it.

Help, version, info, simulate, and every bad-input case (exit code 2, one line naming the
file and field, no traceback, no output files).
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot

from bayes_vip.cli import main
from tests.conftest import MEASURED_RUN, write_event_manifest

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


def _bad_run(tmp_path, text):
    run = tmp_path / "run"
    run.mkdir()
    root = (MEASURED_RUN / "../../../shared/data/vip2-2016-17/energyHistograms.root").resolve()
    (run / "run.toml").write_text(
        text.replace("../../../shared/data/vip2-2016-17/energyHistograms.root", str(root))
    )
    return run


def _truncated(tmp_path, measured_root):
    p = tmp_path / "trunc.root"
    p.write_bytes(measured_root.read_bytes()[:20000])
    return GOOD.replace("../../../shared/data/vip2-2016-17/energyHistograms.root", str(p))


def _nan_root(tmp_path, measured_root):
    p = tmp_path / "nan.root"
    counts = np.ones(10)
    counts[3] = np.nan
    with uproot.recreate(p) as f:
        for i in range(1, 7):
            f[f"withCurrentsdd{i}"] = (counts, np.linspace(1000, 1010, 11))
            f[f"noCurrentSmallsdd{i}"] = (np.ones(10), np.linspace(1000, 1010, 11))
    return GOOD.replace("../../../shared/data/vip2-2016-17/energyHistograms.root", str(p))


BAD_CASES = {
    # name: (make manifest text, what the one-line error must name)
    "missing data file": (
        lambda t, r: GOOD.replace("energyHistograms.root", "nope.root"),
        ["nope.root", "path", "not found"],
    ),
    "truncated data file": (_truncated, ["trunc.root", "truncated or corrupt"]),
    "wrong histogram name": (
        lambda t, r: GOOD.replace("withCurrentsdd{sdd}", "withCurrentSDD{sdd}"),
        ["energyHistograms.root", "histogram", "withCurrentSDD1"],
    ),
    "manifest missing a field": (
        lambda t, r: GOOD.replace("length_cm = 7.1", ""),
        ["run.toml", "target.length_cm", "missing"],
    ),
    "negative time": (
        lambda t, r: GOOD.replace("time_s = 7034400.0          # 81", "time_s = -5.0 # 81"),
        ["run.toml", "periods[0].time_s", "-5.0"],
    ),
    "NaN counts": (_nan_root, ["nan.root", "withCurrentsdd1", "NaN"]),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_exits_2_with_one_line(case, capsys, tmp_path, measured_root):
    make, must_name = BAD_CASES[case]
    run = _bad_run(tmp_path, make(tmp_path, measured_root))
    before = files_under(tmp_path)
    rc, out, err = run_cli(capsys, "info", str(run))
    assert rc == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in must_name:
        assert word in lines[0], (word, lines[0])
    assert files_under(tmp_path) == before  # no output files


def test_bad_event_lists(capsys, tmp_path):
    periods = """
[[periods]]
name = "on"
current_A = 100
time_s = 10
"""
    run = write_event_manifest(tmp_path / "ev", periods, hi=10, width=1)
    cases = [
        (
            {"period": ["on"], "sdd": [1], "batch": [0], "adc": [np.nan]},
            ["ev.parquet", "adc", "NaN"],
        ),
        (
            {"period": ["on"], "sdd": [1], "batch": [0], "adc": [1.0], "time_s": [-1.0]},
            ["ev.parquet", "time_s", "negative"],
        ),
        ({"period": ["of"], "sdd": [1], "batch": [0], "adc": [1.0]}, ["ev.parquet", "period"]),
        ({"period": ["on"], "sdd": [1], "adc": [1.0]}, ["ev.parquet", "batch", "missing column"]),
        ({"period": ["on"], "sdd": [1], "batch": [3], "adc": [1.0]}, ["ev.parquet", "batch"]),
    ]
    for cols, words in cases:
        pq.write_table(pa.table(cols), run / "ev.parquet")
        rc, out, err = run_cli(capsys, "info", str(run))
        assert rc == 2, err
        assert out == "", err
        assert len(err.strip().splitlines()) == 1, err
        assert all(w in err for w in words), (words, err)
    (run / "ev.parquet").write_bytes(b"PAR1 this is not parquet")
    rc, _, err = run_cli(capsys, "info", str(run))
    assert rc == 2
    assert "ev.parquet" in err
    assert "corrupt" in err


def test_simulate_bad_arguments_write_nothing(capsys, tmp_path):
    out_dir = tmp_path / "never"
    for args, word in (
        (["--signal-counts", "-3"], "--signal-counts"),
        (["--preset", "vip3"], "--preset"),
        (["--signal", "kz"], "--signal"),
    ):
        rc, _out, err = run_cli(capsys, "simulate", "--out", str(out_dir), *args)
        assert rc == 2, err
        assert word in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert not out_dir.exists()


def test_module_entry_point():
    r = subprocess.run(
        [sys.executable, "-m", "bayes_vip.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0
    assert "bayes-vip" in r.stdout
