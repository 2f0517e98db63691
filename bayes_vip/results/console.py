"""Terminal rendering of every command's result (rich), and the terminal progress reporter.

Each ``render_*`` takes a rich ``Console`` and the record a pipeline function returned, and
prints what a user reads; nothing here computes. ``TerminalProgress`` implements the
pipeline's progress protocol (``pipeline.progress``): a live display on a terminal, plain
lines every few seconds in a file or a pipe.

Tables are built by ``table``: headers and titles are text, not rich markup (a unit such as
"[eV]" is shown, not read as a style), and number columns never wrap, so that a number is
never split across lines; prose columns wrap first when the terminal is narrow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.progress import (
    BarColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Column, Table
from rich.text import Text

__all__ = [
    "NORMAL",
    "QUIET",
    "VERBOSE",
    "WIDE",
    "TerminalProgress",
    "describe",
    "duration",
    "expected_band",
    "render_calibrate",
    "render_convert",
    "render_fit",
    "render_fit_runs",
    "render_info",
    "render_report",
    "render_reproduce",
    "render_sample",
    "render_scan",
    "render_sensitivity",
    "render_simulate",
    "render_study_bands",
    "render_study_coverage",
    "render_study_frequentist",
    "render_study_sbc",
    "render_train",
    "render_transport",
    "table",
]

#: ``update``'s ``info`` (``pipeline.progress.Info``): a note, or named values.
Info = str | Mapping[str, Any]
#: Seconds between two plain lines of one counted task, when the output is not a terminal.
PLAIN_INTERVAL = 5.0
#: Seconds without a line after which a plain line says that the stage is still running.
HEARTBEAT = 30.0
#: The console's width when the output is not a terminal: a file or a pipe has no width, and
#: rich would otherwise wrap tables at 80 columns.
WIDE = 200
#: ``TerminalProgress``'s verbosity: ``--quiet``, the default, ``--verbose``.
QUIET, NORMAL, VERBOSE = -1, 0, 1


def duration(seconds: float) -> str:
    """A duration as a person says it: "8.2 s", "2 min 05 s", "1 h 02 min"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


@dataclass
class _Count:
    """The last report of a counted task, and when a line last showed it."""

    done: float
    total: float | None
    info: Info
    shown_at: float
    shown: bool = False


class _Display(RichProgress):
    """The live display: a row per task, and under a counted task its ``info`` (wrapped)."""

    def get_renderables(self) -> Iterable[RenderableType]:
        """Each task's row, and its info on the line below."""
        for task in self.tasks:
            yield self.make_tasks_table([task])
            if task.fields.get("info"):
                yield Padding(Text(task.fields["info"]), (0, 0, 0, 4))


class _BarColumn(BarColumn):
    """A bar for a count; none for a stage (no total)."""

    def render(self, task: Task) -> RenderableType:
        """The bar of ``task``, or nothing."""
        return Text("") if task.total is None else super().render(task)


class _CountColumn(ProgressColumn):
    """``done/total (percent)``; nothing for a stage (no total)."""

    def render(self, task: Task) -> Text:
        """The column's text for ``task``."""
        if task.total is None:
            return Text("")
        return Text(f"{task.completed:g}/{task.total:g} ({task.percentage:.0f} %)")


class _TimeColumn(ProgressColumn):
    """The time since the task started and, for a count, the time left: "1:05 (0:40 left)"."""

    def render(self, task: Task) -> Text:
        """The column's text for ``task``."""
        text = _clock(task.elapsed or 0.0)
        left = task.time_remaining
        if task.total is not None and left is not None and task.completed < task.total:
            text += f" ({_clock(left)} left)"
        return Text(text, style="progress.elapsed")


def _clock(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour."""
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}" if m < 60 else f"{m // 60}:{m % 60:02d}:{s:02d}"


class TerminalProgress:
    """The pipeline's progress (``pipeline.progress``) on a rich console.

    On a terminal, one live display (rich) shows the stage that runs, with a spinner and its
    time, and a bar per counted task: done/total, the time left, and the task's ``info``
    (for NUTS, all chains together: warm-up or sampling, divergences so far, step size). The
    display is removed when the work ends; every stage leaves a dim line, every counted task
    its last state.

    Without a terminal (a file, a pipe) nothing moves and no escape code is written: a line
    when a stage starts, a line per counted task every ``interval`` seconds and at the end of
    its stage (``NUTS iterations: 450/1300 (35 %), warm-up, 4 chains, divergences 0, step
    size 0.31``), and, after ``heartbeat`` seconds without a line, one saying that the stage
    still runs (a thread, started by the context manager).

    ``verbosity``: ``QUIET`` reports nothing; ``VERBOSE`` adds each stage's time when it ends
    and the ``details`` of a task's ``info`` (each chain's step size, leapfrog steps per
    iteration). ``live``: a live display (default: whether the console is a terminal);
    ``clock``: seconds, monotonic (tests pass a fake one). Use it as a context manager, so
    that the display is removed and the last lines written also when the work fails.
    """

    #: The first protocol's switch for numpyro's own bars: the samplers draw none now.
    bars = False

    def __init__(
        self,
        console: Console,
        *,
        verbosity: int = NORMAL,
        live: bool | None = None,
        interval: float = PLAIN_INTERVAL,
        heartbeat: float = HEARTBEAT,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.console = console
        self.verbosity = verbosity
        self.live = console.is_terminal and not console.is_dumb_terminal if live is None else live
        self.interval = interval
        self.heartbeat = heartbeat
        self.clock = clock
        self._lock = threading.RLock()
        self._stage: str | None = None
        self._stage_t0 = self._said = clock()
        self._counts: dict[str, _Count] = {}
        self._display: RichProgress | None = None
        self._rows: dict[str, TaskID] = {}
        self._done = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> TerminalProgress:
        """Enter the context: start the heartbeat (no terminal, not quiet)."""
        if not self.live and self.verbosity > QUIET and self.heartbeat > 0:
            self._beat = threading.Thread(target=self._beating, name="progress", daemon=True)
            self._beat.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave the context: the last lines, the display removed, also on an exception."""
        self.close()

    def close(self) -> None:
        """Stop the heartbeat; print the last lines; remove the live display."""
        self._done.set()
        if self._beat is not None:
            self._beat.join()
        with self._lock:
            self._end_stage()
            if self._display is not None:
                self._display.stop()
            self._display, self._rows = None, {}

    def refresh(self) -> None:
        """Draw the live display now (rich draws it ten times a second on its own)."""
        with self._lock:
            if self._display is not None:
                self._display.refresh()

    def _beating(self) -> None:
        while not self._done.wait(min(1.0, self.heartbeat)):
            self.tick()

    def tick(self) -> None:
        """Without a terminal: say that the stage still runs, ``heartbeat`` s after a line."""
        with self._lock:
            if self.live or self._stage is None or self.verbosity <= QUIET:
                return
            now = self.clock()
            if now - self._said >= self.heartbeat:
                self._line(f"{self._stage}: still running ({duration(now - self._stage_t0)})")

    def _line(self, text: str, style: str = "") -> None:
        """Print one line as it is: no markup, no highlighting, never wrapped."""
        self.console.print(Text(text, style=style), soft_wrap=True, highlight=False)
        self._said = self.clock()

    def _count_line(self, task: str, c: _Count) -> str:
        """``task: done/total (percent), info``."""
        text = f"{task}: {c.done:g}"
        if c.total:
            text += f"/{c.total:g} ({100 * c.done / c.total:.0f} %)"
        info = describe(c.info, details=self.verbosity >= VERBOSE)
        return f"{text}, {info}" if info else text

    def _end_stage(self) -> None:
        """The last state of the stage's counted tasks, and (``--verbose``) its time."""
        for task, c in self._counts.items():
            if self.live or not c.shown:
                self._line(self._count_line(task, c), "dim" if self.live else "")
        self._counts = {}
        if self._display is not None:
            for row in self._rows.values():
                self._display.remove_task(row)
            self._rows = {}
        if self._stage is not None and self.verbosity >= VERBOSE:
            took = duration(self.clock() - self._stage_t0)
            self._line(f"{self._stage}: {took}", "dim" if self.live else "")
        self._stage = None

    def _row(self, key: str, description: str, total: float | None) -> TaskID:
        """The live display's row ``key`` (the display started, the row added, as needed)."""
        if self._display is None:
            # the bar gives way on a narrow terminal; names, counts and times do not wrap
            self._display = _Display(
                SpinnerColumn(table_column=Column(no_wrap=True)),
                TextColumn("{task.description}", table_column=Column(no_wrap=True)),
                _BarColumn(bar_width=20),
                _CountColumn(table_column=Column(no_wrap=True)),
                _TimeColumn(table_column=Column(no_wrap=True)),
                console=self.console,
                transient=True,
            )
            self._display.start()
        if key not in self._rows:
            self._rows[key] = self._display.add_task(description, total=total, info="")
        return self._rows[key]

    def stage(self, name: str) -> None:
        """A stage starts: the previous one ends (its last lines), a line names this one."""
        if self.verbosity <= QUIET:
            return
        with self._lock:
            self._end_stage()
            self._stage, self._stage_t0 = name, self.clock()
            if self.live:
                self._line(f"{name} ...", "dim")
                self._row("", name, None)
            else:
                self._line(f"{name} ...")

    def update(self, task: str, done: float, total: float | None, info: Info = "") -> None:
        """``done`` of ``total`` of ``task``: its bar, or a line every ``interval`` seconds.

        Without a terminal, the last state of a phase (``info["phase"]``, as NUTS's warm-up)
        gets its line when the next phase starts, and a task's last state at the end of its
        stage.
        """
        if self.verbosity <= QUIET:
            return
        with self._lock:
            if self.live:
                text = describe(info, details=self.verbosity >= VERBOSE)
                row = self._row(task, task, total)
                self._display.update(row, completed=done, total=total, info=text)
                self._counts[task] = _Count(done, total, info, self.clock(), shown=True)
                return
            now = self.clock()
            c = self._counts.get(task)
            if c is None:  # the first report: a line ``interval`` seconds after the last
                c = self._counts[task] = _Count(done, total, info, self._said, shown=True)
            elif not c.shown and _phase(c.info) != _phase(info):
                self._line(self._count_line(task, c))  # the previous phase's last state
            c.done, c.total, c.info, c.shown = done, total, info, False
            if (total is not None and done >= total) or now - c.shown_at >= self.interval:
                self._line(self._count_line(task, c))
                c.shown, c.shown_at = True, now


def describe(info: Info, *, details: bool = False) -> str:
    """``info`` as one line of text: "warm-up, 4 chains, divergences 0, step size 0.31".

    A str is returned as it is. Of a mapping, a str value is shown as it is, a number after
    its name (a float to 3 significant digits), a list or tuple of numbers after its name;
    ``details`` (itself such a mapping) is added only with ``details=True``. Items whose
    value is ``None`` or ``""`` are left out.
    """
    if isinstance(info, str):
        return info
    parts = []
    for name, value in info.items():
        if name == "details":
            if details and isinstance(value, Mapping) and value:
                parts.append(describe(value))
        elif isinstance(value, str):
            if value:
                parts.append(value)
        elif isinstance(value, list | tuple):
            parts.append(" ".join([name, *(_number(v) for v in value)]))
        elif value is not None:
            parts.append(f"{name} {_number(value)}")
    return ", ".join(parts)


def _number(value: Any) -> str:
    """A float to 3 significant digits; anything else as ``str`` writes it."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _phase(info: Info) -> Any:
    """The ``phase`` of a mapping ``info``; None for a note."""
    return info.get("phase") if isinstance(info, Mapping) else None


def table(*headers: str, prose: Collection[int] = (0,), title: str | None = None) -> Table:
    """A table whose headers and title are text, and whose number columns never wrap.

    ``headers`` and ``title`` are shown as written (a unit "[eV]" is not rich markup).
    The columns at the indices ``prose`` (default: the first, the row's name) wrap when the
    terminal is narrow; the others hold numbers, are not wrapped and are aligned right, so
    that a number is never split across lines. A header may break at a newline.
    """
    t = Table(title=None if title is None else escape(title))
    for i, h in enumerate(headers):
        if i in prose:
            t.add_column(escape(h))
        else:
            t.add_column(escape(h), no_wrap=True, justify="right")
    return t


def render_info(console: Console, s: dict[str, Any]) -> None:
    """``bayes-vip info``: periods, SDD counts and binning of a Campaign."""
    b = s["binning"]
    width = f"{b['width']:g} {b['unit']}" if b["width"] else "non-uniform"
    console.print(
        f"[bold]{s['run']}[/] ({s['kind']}, {s['level']} level): "
        f"{len(s['periods'])} periods x {len(s['sdds'])} SDDs, "
        f"{s['n_batches_max']} batch{'es' if s['n_batches_max'] > 1 else ''} at most per period"
    )
    console.print(f"binning: {b['lo']:g}-{b['hi']:g} {b['unit']}, {b['n_bins']} bins of {width}")
    sch = s.get("schedule")
    if sch:
        console.print(
            f"current switched in time: {sch['intervals']:,} intervals, calibration batches "
            f"of {sch['batch_s'] / 3600:g} h on the run clock"
        )
    t = table("period", "current (A)", "time (s)", "time (d)", "batches", "counts")
    for p in s["periods"]:
        t.add_row(
            p["name"],
            f"{p['current_A']:g}",
            f"{p['time_s']:.0f}",
            f"{p['time_days']:.2f}",
            str(p["batches"]),
            f"{p['counts']:,}",
        )
    console.print(t)
    t = table("SDD", *s["counts"].keys())
    for sdd in s["sdds"]:
        t.add_row(str(sdd), *(f"{s['counts'][p][str(sdd)]:,}" for p in s["counts"]))
    console.print(t)
    if s["outside_binning"]:
        console.print(
            f"entries outside the binning (ROOT under/overflow or events outside "
            f"\\[binning]), not analysed: {s['outside_binning']:,}"
        )


def render_simulate(console: Console, r: dict[str, Any]) -> None:
    """``bayes-vip simulate``: what was written."""
    console.print(
        f"wrote {r['manifest']} and {r['data']}: {r['events']:,} events, "
        f"{r['signal_counts_realised']} PEP events"
    )


def render_fit(console: Console, out: dict[str, Any]) -> None:
    """``bayes-vip fit``: fit quality of both steps, N_X and the limits table."""
    q1, q2 = out["step1"], out["step2"]
    console.print(
        f"[bold]{out['run']}[/]: classic fit ({out['statistic']}), PEP line {out['signal']['key']}"
    )
    # lines short enough for an 80-column terminal: a label is not wrapped away from its value
    for name, q in (("step 1", q1), ("step 2", q2)):
        console.print(
            f"  {name} {q['range_eV'][0]:g}-{q['range_eV'][1]:g} eV: chi2/ndf = "
            f"{q['statistic']:.1f}/{q['ndf']} = {q['chi2_ndf']:.3f}"
        )
        console.print(
            f"    valid {q['is_valid']}, accurate covariance {q['has_accurate_covar']}, at "
            f"limit: {q['parameters_at_limit'] or 'none'}"
        )
    fw = out["fwhm_cu_ka1_eV"]
    console.print(
        f"  FWHM at Cu Ka1: on {fw['on'][0]:.1f} +- {fw['on'][1]:.1f} eV, off "
        f"{fw['off'][0]:.1f} +- {fw['off'][1]:.1f} eV"
    )
    console.print(
        f"  energy shift {out['energy_shift_eV'][0]:+.1f} +- {out['energy_shift_eV'][1]:.1f} eV"
    )
    console.print(f"  N_X = {out['N_X']:.1f} +- {out['sigma_N_X']:.1f}")
    n_int = out["conversion"]["n_int_model"]
    t = table(
        "upper limit",
        "N_X [counts]",
        f"beta^2/2\n(N_int: {n_int})",
        "expected: median\n(+-1 sigma)",
    )
    b = out["conversion"]["beta2half_upper_limits"]
    for k, v in out["upper_limits_counts"].items():
        t.add_row(k, f"{v:.1f}", f"{b[k]:.3e}", _band(expected_band(out, k)))
    console.print(t)
    if "toys" in out:
        tt = out["toys"]

        def lim(v: float | None) -> str:
            if v is not None:
                return f"{v:.1f}"
            why = tt.get("unresolved", {}).get("0.95")
            return f"not resolved ({escape(why)})" if why else "above the grid"

        console.print(
            f"  from toys ({tt['toys_per_mu']} per N_X value, {tt['toys_background']} "
            f"background-only): CLs 95 % {lim(tt['cls'].get('0.95'))}, profile 95 % "
            f"{lim(tt['profile'].get('0.95'))}; {tt['study']}"
        )
    if "scan" in out:
        sc, lee = out["scan"], out["scan"]["largest_excess"]
        console.print(
            f"  energy scan {sc['window_eV'][0]:g}-{sc['window_eV'][1]:g} eV: largest local "
            f"Z = {lee['z_local']:.2f} at {lee['energy_eV']:g} eV, global p = "
            f"{lee['p_global']:.3g} (Gross-Vitells); {sc['json']}"
        )
    console.print(f"wrote {out['json']} and {len(out['figures'])} figures")
    if out.get("report"):
        console.print(f"report: {out['report']}")


def expected_band(classic: dict[str, Any], limit: str) -> list[float] | None:
    """``[-1 sigma, median, +1 sigma]`` expected counts of a limit of ``classic.json``.

    ``limit`` is a key of its ``upper_limits_counts`` ("CLs 0.95", "profile 0.9"); None for
    a limit without asymptotic bands (the 3-sigma one) or a record without them.
    """
    method, _, level = limit.partition(" ")
    bands = classic.get("expected_limits", {}).get("counts", {})
    got = bands.get({"CLs": "cls", "profile": "profile"}.get(method, ""), {}).get(level)
    return None if got is None else [got["-1"], got["+0"], got["+1"]]


def _band(band: list[float] | None) -> str:
    """An expected limit as "median (lower-upper)", or "" without one."""
    return "" if band is None else f"{band[1]:.0f} ({band[0]:.0f}-{band[2]:.0f})"


def render_reproduce(console: Console, out: dict[str, Any]) -> None:
    """``bayes-vip reproduce``: one row per published analysis, and (d)'s diagnostics."""
    t = table(
        "analysis",
        "N_X [counts]",
        "limit on N_X",
        f"limit on beta^2/2\n(N_int {out['n_int_model']})",
        "limit",
        prose=(0, 4),
        title=f"{out['run']}: the published analyses, spectra summed as {out['sum']}",
    )
    for r in out["rows"]:
        t.add_row(
            r["method"],
            f"{r['N_X']:.1f} +- {r['sigma_N_X']:.1f}",
            f"{r['limit']:.1f}",
            f"{r['limit_beta2half']:.3e}",
            r["limit_rule"],
        )
    console.print(t)
    d = out["rows"][-1]
    if "r_hat" in d:
        console.print(
            f"  (d): {d['draws']} draws, R-hat {d['r_hat']:.3f}, bulk ESS {d['ess_bulk']:.0f}, "
            f"{d['divergences']} divergences"
        )
    console.print(f"wrote {out['json']}")


def render_scan(console: Console, out: dict[str, Any]) -> None:
    """``bayes-vip scan``: the limits at each energy and the largest excess."""
    level = 100 * out["level"]
    t = table(
        "energy [eV]",
        "N_X [counts]",
        "local Z",
        f"profile {level:g} %",
        f"CLs {level:g} %",
        "expected CLs (+-1 sigma)",
        f"CLs {level:g} %: beta^2/2",
        title=f"{out['run']}: a line at {out['window_eV'][0]:g}-{out['window_eV'][1]:g} eV",
    )
    for p in out["points"]:
        if not p["valid"]:
            t.add_row(f"{p['energy_eV']:g}", "no valid fit", "", "", "", "", "")
            continue
        ex = p["expected_cls"]
        t.add_row(
            f"{p['energy_eV']:g}",
            f"{p['N_X']:.1f} +- {p['sigma_N_X']:.1f}",
            f"{p['z_local']:.2f}",
            f"{p['profile']:.1f}",
            f"{p['cls']:.1f}",
            _band([ex["-1"], ex["+0"], ex["+1"]]),
            f"{p['beta2half']['cls']:.3e}",
        )
    console.print(t)
    lee = out["largest_excess"]
    console.print(
        f"  largest excess at {lee['energy_eV']:g} eV: local Z = {lee['z_local']:.2f} "
        f"(p = {lee['p_local']:.3g}); {lee['upcrossings']} upcrossing(s) of Z = 1 in the "
        f"window; global p = {lee['p_global']:.3g} (Gross-Vitells)"
    )
    console.print(f"wrote {out['json']}" + (" and a figure" if out.get("figures") else ""))


def render_calibrate(console: Console, out: dict[str, Any], written: str) -> None:
    """``bayes-vip calibrate``: cells, warnings and seed 002's table 1."""
    c = out["cells"]
    console.print(
        f"[bold]{out['run']}[/]: {c['calibrated']} batches calibrated, {c['excluded']} "
        f"excluded, {c['fallback_peak_search']} with the fallback peak search "
        f"({out['seconds']:.1f} s)"
    )
    for w in out["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(w)}")
    t = table("Cu Ka (eq. 4)", "position [eV]", "FWHM [eV]", "chi2/ndf")
    for k, v in out["table_1"].items():
        t.add_row(
            k,
            f"{v['position_eV'][0]:.1f} +- {v['position_eV'][1]:.1f}",
            f"{v['fwhm_eV'][0]:.1f} +- {v['fwhm_eV'][1]:.1f}",
            f"{v['chi2_ndf']:.2f}",
        )
    console.print(t)
    console.print(f"wrote {written}, calibration.json and figures")


def render_fit_runs(console: Console, out: dict[str, Any]) -> None:
    """``bayes-vip fit RUN1 RUN2 ...``: every run's classic result and the combined one."""
    console.print(
        f"[bold]{out['run']}[/]: classic fits combined in beta^2/2 ({out['statistic']}), "
        f"PEP line {out['signal']['key']}"
    )
    t = table(
        "run",
        "beta^2/2 fitted",
        "profile 95 %",
        "CLs 95 %",
        title=f"classic limits on beta^2/2 (N_int {out['conversion']['n_int_model']})",
    )
    for r in out["runs"]:
        ul = r["beta2half_upper_limits"]
        t.add_row(
            r["run"],
            f"{r['beta2half_hat']:.3e}",
            f"{ul.get('profile 0.95', float('nan')):.3e}",
            f"{ul.get('CLs 0.95', float('nan')):.3e}",
        )
    ul = out["conversion"]["beta2half_upper_limits"]
    t.add_row(
        "[bold]combined[/]",
        f"{out['beta2half_hat']:.3e} +- {out['sigma_beta2half']:.1e}",
        f"{ul['profile 0.95']:.3e}",
        f"{ul['CLs 0.95']:.3e}",
    )
    console.print(t)
    figs = out.get("figures", {})
    console.print(f"wrote {out['json']}" + (f" and {len(figs)} figure(s)" if figs else ""))


def _render_runs(console: Console, res: dict[str, Any]) -> None:
    """The runs' own Bayesian limits beside the combined ones (``sample RUN1 RUN2 ...``)."""
    levels = [q for q in res["upper_limits"]["beta2half"] if q.replace(".", "").isdigit()]
    t = table(
        "run",
        *(f"{float(q):.1%} limit on beta^2/2" for q in levels),
        "gates",
        title="each run alone and combined (Bayesian, flat in beta^2/2)",
    )
    for r in res["runs"]:
        ul = r["beta2half_upper_limits"]
        t.add_row(
            r["run"],
            *(f"{ul[q]['value']:.3e}" for q in levels),
            "passed" if r["gates_passed"] else "[red]failed[/]",
        )
    ul = res["upper_limits"]["beta2half"]
    t.add_row(
        "[bold]combined[/]",
        *(f"{ul[q]['value']:.3e} +- {ul[q]['mcse']:.1e}" for q in levels),
        "passed" if res["gates"]["passed"] else "[red]failed[/]",
    )
    console.print(t)


def render_sample(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip sample``: diagnostics, the classic-vs-Bayesian table and the gates."""
    d = res["diagnostics"]
    console.print(
        f"[bold]{res['run']}[/] ({res['level']} level, {res['model']['cells']} cells, "
        f"{res['model']['bins']} bins): {d['chains']} chains x {d['draws']} draws in "
        f"{res['seconds']['nuts']:.0f} s ({res['model']['chain_method']})"
    )
    console.print(
        f"  R-hat max {d['r_hat_max']:.4f} ({d['r_hat_max_site']}), ESS bulk min "
        f"{d['ess_bulk_min']:.0f}, tail min {d['ess_tail_min']:.0f}, divergences "
        f"{d['divergences']}; ESS/s of beta^2/2: {res['ess_per_second_beta2half']:.1f}"
    )
    sp = res.get("sampler", {})
    if sp:
        ext = sp.get("extensions", [])
        console.print(
            f"  {sp['gradients']} gradients, {sp['gradients_per_effective_draw']:.1f} per "
            f"effective draw of beta^2/2"
            + (f"; extended {len(ext)} time(s) to {sp['draws_per_chain']} draws" if ext else "")
        )
        for r in sp.get("retries", []):
            console.print(
                f"  run again at target acceptance {sp['target_accept']:g}: the run at "
                f"{r['target_accept']:g} failed ({escape('; '.join(r['failed']))})"
            )
    t = table(
        "upper limit",
        "N_X [counts]",
        f"beta^2/2\n(N_int {res['n_int_model']})",
        "expected: median\n(+-1 sigma)",
        title=f"classic and Bayesian limits, PEP line {res['signal']['key']}",
    )
    for r in res["comparison"]:
        n = f"{r['N_X']:.1f}" + (f" +- {r['mcse_N_X']:.1f}" if r["mcse_N_X"] is not None else "")
        b = f"{r['beta2half']:.3e}" + (
            f" +- {r['mcse_beta2half']:.1e}" if r["mcse_beta2half"] is not None else ""
        )
        t.add_row(r["method"], n, b, _band(r.get("expected_N_X")))
    console.print(t)
    if res.get("runs"):
        _render_runs(console, res)
    bf = res["bayes_factor"]
    console.print(
        f"  Savage-Dickey Bayes factor, signal vs none: {bf['BF_10_signal_vs_no_signal']:.3g} "
        f"(prior upper bound {res['prior_upper']:.3g})"
    )
    if res["gates"]["passed"]:
        console.print(
            "[green]sampler gates passed[/] (R-hat <= 1.01, ESS >= 400, no divergences, "
            "MCSE of the 99.7 % limits <= 3 %)"
        )
    else:
        console.print(
            "[bold red]SAMPLER GATES FAILED[/]: "
            + escape("; ".join(res["gates"]["failed"]))
            + f" (after {d['draws']} draws per chain; sample.max_draws raises the bound)"
            + " -- these limits are NOT reliable"
        )
    console.print(
        f"wrote {res['posterior']}, {res['json']} and {len(res.get('figures', []))} figures"
        + (f"; report: {res['report']}" if res.get("report") else "")
    )


def _cp(c: dict[str, Any]) -> str:
    """A coverage fraction with its Clopper-Pearson 95 % interval, as percent."""
    if not c["n"]:
        return "-"
    lo, hi = c["cp95"]
    return f"{100 * c['fraction']:.1f} ({100 * lo:.1f}-{100 * hi:.1f}) of {c['n']}"


def render_study_coverage(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip study coverage``: coverage per injected signal, false detections."""
    console.print(
        f"[bold]coverage of the {res['run']} layout[/] ({res['level']} level, "
        f"{', '.join(res['methods'])}): {res['toys_done']} of {res['toys_total']} toys done, "
        f"sigma(N_X) {res['reference']['sigma_N_X']:.1f} counts (reference toy)"
    )
    bayes = "bayes" in res["methods"]
    cols = ["injected [sigma]", "toys (errors)", "classic profile 95 %"]
    if bayes:
        cols += ["Bayesian 95 %, all", "Bayesian 95 %, gates passed", "gates passed"]
    # a fraction with its interval and count is several words: those columns wrap between them
    t = table(
        *cols,
        prose=range(len(cols)),
        title="P(upper limit >= truth) [%] with Clopper-Pearson 95 % intervals",
    )
    for lv in res["multiples"]:
        c = lv["coverage"]["95"]
        row = [f"{lv['multiple']:g}", f"{lv['toys']} ({lv['errors']})", _cp(c["classic_profile"])]
        if bayes:
            row += [_cp(c["bayes_all"]), _cp(c["bayes_gates_passed"]), _cp(lv["gates_passed"])]
        t.add_row(*row)
    console.print(t)
    for lv in res["multiples"]:
        for name, c in lv.get("false_detection", {}).items():
            console.print(f"  false detections at zero signal, {name}: {_cp(c)}")
        for msg in lv["error_messages"]:
            console.print(f"  [red]toy error[/] at {lv['multiple']:g} sigma: {escape(msg)}")
    console.print(
        f"{res['toys_per_s_per_worker']:.4f} toys per second per worker; "
        f"wrote {res['store']}, {res['json']} and {res['figure']}"
    )


def render_study_bands(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip study bands``: the expected limits' median and bands, the observed ones."""
    console.print(
        f"[bold]expected limits of the {res['run']} layout[/] ({res['level']} level): "
        f"{res['toys_done']} of {res['toys_total']} background-only toys, "
        f"{res['errors']} failed"
        + (f", gates passed in {res['gates_passed']}" if "gates_passed" in res else "")
    )
    t = table(
        "limit on N_X",
        "-2 sigma",
        "-1 sigma",
        "median",
        "+1 sigma",
        "+2 sigma",
        "observed (percentile)",
        title="upper limits of background-only toys [counts]",
    )
    for col, v in res["limits"].items():
        b = v["counts"]
        obs = (
            f"{v['observed_counts']:.1f} ({100 * v['observed_percentile']:.0f} %)"
            if "observed_counts" in v
            else "-"
        )
        t.add_row(col, *(f"{b[k]['value']:.1f}" for k in ("-2", "-1", "median", "+1", "+2")), obs)
    console.print(t)
    for msg in res["error_messages"]:
        console.print(f"  [red]toy error[/]: {escape(msg)}")
    console.print(
        f"{res['toys_per_s_per_worker']:.4f} toys per second per worker; "
        f"wrote {res['store']}, {res['json']} and {res['figure']}"
    )


def render_sensitivity(console: Console, res: dict[str, Any]) -> None:
    """The sensitivity decomposition: per variant, sigma, expected limit, bias, coverage."""
    console.print(
        f"[bold]sensitivity decomposition[/] ({res['preset']}-like toys, {res['statistic']}): "
        f"{res['toys_done']} of {res['toys_total']} toys, {res['errors']} failed"
    )
    verdicts = res["choice"]["verdicts"]
    t = table(
        "variant",
        "sd of N_X hat (0)",
        "quoted sigma",
        "exp. CLs 95 %",
        *(f"mean pull ({s:g})" for s in res["injected"]),
        *(f"UL95 covers ({s:g})" for s in res["injected"] if s > 0),
        "kept",
        prose=(0, 4 + len(res["injected"]) + sum(s > 0 for s in res["injected"])),
        title="background-only toys (0) and injected counts; uncertainties are standard errors",
    )
    for key, v in res["variants"].items():
        lv = {x["injected"]: x for x in v["injected"]}
        z = lv.get(0.0, {})
        row = [
            key,
            f"{z['N_X']['sd']:.1f} +- {z['N_X']['sd_err']:.1f}" if z else "-",
            f"{z['sigma_quoted_median']:.1f}" if z else "-",
            f"{z.get('expected_cls95_median', float('nan')):.1f}" if z else "-",
        ]
        row += [f"{lv[s]['pull']['mean']:+.2f} +- {lv[s]['pull']['mean_err']:.2f}" for s in lv]
        row += [_cp(lv[s]["coverage_ul95"]) for s in lv if s > 0]
        d = verdicts[key]
        row.append("yes" if d["passes"] else "no: " + "; ".join(d["reasons"]))
        t.add_row(*row)
    console.print(t)
    console.print(f"chosen: {res['choice']['chosen']}; wrote {res['store']} and {res['figure']}")


def render_study_frequentist(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip study frequentist``: the limits from toys beside the asymptotic ones."""
    console.print(
        f"[bold]frequentist limits of {res['run']} from toys[/]: {res['toys_per_mu']} per "
        f"N_X value ({len(res['grid'])} values, 0-{res['grid'][-1]:.0f} counts), "
        f"{res['toys_background']} background-only; {res['toys_failed']} failed"
    )
    asym = res["asymptotic"]

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    t = table(
        "CL",
        "CLs (toys)",
        "CLs (asymptotic)",
        "profile (toys)",
        "profile (asymptotic)",
        "expected CLs, toys:\nmedian (+-1 sigma)",
        "Feldman-Cousins (toys)",
        title="upper limits on N_X [counts]",
    )
    for cl, v in res["cls"].items():
        e = res["expected_cls"][cl] or {}
        fc = res["feldman_cousins"][cl]
        t.add_row(
            cl,
            num(v),
            num(asym["cls"][cl]),
            num(res["profile"][cl]),
            num(asym["profile"][cl]),
            f"{num(e.get('+0'))} ({num(e.get('-1'))}-{num(e.get('+1'))})",
            "-" if fc is None else f"[{fc[0]:.1f}, {num(fc[1])}]",
        )
    console.print(t)
    for cl, why in res.get("unresolved", {}).items():
        console.print(f"  {cl}: not resolved by the toys ({escape(why)})")
    for msg in res["error_messages"]:
        console.print(f"  [red]toy error[/]: {escape(msg)}")
    console.print(f"wrote {res['store']}, {res['json']} and {res['figure']}")


def render_study_sbc(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip study sbc``: uniformity of every quantity's ranks."""
    control = res["fano_shift"]
    what = f"negative control (data Fano x {1 + control:g})" if control else "SBC"
    g = res["gates_passed"]
    console.print(
        f"[bold]{what} of the {res['run']} layout[/] ({res['level']} level): "
        f"{res['sims_done']} of {res['sims_total']} simulations, {res['errors']} failed, "
        f"gates passed in {g['k']} of {g['n']}, L = {res['rank_draws']}"
    )
    t = table(
        "quantity",
        "chi-square / dof",
        "p",
        "ECDF outside\nthe 95 % band",
        "uniform",
        "posterior sd\n/ prior sd",
        title="ranks of the truth among the posterior draws (all simulations)",
    )
    for name, q in res["quantities"].items():
        st = q["all"]
        if st["n"] == 0:
            continue
        t.add_row(
            name,
            f"{st['chi2']:.1f} / {st['chi2_dof']}",
            f"{st['chi2_p']:.3g}",
            f"{st['ecdf_outside_points']} of {len(st['ecdf'])} points",
            "[green]yes[/]" if st["uniform"] else "[red]no[/]",
            f"{q['median_posterior_sd_over_prior_sd']:.3g}",
        )
    console.print(t)
    for msg in res["error_messages"]:
        console.print(f"  [red]simulation error[/]: {escape(msg)}")
    console.print(
        f"{res['sims_per_s_per_worker']:.4f} simulations per second per worker; "
        f"wrote {res['store']}, {res['json']} and {res['figure']}"
    )


def render_transport(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip transport``: every quantity with unit and equation."""
    tab = table(
        "quantity",
        "value",
        "unit",
        "seed 001",
        prose=(0, 2, 3),
        title=f"{res['experiment']}: I = {res['inputs']['target']['current_A']:g} A",
    )
    for r in res["quantities"]:
        tab.add_row(r["quantity"], f"{r['value']:.4g}", r["unit"], r["equation"])
    console.print(tab)
    console.print(f"wrote {res['json']} and {len(res.get('figures', {}))} figures")


def render_convert(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip convert``: the exposure's factors and beta^2/2."""
    exp = res["exposure"]
    console.print(
        f"N_new = {exp['n_new']:.4e}   capture = {exp['capture_probability']:g}   "
        f"N_int ({exp['n_int_model']}) = {exp['n_int']:.4e}   efficiency = {exp['efficiency']:g}"
    )
    console.print(f"beta^2/2 <= {res['beta2half']:.3e}   (for N_X = {res['counts']:g})")


def render_train(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip train-peakfinder``: time, where the model went, and its metrics."""
    console.print(f"trained in {res['seconds']:.0f} s; wrote {res['out']}")
    t = table("total counts", "median |err| [ADC]", "95 % |err| [ADC]", "all 5 within 10 ADC")
    for row in res["metrics"]["cnn"]:
        t.add_row(
            f"{row['counts']:.0e}",
            f"{max(row['median_abs_err']):.1f} (worst line)",
            f"{max(row['p95_abs_err']):.1f} (worst line)",
            f"{row['all_within_10']:.1%}",
        )
    console.print(t)


def render_report(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip report``: the page written, and whether its posterior belongs to its limits."""
    rs = res["result_set"]
    style = {"mismatch": "bold red", "match": "green"}.get(rs["status"], "yellow")
    console.print(f"wrote {res['report']}")
    console.print(f"[{style}]{escape(rs['message'])}[/]")
