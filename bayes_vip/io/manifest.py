"""Run manifests: ``runs/<name>/run.toml``, parsed and validated at the boundary.

The schema is documented in ``docs/manifest.md``. Every problem raises ``InputError``
naming the manifest file and the field (``periods[1].time_s``), so the CLI can print one
line and exit 2.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from bayes_vip.errors import InputError

__all__ = [
    "MANIFEST_NAME",
    "SOURCE_FORMATS",
    "Binning",
    "Efficiency",
    "Manifest",
    "Period",
    "Schedule",
    "Source",
    "Target",
    "load_manifest",
    "manifest_path",
    "read_toml",
    "schedule_periods",
]

MANIFEST_NAME = "run.toml"
SOURCE_FORMATS = ("root-th1", "root-ttree", "parquet")
_LEVELS = ("energy", "adc")
_KINDS = ("measured", "simulated")


@dataclass(frozen=True)
class Period:
    """A data-taking period at constant current.

    ``batches_s`` are the live times [s] of its calibration batches, in order; they sum to
    ``time_s``. A period with one batch has ``batches_s == (time_s,)``.
    """

    name: str
    current_A: float
    time_s: float
    batches_s: tuple[float, ...]
    note: str = ""


@dataclass(frozen=True)
class Schedule:
    """A current switched in time: live intervals on the run clock, each at one current.

    Intervals ``[start_s, stop_s)`` at ``current_A`` are grouped into calibration batches of
    ``batch_s`` seconds from the first start. Arrays are numpy float64 of one length,
    sorted, non-overlapping. The intervals are live time: dead time is taken out of them by
    whoever writes the schedule.
    """

    start_s: Any  # np.ndarray (n,)
    stop_s: Any
    current_A: Any
    batch_s: float
    source: str  # "intervals" (the manifest's table) or the file's path

    @property
    def t0(self) -> float:
        """Start of the run clock's first interval [s]."""
        return float(self.start_s[0])

    @property
    def n_block(self) -> int:
        """Number of calibration batches on the run clock."""
        return math.floor((float(self.stop_s[-1]) - self.t0) / self.batch_s - 1e-9) + 1

    @property
    def currents(self) -> list[float]:
        """The distinct currents [A], highest first: the order of the periods."""
        return sorted({float(c) for c in self.current_A}, reverse=True)

    def cells(self, rows: Any, blk: Any, blocks: tuple[tuple[int, ...], ...]) -> tuple[Any, Any]:
        """Period and batch index of intervals ``rows`` in run-clock batches ``blk``.

        The period is that of the interval's current (``currents``' order); the batch is
        the index of ``blk`` among its period's ``blocks`` (``schedule_periods``).
        """
        import numpy as np

        ip = np.searchsorted(-np.asarray(self.currents), -self.current_A[rows])
        lut = np.full((len(blocks), self.n_block), -1, dtype=np.int64)
        for p, bl in enumerate(blocks):
            lut[p, list(bl)] = np.arange(len(bl))
        return ip.astype(np.int64), lut[ip, blk]

    def block_durations(self) -> Any:
        """Each interval's live time in each calibration batch it overlaps.

        Returns three arrays of one length: interval index, batch index, seconds (an
        interval across a batch edge gives one entry per batch).
        """
        import numpy as np

        a = (self.start_s - self.t0) / self.batch_s
        b = (self.stop_s - self.t0) / self.batch_s
        kb = np.floor(a + 1e-12).astype(np.int64)
        ke = np.minimum(np.floor(b - 1e-12).astype(np.int64), self.n_block - 1)
        rows, blocks = [np.arange(a.size)], [kb]
        for k in range(1, int((ke - kb).max(initial=0)) + 1):  # intervals over batch edges
            sel = ke - kb >= k
            rows.append(np.flatnonzero(sel))
            blocks.append(kb[sel] + k)
        r, blk = np.concatenate(rows), np.concatenate(blocks)
        edge_lo = self.t0 + blk * self.batch_s
        edge_hi = np.where(blk == self.n_block - 1, np.inf, edge_lo + self.batch_s)
        secs = np.minimum(self.stop_s[r], edge_hi) - np.maximum(self.start_s[r], edge_lo)
        return r, blk, secs


@dataclass(frozen=True)
class Source:
    """One data file. ``histogram`` is a key template with ``{sdd}`` for ROOT TH1 sources."""

    format: str
    path: Path
    period: str | None = None
    histogram: str | None = None
    sdds: tuple[int, ...] = ()
    tree: str | None = None


@dataclass(frozen=True)
class Target:
    """Copper target: effective length D and conduction-electron mean free path mu [cm]."""

    length_cm: float
    mean_free_path_cm: float
    note: str = ""
    cross_section_cm2: float | None = None


@dataclass(frozen=True)
class Efficiency:
    """Detection efficiency of a PEP X-ray from the target, with its relative uncertainty."""

    value: float
    rel_uncertainty: float
    note: str = ""
    #: Runs analysed together whose manifests name the same ``group`` share the part
    #: ``shared_rel`` of their relative uncertainty (the same Monte Carlo and geometry, say):
    #: their log efficiencies correlate with covariance shared_rel_1 x shared_rel_2
    #: (``bayes.combine.efficiency_layout``). "" : the run's efficiency is independent.
    group: str = ""
    shared_rel: float = 0.0


@dataclass(frozen=True)
class Binning:
    """Histogram binning for event lists: edges lo, lo+width, ..., hi (ADC or eV)."""

    lo: float
    hi: float
    width: float


@dataclass(frozen=True)
class Manifest:
    """A validated run manifest. ``path`` is the run.toml file; ``run_dir`` its folder."""

    path: Path
    name: str
    kind: str
    level: str
    description: str
    periods: tuple[Period, ...]
    sources: tuple[Source, ...]
    target: Target
    efficiency: Efficiency
    binning: Binning | None
    simulation: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    #: a current switched in time (``[schedule]``); its periods are derived from it
    schedule: Schedule | None = None
    #: per period, the run-clock calibration batch of each of its batches (scheduled runs)
    blocks: tuple[tuple[int, ...], ...] = ()

    @property
    def run_dir(self) -> Path:
        """The run directory: the folder holding the manifest."""
        return self.path.parent

    def period(self, name: str) -> Period:
        """The period called ``name``; raises KeyError if there is none."""
        for p in self.periods:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (paths as strings)."""
        d = asdict(self)
        d["path"] = str(self.path)
        for s in d["sources"]:
            s["path"] = str(s["path"])
        d.pop("raw")
        if self.schedule is not None:
            sc = self.schedule
            d["schedule"] = {
                "source": sc.source,
                "intervals": int(sc.start_s.size),
                "batch_s": sc.batch_s,
                "currents_A": sorted({float(c) for c in sc.current_A}),
            }
        return d


def manifest_path(run: str | os.PathLike) -> Path:
    """``run`` may be a run directory or its run.toml; returns the run.toml path."""
    p = Path(run)
    return p if p.suffix == ".toml" else p / MANIFEST_NAME


class _Reader:
    """Typed access to a TOML table that reports the full field path on error."""

    def __init__(self, file: Path, table: dict[str, Any], prefix: str) -> None:
        self.file, self.table, self.prefix = file, table, prefix

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, key: str, message: str) -> InputError:
        return InputError(message, file=self.file, field=self._name(key))

    def get(
        self,
        key: str,
        kind: type | tuple[type, ...],
        *,
        required: bool = True,
        default: Any = None,
    ) -> Any:  # a TOML value: str, float, bool, list, dict, ...
        if key not in self.table:
            if required:
                raise self.fail(key, "missing required field")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    @overload
    def number(
        self,
        key: str,
        *,
        required: Literal[True] = ...,
        default: float | None = ...,
        lo: float | None = ...,
        lo_open: bool = ...,
        hi: float | None = ...,
    ) -> float: ...

    @overload
    def number(
        self,
        key: str,
        *,
        required: bool,
        default: float | None = ...,
        lo: float | None = ...,
        lo_open: bool = ...,
        hi: float | None = ...,
    ) -> float | None: ...

    def number(
        self,
        key: str,
        *,
        required: bool = True,
        default: float | None = None,
        lo: float | None = None,
        lo_open: bool = False,
        hi: float | None = None,
    ) -> float | None:
        v = self.get(key, float, required=required, default=default)
        if v is None:
            return v
        if not math.isfinite(v):
            raise self.fail(key, f"must be a finite number, got {v}")
        if lo is not None and (v < lo or (lo_open and v == lo)):
            op = ">" if lo_open else ">="
            raise self.fail(key, f"must be {op} {lo}, got {v}")
        if hi is not None and v > hi:
            raise self.fail(key, f"must be <= {hi}, got {v}")
        return v

    @overload
    def sub(self, key: str, *, required: Literal[True] = ...) -> _Reader: ...

    @overload
    def sub(self, key: str, *, required: bool) -> _Reader | None: ...

    def sub(self, key: str, *, required: bool = True) -> _Reader | None:
        t = self.get(key, dict, required=required)
        return None if t is None else _Reader(self.file, t, self._name(key))

    def tables(self, key: str) -> list[_Reader]:
        arr = self.get(key, list)
        if not arr:
            raise self.fail(key, "must list at least one entry")
        out = []
        for i, t in enumerate(arr):
            if not isinstance(t, dict):
                msg = "expected a table"
                raise InputError(msg, file=self.file, field=f"{self._name(key)}[{i}]")
            out.append(_Reader(self.file, t, f"{self._name(key)}[{i}]"))
        return out


def _resolve(run_dir: Path, raw_path: str) -> Path:
    """Expand ``~`` and ``$VARS``; relative paths are relative to the run directory."""
    p = Path(os.path.expandvars(os.path.expanduser(raw_path)))
    return p if p.is_absolute() else (run_dir / p)


def read_toml(path: Path, *, missing: str) -> dict[str, Any]:
    """A TOML file's contents; a missing (``missing``) or invalid file is an InputError."""
    if not path.is_file():
        raise InputError(missing, file=path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"not valid TOML: {exc}"
        raise InputError(msg, file=path) from None


def _periods(top: _Reader) -> tuple[Period, ...]:
    """The ``[[periods]]`` of a manifest without a schedule."""
    periods: list[Period] = []
    for pr in top.tables("periods"):
        pname = pr.get("name", str)
        current = pr.number("current_A", lo=0.0)
        time_s = pr.number("time_s", lo=0.0, lo_open=True)
        batches = pr.get("batches_s", list, required=False, default=None)
        if batches is None:
            batches_t: tuple[float, ...] = (time_s,)
        else:
            if not batches:
                raise pr.fail(key="batches_s", message="must list at least one batch live time")
            for i, b in enumerate(batches):
                if isinstance(b, bool) or not isinstance(b, int | float) or not b > 0:
                    raise pr.fail(
                        key=f"batches_s[{i}]",
                        message=f"must be a positive number of seconds, got {b!r}",
                    )
            batches_t = tuple(float(b) for b in batches)
            if not math.isclose(sum(batches_t), time_s, rel_tol=1e-6):
                raise pr.fail(
                    key="batches_s", message=f"sums to {sum(batches_t)} s but time_s is {time_s} s"
                )
        if any(p.name == pname for p in periods):
            raise pr.fail(key="name", message=f"duplicate period name {pname!r}")
        periods.append(
            Period(
                pname, current, time_s, batches_t, pr.get("note", str, required=False, default="")
            )
        )
    return tuple(periods)


#: Columns of a schedule file (CSV with a header row).
SCHEDULE_COLUMNS = ("start_s", "stop_s", "current_A")


def _schedule(sr: _Reader, run_dir: Path) -> Schedule:
    """``[schedule]``: ``intervals = [[start_s, stop_s, current_A], ...]`` or ``file``."""
    import numpy as np

    has_file, has_rows = "file" in sr.table, "intervals" in sr.table
    if has_file == has_rows:
        raise sr.fail(
            key="intervals", message="give exactly one of intervals (a table) or file (a CSV)"
        )
    if has_rows:
        rows = sr.get("intervals", list)
        for i, r in enumerate(rows):
            if (
                not isinstance(r, list)
                or len(r) != 3
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in r)
            ):
                raise sr.fail(
                    key=f"intervals[{i}]",
                    message=f"expected [start_s, stop_s, current_A], got {r!r}",
                )
        arr = np.asarray(rows, dtype=float).reshape(-1, 3)
        where, source = "intervals", "intervals"
    else:
        fpath = _resolve(run_dir, sr.get("file", str))
        if not fpath.is_file():
            raise sr.fail(key="file", message=f"schedule file not found: {fpath}")
        arr = _read_schedule_csv(fpath)
        where, source = str(fpath), str(fpath)
    batch_s = sr.number("batch_s", required=False, lo=0.0, lo_open=True)
    if arr.shape[0] == 0:
        raise sr.fail(
            key="intervals" if has_rows else "file", message="the schedule has no interval"
        )

    def bad(i: int, col: str, message: str) -> InputError:
        if has_rows:
            return sr.fail(key=f"intervals[{i}]", message=message)
        return InputError(f"row {i + 1}: {message}", file=Path(where), field=col)

    if not np.all(np.isfinite(arr)):
        i, c = np.argwhere(~np.isfinite(arr))[0]
        raise bad(int(i), SCHEDULE_COLUMNS[c], "non-finite (NaN or inf) value")
    start, stop, cur = arr.T
    if np.any(start < 0):
        raise bad(int(np.flatnonzero(start < 0)[0]), "start_s", "negative time")
    if np.any(stop <= start):
        i = int(np.flatnonzero(stop <= start)[0])
        raise bad(i, "stop_s", f"stop_s {stop[i]:g} is not after start_s {start[i]:g}")
    if np.any(cur < 0):
        i = int(np.flatnonzero(cur < 0)[0])
        raise bad(i, "current_A", f"negative current {cur[i]:g} A")
    if np.any(start[1:] < stop[:-1]):
        i = int(np.flatnonzero(start[1:] < stop[:-1])[0]) + 1
        raise bad(i, "start_s", f"starts at {start[i]:g} s, before the previous interval ends")
    span = float(stop[-1] - start[0])
    return Schedule(start, stop, cur, span if batch_s is None else float(batch_s), source)


def _read_schedule_csv(path: Path) -> Any:
    """A schedule CSV: a header naming ``SCHEDULE_COLUMNS``, then one interval per row."""
    import numpy as np

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read the schedule: {exc}"
        raise InputError(msg, file=path) from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        msg = "empty schedule file"
        raise InputError(msg, file=path)
    head = [h.strip() for h in lines[0].split(",")]
    missing = [c for c in SCHEDULE_COLUMNS if c not in head]
    if missing:
        msg = f"missing column(s) {missing}; the header is {head}"
        raise InputError(msg, file=path, field=missing[0])
    idx = [head.index(c) for c in SCHEDULE_COLUMNS]
    out = np.empty((len(lines) - 1, 3))
    for i, ln in enumerate(lines[1:]):
        cells = ln.split(",")
        try:
            out[i] = [float(cells[k]) for k in idx]
        except (ValueError, IndexError):
            msg = f"row {i + 1}: not three numbers: {ln.strip()!r}"
            raise InputError(msg, file=path, field="start_s") from None
    return out


def schedule_periods(sc: Schedule) -> tuple[tuple[Period, ...], tuple[tuple[int, ...], ...]]:
    """A schedule's periods, one per current, highest first, and their batches' blocks.

    A period's batches are the calibration batches of the run clock in which it has live
    time; ``blocks`` names them.
    """
    import numpy as np

    rows, blk, secs = sc.block_durations()
    currents = sc.currents
    on_off = len(currents) == 2 and currents[1] == 0.0
    periods, blocks = [], []
    for ic, c in enumerate(currents):
        sel = sc.current_A[rows] == c
        per = np.bincount(blk[sel], weights=secs[sel], minlength=sc.n_block)
        used = np.flatnonzero(per > 0)
        name = ("current-on", "current-off")[ic] if on_off else f"current-{c:g}A"
        periods.append(
            Period(
                name,
                c,
                float(per.sum()),
                tuple(float(v) for v in per[used]),
                f"from the schedule: {int(np.sum(sc.current_A == c))} intervals at {c:g} A",
            )
        )
        blocks.append(tuple(int(b) for b in used))
    return tuple(periods), tuple(blocks)


def load_manifest(run: str | os.PathLike) -> Manifest:
    """Read and validate ``RUN/run.toml`` (or a given .toml path)."""
    path = manifest_path(run)
    data = read_toml(
        path, missing="run manifest not found (expected a run directory holding run.toml)"
    )
    top = _Reader(path, data, "")

    run_table = top.sub("run")
    name = run_table.get("name", str)
    kind = run_table.get("kind", str)
    if kind not in _KINDS:
        raise run_table.fail(key="kind", message=f"must be one of {_KINDS}, got {kind!r}")
    level = run_table.get("level", str)
    if level not in _LEVELS:
        raise run_table.fail(key="level", message=f"must be one of {_LEVELS}, got {level!r}")
    description = run_table.get("description", str, required=False, default="")

    schedule: Schedule | None = None
    blocks: tuple[tuple[int, ...], ...] = ()
    if "schedule" in data:
        if "periods" in data:
            msg = "give either [[periods]] or [schedule] (the periods follow from the schedule)"
            raise InputError(msg, file=path, field="periods")
        schedule = _schedule(top.sub("schedule"), path.parent)
        periods, blocks = schedule_periods(schedule)
    else:
        periods = _periods(top)
    period_names = {p.name for p in periods}

    tg = top.sub("target")
    target = Target(
        length_cm=tg.number("length_cm", lo=0.0, lo_open=True),
        mean_free_path_cm=tg.number("mean_free_path_cm", lo=0.0, lo_open=True),
        note=tg.get("note", str, required=False, default=""),
        cross_section_cm2=tg.number("cross_section_cm2", required=False, lo=0.0, lo_open=True),
    )
    ef = top.sub("efficiency")
    efficiency = Efficiency(
        value=ef.number("value", lo=0.0, lo_open=True, hi=1.0),
        rel_uncertainty=ef.number("rel_uncertainty", lo=0.0),
        note=ef.get("note", str, required=False, default=""),
        group=ef.get("group", str, required=False, default=""),
        shared_rel=ef.number("shared_rel", required=False, lo=0.0) or 0.0,
    )
    if efficiency.shared_rel > efficiency.rel_uncertainty:
        raise ef.fail(
            key="shared_rel",
            message=(
                f"the shared part {efficiency.shared_rel:g} exceeds the whole relative "
                f"uncertainty rel_uncertainty = {efficiency.rel_uncertainty:g}"
            ),
        )
    if efficiency.shared_rel > 0 and not efficiency.group:
        raise ef.fail(key="group", message="shared_rel needs the group of runs that share it")
    if efficiency.group and efficiency.shared_rel == 0:
        raise ef.fail(key="shared_rel", message=f"group {efficiency.group!r} needs shared_rel > 0")

    binning = None
    bn = top.sub("binning", required=False)
    if bn is not None:
        lo = bn.number("lo")
        hi = bn.number("hi")
        width = bn.number("width", lo=0.0, lo_open=True)
        if hi <= lo:
            raise bn.fail(key="hi", message=f"must exceed lo = {lo}, got {hi}")
        n = (hi - lo) / width
        if abs(n - round(n)) > 1e-9 * max(1.0, n):
            raise bn.fail(
                key="width", message=f"(hi - lo) = {hi - lo} is not a multiple of width {width}"
            )
        binning = Binning(lo, hi, width)

    sources = []
    for sr in top.tables("sources"):
        fmt = sr.get("format", str)
        if fmt not in SOURCE_FORMATS:
            raise sr.fail(key="format", message=f"must be one of {SOURCE_FORMATS}, got {fmt!r}")
        spath = _resolve(path.parent, sr.get("path", str))
        if not spath.is_file():
            what = "is a folder, not a data file" if spath.is_dir() else "data file not found"
            raise sr.fail(key="path", message=f"{what}: {spath}")
        if fmt == "root-th1" and schedule is not None:
            raise sr.fail(
                key="format",
                message="a run with a [schedule] needs event lists with time_s, not histograms",
            )
        if fmt == "root-th1":
            period = sr.get("period", str)
            if period not in period_names:
                raise sr.fail(
                    key="period",
                    message=f"{period!r} is not a period of [[periods]] ({sorted(period_names)})",
                )
            hist = sr.get("histogram", str)
            if "{sdd}" not in hist:
                raise sr.fail(
                    key="histogram", message="must contain '{sdd}', e.g. 'withCurrentsdd{sdd}'"
                )
            sdds = sr.get("sdds", list)
            if not sdds or not all(isinstance(s, int) and not isinstance(s, bool) for s in sdds):
                raise sr.fail(
                    key="sdds", message=f"must be a non-empty list of integer SDD ids, got {sdds!r}"
                )
            sources.append(Source(fmt, spath, period, hist, tuple(sdds)))
        else:
            tree = sr.get("tree", str) if fmt == "root-ttree" else None
            if binning is None:
                msg = "event-list sources need a [binning] table (lo, hi, width)"
                raise InputError(
                    msg,
                    file=path,
                    field="binning",
                )
            sources.append(Source(fmt, spath, None, None, (), tree))

    simulation = top.get("simulation", dict, required=kind == "simulated", default={})
    truth = top.get("truth", dict, required=kind == "simulated", default={})
    return Manifest(
        path=path,
        name=name,
        kind=kind,
        level=level,
        description=description,
        periods=tuple(periods),
        sources=tuple(sources),
        target=target,
        efficiency=efficiency,
        binning=binning,
        simulation=simulation,
        truth=truth,
        raw=data,
        schedule=schedule,
        blocks=blocks,
    )
