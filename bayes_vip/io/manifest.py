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
    "Source",
    "Target",
    "load_manifest",
    "manifest_path",
    "read_toml",
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
    )
