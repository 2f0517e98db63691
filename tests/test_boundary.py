"""The bad-input matrix: every case exits 2 with one line naming it, and writes nothing.

Each case builds its input in a fresh folder and runs the command as a user would (the CLI's
``main``, in this process). It must exit with code 2, print nothing on stdout and one line on
stderr that names the file, the field or the option (``words``), with no traceback, and
leave the folder as it was: no new file, no partial result. The same cases, run as separate
processes and timed, are ``benchmarks/bench_bad_inputs.py`` (every case answers in under
2 s: options and outputs are checked before JAX loads and before any work).

Cases come from the manifest and data checks, and from issue 16's list of 88 inputs tried
as a new user would (output paths that cannot be written, damaged results, bad options,
event lists with strings or negative ADC values, checkpoints).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot

from bayes_vip.cli import main
from tests.conftest import MEASURED_ROOT, MEASURED_RUN, write_event_manifest

RELATIVE_ROOT = "../../../shared/data/vip2-2016-17/energyHistograms.root"
GOOD = (MEASURED_RUN / "run.toml").read_text()

#: name -> builder(tmp) returning (argv, words the one line must hold)
CASES: dict[str, Callable[[Path], tuple[list[str], list[str]]]] = {}
#: Cases whose folder is read-only (mode 0555): root writes there all the same, so for root
#: the test makes ``check_writable`` see the mode (``unwritable``), and the benchmark, which
#: runs each case in a process of its own, leaves them out.
READ_ONLY = ("simulate out read only", "fit with read only results")


def case(fn: Callable[[Path], tuple[list[str], list[str]]]):
    CASES[fn.__name__.replace("_", " ")] = fn
    return fn


def measured(tmp: Path, text: str = GOOD, name: str = "run") -> Path:
    """A copy of the measured run's manifest in ``tmp/name`` reading the shared file."""
    run = tmp / name
    run.mkdir()
    (run / "run.toml").write_text(text.replace(RELATIVE_ROOT, str(MEASURED_ROOT)))
    return run


def events(tmp: Path, cols: dict) -> Path:
    """An ADC-level run reading an event list with columns ``cols``."""
    periods = '[[periods]]\nname = "on"\ncurrent_A = 100\ntime_s = 10\n'
    run = write_event_manifest(tmp / "ev", periods, hi=10, width=1)
    pq.write_table(pa.table(cols), run / "ev.parquet")
    return run


# ---------------------------------------------------------------------- manifests and data
@case
def missing_data_file(tmp):
    run = measured(tmp, GOOD.replace("energyHistograms.root", "nope.root"))
    return ["info", str(run)], ["run.toml", "sources[0].path", "nope.root", "not found"]


@case
def truncated_root_file(tmp):
    p = tmp / "trunc.root"
    p.write_bytes(MEASURED_ROOT.read_bytes()[:20000])
    run = measured(tmp, GOOD.replace(RELATIVE_ROOT, str(p)))
    # uproot's whole message, on one line, without its own repetition of the path
    return ["info", str(run)], ["trunc.root", "truncated or corrupt", "received 0 bytes"]


@case
def wrong_histogram_name(tmp):
    run = measured(tmp, GOOD.replace("withCurrentsdd{sdd}", "withCurrentSDD{sdd}"))
    return ["info", str(run)], ["energyHistograms.root", "histogram", "withCurrentSDD1"]


@case
def manifest_missing_a_field(tmp):
    run = measured(tmp, GOOD.replace("length_cm = 7.1", ""))
    return ["info", str(run)], ["run.toml", "target.length_cm", "missing"]


@case
def negative_time(tmp):
    run = measured(tmp, GOOD.replace("time_s = 7034400.0          # 81", "time_s = -5.0 # 81"))
    return ["info", str(run)], ["run.toml", "periods[0].time_s", "-5.0"]


@case
def nan_counts(tmp):
    p = tmp / "nan.root"
    counts = np.ones(10)
    counts[3] = np.nan
    with uproot.recreate(p) as f:
        for i in range(1, 7):
            f[f"withCurrentsdd{i}"] = (counts, np.linspace(1000, 1010, 11))
            f[f"noCurrentSmallsdd{i}"] = (np.ones(10), np.linspace(1000, 1010, 11))
    run = measured(tmp, GOOD.replace(RELATIVE_ROOT, str(p)))
    return ["info", str(run)], ["nan.root", "withCurrentsdd1", "NaN"]


@case
def adc_values_stored_as_strings(tmp):
    run = events(tmp, {"period": ["on"], "sdd": [1], "batch": [0], "adc": ["12"]})
    return ["info", str(run)], ["ev.parquet", "adc", "numbers"]


@case
def negative_adc_values(tmp):
    run = events(tmp, {"period": ["on"] * 2, "sdd": [1, 1], "batch": [0, 0], "adc": [3, -4]})
    return ["info", str(run)], ["ev.parquet", "adc", "negative", "-4"]


@case
def nan_adc_values(tmp):
    run = events(tmp, {"period": ["on"], "sdd": [1], "batch": [0], "adc": [np.nan]})
    return ["info", str(run)], ["ev.parquet", "adc", "NaN"]


@case
def negative_event_time(tmp):
    cols = {"period": ["on"], "sdd": [1], "batch": [0], "adc": [1.0], "time_s": [-1.0]}
    return ["info", str(events(tmp, cols))], ["ev.parquet", "time_s", "negative"]


@case
def unknown_period_in_events(tmp):
    run = events(tmp, {"period": ["of"], "sdd": [1], "batch": [0], "adc": [1.0]})
    return ["info", str(run)], ["ev.parquet", "period", "of"]


@case
def event_list_missing_a_column(tmp):
    run = events(tmp, {"period": ["on"], "sdd": [1], "adc": [1.0]})
    return ["info", str(run)], ["ev.parquet", "batch", "missing column"]


@case
def corrupt_parquet(tmp):
    run = events(tmp, {"period": ["on"], "sdd": [1], "batch": [0], "adc": [1.0]})
    (run / "ev.parquet").write_bytes(b"PAR1 this is not parquet")
    return ["info", str(run)], ["ev.parquet", "corrupt"]


# ---------------------------------------------------------------------- a current schedule
def scheduled(tmp: Path, schedule: str, cols: dict | None = None) -> Path:
    """An ADC-level run with the ``[schedule]`` table ``schedule`` and events ``cols``."""
    cols = cols or {"sdd": [1], "adc": [1.0], "time_s": [1.0]}
    run = write_event_manifest(tmp / "sch", schedule, hi=10, width=1)
    pq.write_table(pa.table(cols), run / "ev.parquet")
    return run


@case
def schedule_intervals_overlap(tmp):
    run = scheduled(tmp, "[schedule]\nintervals = [[0, 10, 100], [5, 20, 0]]\n")
    return ["info", str(run)], ["run.toml", "schedule.intervals[1]", "before the previous"]


@case
def schedule_beside_periods(tmp):
    toml = '[[periods]]\nname = "on"\ncurrent_A = 100\ntime_s = 10\n'
    run = scheduled(tmp, toml + "[schedule]\nintervals = [[0, 10, 100]]\n")
    return ["info", str(run)], ["run.toml", "periods", "either"]


@case
def schedule_file_missing_a_column(tmp):
    run = scheduled(tmp, '[schedule]\nfile = "sched.csv"\n')
    (run / "sched.csv").write_text("start_s,stop_s\n0,10\n")
    return ["info", str(run)], ["sched.csv", "current_A", "missing column"]


@case
def schedule_file_with_nan(tmp):
    run = scheduled(tmp, '[schedule]\nfile = "sched.csv"\n')
    (run / "sched.csv").write_text("start_s,stop_s,current_A\n0,10,100\n10,nan,0\n")
    return ["info", str(run)], ["sched.csv", "stop_s", "row 2", "NaN"]


@case
def schedule_negative_current(tmp):
    run = scheduled(tmp, "[schedule]\nintervals = [[0, 10, -100]]\n")
    return ["info", str(run)], ["run.toml", "schedule.intervals[0]", "negative current"]


@case
def event_outside_the_schedule(tmp):
    cols = {"sdd": [1, 1], "adc": [1.0, 2.0], "time_s": [1.0, 15.0]}
    run = scheduled(tmp, "[schedule]\nintervals = [[0, 10, 100], [20, 30, 0]]\n", cols)
    return ["info", str(run)], ["ev.parquet", "time_s", "1 events outside", "15"]


@case
def scheduled_events_without_time(tmp):
    cols = {"period": ["on"], "sdd": [1], "batch": [0], "adc": [1.0]}
    run = scheduled(tmp, "[schedule]\nintervals = [[0, 10, 100], [10, 20, 0]]\n", cols)
    return ["info", str(run)], ["ev.parquet", "time_s", "missing column"]


@case
def simulate_negative_cycle(tmp):
    argv = ["simulate", "--out", str(tmp / "never"), "--cycle-s", "-50"]
    return argv, ["--cycle-s", "-50"]


@case
def simulate_drift_out_of_range(tmp):
    argv = ["simulate", "--out", str(tmp / "never"), "--background-drift", "3"]
    return argv, ["--background-drift", "3"]


# ---------------------------------------------------------------------- outputs
@case
def simulate_out_below_a_file(tmp):
    (tmp / "afile").write_text("")
    return ["simulate", "--out", str(tmp / "afile" / "sub")], ["--out", "afile is a file"]


@case
def transport_out_below_a_file(tmp):
    (tmp / "afile").write_text("")
    return ["transport", "--out", str(tmp / "afile" / "x")], ["--out", "afile is a file"]


@case
def simulate_out_read_only(tmp):
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)  # as root the mode does not stop a write: ``unwritable`` says no too
    return ["simulate", "--out", str(ro / "new")], ["--out", "ro", "not writable"]


@case
def fit_with_read_only_results(tmp):
    run = measured(tmp)
    (run / "results").mkdir()
    (run / "results").chmod(0o555)
    return ["fit", str(run)], ["results", "not writable"]


@case
def fit_where_results_is_a_file(tmp):
    run = measured(tmp)
    (run / "results").write_text("")
    return ["fit", str(run)], ["results", "is a file"]


@case
def study_out_below_a_file(tmp):
    run = measured(tmp)
    (tmp / "afile").write_text("")
    argv = ["study", "frequentist", str(run), "--out", str(tmp / "afile" / "s")]
    return argv, ["--out", "afile is a file"]


# ---------------------------------------------------------------------- damaged results
@case
def sample_with_a_truncated_classic_json(tmp):
    run = measured(tmp)
    (run / "results").mkdir()
    (run / "results" / "classic.json").write_text('{"schema": 2, "N_X": 1')
    return ["sample", str(run)], ["classic.json", "not valid JSON"]


@case
def resume_without_a_checkpoint(tmp):
    return ["sample", str(measured(tmp)), "--resume"], ["sample-checkpoint.npz", "no checkpoint"]


@case
def resume_from_a_corrupt_checkpoint(tmp):
    run = measured(tmp)
    (run / "results").mkdir()
    (run / "results" / "sample-checkpoint.npz").write_bytes(b"PK\x03\x04 not a zip")
    return ["sample", str(run), "--resume"], ["sample-checkpoint.npz", "truncated or corrupt"]


# ---------------------------------------------------------------------- options
#: Options of a command on the measured run: name -> (command, options, words).
RUN_OPTIONS = {
    "chains not a number": ("sample", ["--chains", "abc"], ["--chains", "integer", "abc"]),
    "negative prior upper": ("sample", ["--prior-upper", "-1"], ["--prior-upper", "> 0"]),
    "zero bin width": ("fit", ["--bin-eV", "0"], ["--bin-eV", "> 0"]),
    "unknown statistic": ("fit", ["--statistic", "gauss"], ["--statistic", "gauss"]),
    "scan options without scan": ("fit", ["--from-eV", "7000"], ["--from-eV", "--scan"]),
    "resume and extend together": (
        "sample", ["--resume", "--extend", "5"], ["--extend", "--resume"]
    ),
    "negative extend": ("sample", ["--extend", "-5"], ["--extend", "-5"]),
    "checkpoint every not a chunk": ("sample", ["--checkpoint-every", "30"],
                                     ["--checkpoint-every"]),
    "line sd out of range": ("sample", ["--line-sd-eV", "500"], ["--line-sd-eV", "500"]),
    "unknown fit background": ("fit", ["--background", "flat"], ["--background", "flat"]),
    "unknown sample background": ("sample", ["--background", "x"], ["--background", "x"]),
    "zero drift days": ("sample", ["--drift-days", "0"], ["--drift-days", "> 0"]),
}  # fmt: skip


def _run_option(command, options, words):
    return lambda tmp: ([command, str(measured(tmp)), *options], words)


for _name, _spec in RUN_OPTIONS.items():
    CASES[_name] = _run_option(*_spec)


@case
def efficiency_not_a_number(tmp):
    argv = ["convert", "--counts", "1", "--current-A", "1", "--time-s", "1", "--length-cm",
            "1", "--mfp-cm", "1", "--efficiency", "abc"]  # fmt: skip
    return argv, ["--efficiency", "valid number"]


@case
def convert_missing_options(tmp):
    return ["convert", "--counts", "100"], ["Missing option", "--current-A"]


@case
def unknown_preset(tmp):
    return ["simulate", "--out", str(tmp / "never"), "--preset", "vip3"], ["--preset", "vip3"]


@case
def negative_signal_counts(tmp):
    argv = ["simulate", "--out", str(tmp / "never"), "--signal-counts", "-3"]
    return argv, ["--signal-counts"]


@case
def unknown_signal_line(tmp):
    return ["simulate", "--out", str(tmp / "never"), "--signal", "kz"], ["--signal", "kz"]


@case
def study_with_zero_workers(tmp):
    argv = ["study", "frequentist", str(measured(tmp)), "--workers", "0"]
    return argv, ["--workers", "0"]


@case
def run_folder_without_manifest(tmp):
    (tmp / "empty").mkdir()
    return ["fit", str(tmp / "empty")], ["run.toml", "not found"]


@case
def report_of_a_missing_run(tmp):
    return ["report", str(tmp / "nowhere")], ["run.toml", "not found"]


def files_under(path: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


@pytest.fixture
def unwritable(monkeypatch):
    """Folders with mode 0555 are unwritable to ``check_writable``, also for root."""
    import bayes_vip.io.outputs as outputs

    real = os.access

    def access(path, mode):
        if mode & os.W_OK and Path(path).exists() and not Path(path).stat().st_mode & 0o200:
            return False
        return real(path, mode)

    monkeypatch.setattr(outputs.os, "access", access)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    name, tmp_path, capsys, measured_root, unwritable
):
    argv, words = CASES[name](tmp_path)
    before = files_under(tmp_path)
    try:
        rc = main(argv)
    finally:
        for p in tmp_path.rglob("*"):  # let pytest remove the read-only folders
            if p.is_dir():
                p.chmod(0o755)
    out, err = capsys.readouterr()
    assert rc == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bayes-vip: error: ")
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert files_under(tmp_path) == before, "a file was written or changed"
