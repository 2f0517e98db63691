"""Readers for measured and simulated data files.

- ROOT ``TH1`` histograms and ``TTree`` event lists, through ``uproot``;
- Parquet event lists with columns ``period``, ``sdd``, ``batch``, ``adc`` and optional
  ``time_s``, through ``pyarrow``.

Each reader validates what it returns (finite, non-negative integer counts; finite ADC
values) and raises ``InputError`` naming the file and the histogram, tree or column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bayes_vip.errors import InputError

__all__ = [
    "EVENT_COLUMNS",
    "SCHEDULED_COLUMNS",
    "EventList",
    "Histogram",
    "read_parquet",
    "read_th1",
    "read_ttree",
]

#: Required columns of an event list; ``time_s`` is optional.
EVENT_COLUMNS = ("period", "sdd", "batch", "adc")
#: Required columns of a scheduled run's event list (the period and batch follow from the
#: time; ``period`` and ``batch`` columns, if present, are not read).
SCHEDULED_COLUMNS = ("sdd", "adc", "time_s")


@dataclass(frozen=True)
class Histogram:
    """Bin contents (float64, shape (n,)), edges (shape (n+1,)) and under+overflow of one TH1."""

    counts: np.ndarray
    edges: np.ndarray
    flow: float = 0.0


@dataclass(frozen=True)
class EventList:
    """Columns of an event list.

    ``period`` holds integer codes: indices into ``period_names`` when the file stores names,
    or indices into the manifest's ``[[periods]]`` when ``period_names`` is None.
    """

    period: np.ndarray
    period_names: list[str] | None
    sdd: np.ndarray
    batch: np.ndarray
    adc: np.ndarray
    time_s: np.ndarray | None


def _require_file(path: Path) -> None:
    if not path.is_file():
        msg = "data file not found"
        raise InputError(msg, file=path, field="path")


def _open_root(path: Path) -> Any:  # an uproot ReadOnlyDirectory (uproot ships no types)
    import uproot

    _require_file(path)
    try:
        f = uproot.open(path)
        f.keys()  # forces reading the directory
    except Exception as exc:  # uproot raises many types for a truncated or corrupt file
        # uproot's message spans lines and ends with the path (already named): one line
        words = " ".join(str(exc).split())
        words = words.split(" for file path ")[0].rstrip(",; ")
        msg = f"cannot read ROOT file (truncated or corrupt?): {type(exc).__name__}: {words}"
        raise InputError(msg, file=path) from None
    else:
        return f


def _check_counts(counts: np.ndarray, path: Path, field: str) -> None:
    if not np.all(np.isfinite(counts)):
        bad = int(np.flatnonzero(~np.isfinite(counts))[0])
        msg = f"non-finite (NaN or inf) counts, first at bin {bad}"
        raise InputError(msg, file=path, field=field)
    if np.any(counts < 0):
        bad = int(np.flatnonzero(counts < 0)[0])
        msg = f"negative counts ({counts[bad]}) at bin {bad}"
        raise InputError(msg, file=path, field=field)
    if np.any(counts != np.round(counts)):
        bad = int(np.flatnonzero(counts != np.round(counts))[0])
        msg = f"non-integer counts ({counts[bad]}) at bin {bad}"
        raise InputError(msg, file=path, field=field)


def read_th1(path: Path, key: str) -> Histogram:
    """Read the in-range bins of ROOT histogram ``key`` (under/overflow are not part of it).

    Counts are converted to float64 *before* any summation: the measured file stores
    ``TH1F`` (float32), which cannot add 1e6-count spectra exactly.
    """
    f = _open_root(path)
    try:
        obj = f[key]
    except Exception:
        hists = sorted({k.split(";")[0] for k, c in f.classnames().items() if c.startswith("TH1")})
        shown = ", ".join(hists[:12]) + (" ..." if len(hists) > 12 else "")
        msg = f"no histogram {key!r} in the file; TH1 keys: {shown}"
        raise InputError(msg, file=path, field="histogram") from None
    if not obj.classname.startswith("TH1"):
        msg = f"{key!r} is a {obj.classname}, not a TH1"
        raise InputError(msg, file=path, field="histogram")
    try:
        counts = np.asarray(obj.values(flow=False), dtype=np.float64)
        edges = np.asarray(obj.axis().edges(flow=False), dtype=np.float64)
        with_flow = np.asarray(obj.values(flow=True), dtype=np.float64)
    except Exception as exc:
        msg = f"cannot read histogram {key!r}: {exc}"
        raise InputError(msg, file=path, field="histogram") from None
    _check_counts(counts, path, f"histogram {key}")
    flow = with_flow[0] + with_flow[-1]
    if not np.isfinite(flow):
        msg = "non-finite under/overflow"
        raise InputError(msg, file=path, field=f"histogram {key}")
    return Histogram(counts, edges, float(flow))


def _validate_events(
    cols: dict[str, np.ndarray], path: Path, period_names: list[str] | None
) -> EventList:
    for c in ("sdd", "batch", "adc", "time_s"):
        if c in cols and cols[c] is not None:
            v = cols[c]
            if v.dtype.kind not in "iuf":  # strings, booleans, timestamps: not a number
                msg = f"must hold numbers, got values of type {v.dtype} (e.g. {v[:1].tolist()})"
                raise InputError(msg, file=path, field=c)
            if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
                msg = "non-finite (NaN or inf) values"
                raise InputError(msg, file=path, field=c)
    if np.any(cols["adc"] < 0):
        bad = int(np.flatnonzero(cols["adc"] < 0)[0])
        msg = f"negative ADC value ({cols['adc'][bad]}) at row {bad}"
        raise InputError(msg, file=path, field="adc")
    for c in ("sdd", "batch"):
        v = cols[c]
        if v.dtype.kind not in "iu" and not np.all(v == np.round(v)):
            msg = "must hold integers"
            raise InputError(msg, file=path, field=c)
        if np.any(v < 0):
            msg = "must be >= 0"
            raise InputError(msg, file=path, field=c)
    if "time_s" in cols and cols["time_s"] is not None and np.any(cols["time_s"] < 0):
        msg = "negative time"
        raise InputError(msg, file=path, field="time_s")
    period = cols["period"]
    if period.dtype.kind not in "iu":
        if period.dtype.kind == "f" and np.all(period == np.round(period)):
            period = period.astype(np.int64)
        else:
            uniq, period = np.unique(period.astype(str), return_inverse=True)
            period_names = [str(u) for u in uniq]
    return EventList(
        period=period.astype(np.int64),
        period_names=period_names,
        sdd=cols["sdd"].astype(np.int64),
        batch=cols["batch"].astype(np.int64),
        adc=cols["adc"].astype(np.float64),
        time_s=cols.get("time_s"),
    )


def read_parquet(path: Path, *, scheduled: bool = False) -> EventList:
    """Read a Parquet event list: columns ``period, sdd, batch, adc[, time_s]``.

    With ``scheduled``: ``sdd, adc, time_s`` (period and batch follow from the time).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    _require_file(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        msg = f"cannot read Parquet file (truncated or corrupt?): {exc}"
        raise InputError(msg, file=path) from None
    cols = {}
    names = None
    need, wanted = _columns(scheduled)
    for c in wanted:
        if c not in table.column_names:
            if c not in need:
                continue
            msg = f"missing column; the file has {table.column_names}"
            raise InputError(msg, file=path, field=c)
        col = table.column(c)
        if col.null_count:
            msg = f"{col.null_count} missing (null) values"
            raise InputError(msg, file=path, field=c)
        if c == "period" and (pa.types.is_string(col.type) or pa.types.is_dictionary(col.type)):
            # names: encode in Arrow (fast) into integer codes plus the list of names
            enc = col.combine_chunks()
            if not pa.types.is_dictionary(enc.type):
                enc = enc.dictionary_encode()
            names = [str(x) for x in enc.dictionary.to_pylist()]
            cols[c] = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            continue
        cols[c] = col.to_numpy()
    return _validate_events(_fill(cols, scheduled), path, names)


def _columns(scheduled: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The required columns of an event list, and those read (with the optional time)."""
    if scheduled:
        return SCHEDULED_COLUMNS, SCHEDULED_COLUMNS
    return EVENT_COLUMNS, (*EVENT_COLUMNS, "time_s")


def _fill(cols: dict[str, np.ndarray], scheduled: bool) -> dict[str, np.ndarray]:
    """A scheduled run's columns with placeholder period and batch (set from the time)."""
    if scheduled:
        zeros = np.zeros(cols["sdd"].shape, dtype=np.int64)
        cols = {**cols, "period": zeros, "batch": zeros}
    return cols


def read_ttree(path: Path, tree: str, *, scheduled: bool = False) -> EventList:
    """Read a ROOT TTree event list with branches ``period, sdd, batch, adc[, time_s]``.

    With ``scheduled``: ``sdd, adc, time_s``.
    """
    f = _open_root(path)
    try:
        t = f[tree]
    except Exception:
        msg = f"no TTree {tree!r} in the file; keys: {f.keys()}"
        raise InputError(msg, file=path, field="tree") from None
    names = set(t.keys())
    cols = {}
    need, wanted = _columns(scheduled)
    for c in wanted:
        if c not in names:
            if c not in need:
                continue
            msg = f"missing branch; the tree has {sorted(names)}"
            raise InputError(msg, file=path, field=c)
        cols[c] = np.asarray(t[c].array(library="np"))
    return _validate_events(_fill(cols, scheduled), path, None)
