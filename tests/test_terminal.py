"""What a user sees on the terminal, and in a file or a pipe.

Progress without a terminal is plain lines (no escape codes); with one, a live display shows
NUTS's iterations, divergences and step size. --quiet and --verbose, before or after the
command. Every command's --help shows its units. Tables never split a number, at 80 columns
on a terminal or laid out wide in a file. Other libraries' warnings reach the user only with
--verbose. Nothing here samples or fits: the tests drive the reporter and the renderers.
"""

from __future__ import annotations

import io
import re
import warnings
from typing import ClassVar

import pytest
import typer
from rich.console import Console
from rich.text import Text

from bayes_vip import cli
from bayes_vip.calibration.calibrate import CalibrationWarning
from bayes_vip.cli import app, main
from bayes_vip.results import console as render
from bayes_vip.results.console import NORMAL, QUIET, VERBOSE, TerminalProgress, describe
from tests.conftest import MEASURED_RUN, SEED000_CONVERT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def nuts_info(done: int, warmup: int = 300) -> dict:
    """What the sampler reports (``bayes.nuts.WhitenedNUTS._report``)."""
    phase = "warm-up" if done <= warmup else "sampling"
    return {
        "phase": phase,
        "chains": "4 chains",
        "divergences": 3 if phase == "warm-up" else 0,
        "step size": 0.3123,
        "details": {"step sizes": [0.30, 0.32], "leapfrog steps per iteration": 7.5},
    }


def drive(progress: TerminalProgress, clock: Clock) -> None:
    """A classic fit of 41 s without a count, then 1300 NUTS iterations in 26 s."""
    progress.stage("classic fit")
    clock.t += 31
    progress.tick()  # the heartbeat's thread calls this every second
    clock.t += 10
    progress.stage("NUTS")
    for done in range(50, 1301, 50):
        clock.t += 1
        progress.update("NUTS iterations", done, 1300, nuts_info(done))
    progress.close()


def test_progress_in_a_file_is_plain_lines_every_few_seconds():
    out, clock = io.StringIO(), Clock()
    progress = TerminalProgress(Console(file=out, width=80), clock=clock)
    assert not progress.live
    drive(progress, clock)
    text = out.getvalue()
    assert "\x1b" not in text
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[:3] == ["classic fit ...", "classic fit: still running (31.0 s)", "NUTS ..."]
    nuts = lines[3:]
    assert 5 <= len(nuts) <= 8, nuts  # 26 s at a line per 5 s, the warm-up's end, the end
    # the warm-up's last state, and the end: every line counts, divergences and step size
    assert "NUTS iterations: 300/1300 (23 %), warm-up, 4 chains, divergences 3, " in text
    assert nuts[-1] == (
        "NUTS iterations: 1300/1300 (100 %), sampling, 4 chains, divergences 0, step size 0.312"
    )
    assert all(", divergences " in line and ", step size " in line for line in nuts)


def test_progress_on_a_terminal_is_one_live_display():
    out = io.StringIO()
    progress = TerminalProgress(Console(file=out, width=100, force_terminal=True))
    assert progress.live
    progress.stage("NUTS")
    progress.update("NUTS iterations", 450, 1300, nuts_info(450))
    progress.refresh()
    shown = ANSI.sub("", out.getvalue())
    assert "NUTS iterations" in shown
    assert "450/1300 (35 %)" in shown
    assert "sampling, 4 chains, divergences 0, step size 0.312" in shown
    assert "step sizes" not in shown  # the details are for --verbose
    progress.close()  # the display goes; the stage and the last state stay
    last = "NUTS iterations: 450/1300 (35 %), sampling, 4 chains, divergences 0, step size 0.312"
    assert any(line.endswith(last) for line in ANSI.sub("", out.getvalue()).splitlines())


def test_quiet_reports_nothing_and_verbose_more():
    said = {}
    for name, verbosity in (("quiet", QUIET), ("normal", NORMAL), ("verbose", VERBOSE)):
        out, clock = io.StringIO(), Clock()
        drive(TerminalProgress(Console(file=out), verbosity=verbosity, clock=clock), clock)
        said[name] = out.getvalue()
    assert said["quiet"] == ""
    assert said["verbose"].startswith(said["normal"].splitlines()[0])
    assert "classic fit: 41.0 s" in said["verbose"]
    assert "NUTS: 26.0 s" in said["verbose"]
    assert "step sizes 0.3 0.32, leapfrog steps per iteration 7.5" in said["verbose"]
    assert "step sizes" not in said["normal"]
    assert "41.0 s" not in said["normal"]


def test_describe_writes_a_note_or_named_values():
    assert describe("val loss 1e-3") == "val loss 1e-3"
    info = nuts_info(10)
    assert describe(info) == "warm-up, 4 chains, divergences 3, step size 0.312"
    assert describe(info, details=True).endswith(", step sizes 0.3 0.32, leapfrog steps per "
                                                 "iteration 7.5")  # fmt: skip


class Staged(TerminalProgress):
    """The CLI's reporter, with one stage and two warnings as the work starts."""

    seen: ClassVar[list[int]] = []

    def __enter__(self):
        """Record the verbosity; a stage and two warnings."""
        Staged.seen.append(self.verbosity)
        self.stage("a stage")
        warnings.warn("a library's note", FutureWarning, stacklevel=1)
        warnings.warn("a batch has no Cu line", CalibrationWarning, stacklevel=1)
        return super().__enter__()


@pytest.mark.parametrize(
    ("where", "flag", "verbosity"),
    [
        ("after", [], NORMAL),
        ("after", ["--quiet"], QUIET),
        ("after", ["-v"], VERBOSE),
        ("before", ["-q"], QUIET),
        ("before", ["--verbose"], VERBOSE),
    ],
)
def test_quiet_and_verbose_before_or_after_the_command(where, flag, verbosity, capsys, monkeypatch):
    monkeypatch.setattr(render, "TerminalProgress", Staged)
    Staged.seen.clear()
    convert = [a for a in SEED000_CONVERT if a != "--json"]
    argv = [*flag, *convert] if where == "before" else [*convert, *flag]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert Staged.seen == [verbosity]
    assert "beta^2/2 <= " in out  # the result, also with --quiet
    assert ("a stage ..." in out) == (verbosity > QUIET)
    assert ("done in " in out) == (verbosity == VERBOSE)
    # our own warnings always; another library's only with --verbose
    shown = [str(w.message) for w in caught]
    assert "a batch has no Cu line" in shown
    assert ("a library's note" in shown) == (verbosity == VERBOSE)


def test_quiet_and_verbose_together_are_refused(capsys):
    assert main(["-q", *SEED000_CONVERT, "-v"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "--quiet or --verbose" in err[0], err


def _commands(group, path=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = dict(_commands(typer.main.get_command(app)))


def test_no_help_text_is_eaten_as_markup():
    """Every help text and docstring shows its brackets: "[eV]" is a unit, not a style."""
    root = typer.main.get_command(app)
    texts = [root.help] + [p.help for p in root.params if getattr(p, "help", None)]
    for cmd in COMMANDS.values():
        texts += [cmd.help or ""] + [p.help for p in cmd.params if getattr(p, "help", None)]
    for text in texts:
        assert Text.from_markup(text).plain == text.replace("\\[", "["), text


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_command_help_shows_its_units(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert main([*path, "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    cmd = COMMANDS[path]
    units = {
        u for p in cmd.params for u in re.findall(r"\[[^\]]+\]", (p.help or "").replace("\\", ""))
    }
    for unit in units:
        assert unit in shown, (path, unit)
    for flag in ("--quiet", "--verbose"):
        assert flag in shown, (path, flag)
    expected = {
        ("convert",): {"[A]", "[s]", "[cm]", "[cm^2]"},
        ("sample",): {"[eV]"},
        ("fit",): {"[eV]"},
        ("transport",): {"[A]"},
        ("calibrate",): {"[h]"},
        ("study", "coverage"): {"[classic sigma]"},
    }
    assert expected.get(path, set()) <= units


def _fit_record(n_int: str = "close-encounter") -> dict:
    """A ``bayes-vip fit`` record with the measured run's large chi-square."""
    step = {
        "range_eV": [3500.0, 11000.0],
        "is_valid": True,
        "has_accurate_covar": True,
        "statistic": 25060.7,
        "ndf": 1276,
        "chi2_ndf": 19.640,
        "parameters_at_limit": [],
    }
    limits = {"3sigma (seed 000: 3 x sigma(N_X))": 1057.3, "profile 0.95": 612.4,
              "CLs 0.95": 645.09}  # fmt: skip
    band = {"-1": 401.2, "+0": 560.7, "+1": 789.3}
    return {
        "run": "vip2-2016-17",
        "statistic": "poisson",
        "signal": {"key": "Cu Ka1 PEP"},
        "step1": step,
        "step2": step | {"range_eV": [7000.0, 11000.0]},
        "fwhm_cu_ka1_eV": {"on": [188.04, 1.01], "off": [175.2, 1.1]},
        "energy_shift_eV": [4.7, 2.6],
        "N_X": -137.14,
        "sigma_N_X": 352.43,
        "conversion": {
            "n_int_model": n_int,
            "beta2half_upper_limits": {k: v * 5.6e-31 for k, v in limits.items()},
        },
        "upper_limits_counts": limits,
        "expected_limits": {"counts": {"profile": {"0.95": band}, "cls": {"0.95": band}}},
        "json": "runs/vip2-2016-17/results/classic.json",
        "figures": ["a.png"],
        "report": "runs/vip2-2016-17/results/report.html",
    }


FIT_NUMBERS = [
    "chi2/ndf = 25060.7/1276 = 19.640",
    "energy shift +4.7 +- 2.6 eV",
    "1057.3",
    "612.4",
    "645.1",
    "5.921e-28",
    "3.429e-28",
    "561 (401-789)",
    "N_X = -137.1 +- 352.4",
]


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "file"])
def test_a_table_at_80_columns_splits_no_number(terminal, monkeypatch):
    """On an 80-column terminal the prose wraps, the numbers stay whole; a file is wide."""
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    if terminal:
        console = Console(file=out, force_terminal=True, color_system=None, width=80)
    else:  # as the CLI makes it for a file or a pipe
        monkeypatch.setattr(cli, "Console", lambda **kw: Console(file=out, **kw))
        console = cli._console(json_out=False)
        assert console.width == render.WIDE
    render.render_fit(console, _fit_record())
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= (80 if terminal else render.WIDE)
    for number in FIT_NUMBERS:
        assert any(number in line for line in lines), (number, out.getvalue())
    assert "N_X [counts]" in out.getvalue()  # a unit in a header is text, not markup
    if not terminal:  # in a file every table row is one line
        assert any("3sigma (seed 000: 3 x sigma(N_X))" in line for line in lines)


def test_info_in_a_pipe_splits_no_number(capsys, monkeypatch, measured_root):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["info", str(MEASURED_RUN)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    lines = out.splitlines()
    for number in ("1,325,367", "5,624,078", "7034400", "81.42", "203,718,957"):
        assert any(number in line for line in lines), number
    assert any(line.startswith("entries outside the binning") and line.endswith("203,718,957")
               for line in lines)  # fmt: skip
