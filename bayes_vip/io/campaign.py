"""The ``Campaign``: an ``xarray.Dataset`` of histogram counts, built from a run manifest.

Layout
------
data variables
    ``counts`` (period, sdd, batch, channel), int64: histogram contents.
    ``live_time_s`` (period, sdd, batch), float64: live time of each cell; 0 marks a batch
    that does not exist in that period (periods may have different numbers of batches).
    ``outside`` (period, sdd, batch), int64: events of an event list that fell outside the
    binning (reported by ``info``, never silently dropped).
coordinates
    ``period`` (names), ``sdd`` (ids), ``batch`` (0..), ``channel`` (bin index);
    ``channel_lo`` / ``channel_hi`` (channel): bin edges, in eV (energy level) or ADC;
    ``current_A`` and ``time_s`` (period); ``batch_start_s`` (period, batch): start of each
    batch, in live seconds since the start of its period (a scheduled run: the start of its
    calibration batch on the run clock); ``batch_block`` (period, batch): the calibration
    batch on the run clock, shared by the periods of a scheduled run (a current switched
    in time, whose periods interleave), numbered through the periods in order otherwise;
    -1 where the batch does not exist.
dataset attributes
    ``run_name``, ``kind`` (measured/simulated), ``level`` (energy/adc), ``unit`` (eV/ADC),
    ``manifest_json`` (the manifest as parsed), ``bayes_vip_version``, ``scheduled`` (1 for
    a run with a ``[schedule]``, 0 otherwise), ``batch_s`` (its calibration batches' length).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from bayes_vip import __version__
from bayes_vip.errors import InputError
from bayes_vip.io.manifest import Binning, Manifest, Schedule, load_manifest
from bayes_vip.io.outputs import load_netcdf, save_netcdf
from bayes_vip.io.readers import EventList, read_parquet, read_th1, read_ttree

if TYPE_CHECKING:  # xarray loads in about 0.7 s: where a Dataset is built, not for an error
    import xarray as xr

__all__ = [
    "batch_clock_s",
    "build_campaign",
    "edges",
    "load_campaign",
    "open_campaign",
    "save_campaign",
    "summary",
]


def edges(ds: xr.Dataset) -> np.ndarray:
    """Bin edges, shape (n_channel + 1,), in the campaign's unit."""
    lo = ds["channel_lo"].values
    return np.append(lo, ds["channel_hi"].values[-1])


def _dataset(
    man: Manifest, counts: np.ndarray, outside: np.ndarray, sdds: list[int], bin_edges: np.ndarray
) -> xr.Dataset:
    n_batch = counts.shape[2]
    live = np.zeros(counts.shape[:3])
    start = np.zeros((len(man.periods), n_batch))
    block = np.full((len(man.periods), n_batch), -1, dtype=np.int64)
    k = 0
    for ip, p in enumerate(man.periods):
        nb = len(p.batches_s)
        live[ip, :, :nb] = np.asarray(p.batches_s)[None, :]
        if man.schedule is not None:
            block[ip, :nb] = man.blocks[ip]
            start[ip, :nb] = block[ip, :nb] * man.schedule.batch_s
        else:
            block[ip, :nb] = np.arange(k, k + nb)
            start[ip, :nb] = np.concatenate([[0.0], np.cumsum(p.batches_s)[:-1]])
        k += nb
    unit = "eV" if man.level == "energy" else "ADC"
    import xarray as xr

    ds = xr.Dataset(
        data_vars={
            "counts": (
                ("period", "sdd", "batch", "channel"),
                counts.astype(np.int64),
                {"long_name": "counts per bin"},
            ),
            "live_time_s": (("period", "sdd", "batch"), live, {"units": "s"}),
            "outside": (
                ("period", "sdd", "batch"),
                outside.astype(np.int64),
                {"long_name": "events outside the binning (event lists) or ROOT under+overflow"},
            ),
        },
        coords={
            "period": [p.name for p in man.periods],
            "sdd": np.asarray(sdds, dtype=np.int64),
            "batch": np.arange(n_batch, dtype=np.int64),
            "channel": np.arange(len(bin_edges) - 1, dtype=np.int64),
            "channel_lo": ("channel", bin_edges[:-1], {"units": unit}),
            "channel_hi": ("channel", bin_edges[1:], {"units": unit}),
            "current_A": ("period", [p.current_A for p in man.periods], {"units": "A"}),
            "time_s": ("period", [p.time_s for p in man.periods], {"units": "s"}),
            "batch_start_s": (("period", "batch"), start, {"units": "s"}),
            "batch_block": (("period", "batch"), block),
        },
        attrs={
            "run_name": man.name,
            "kind": man.kind,
            "level": man.level,
            "unit": unit,
            "manifest_json": json.dumps(man.raw, default=str, sort_keys=True),
            "bayes_vip_version": __version__,
            "scheduled": int(man.schedule is not None),
            "batch_s": 0.0 if man.schedule is None else man.schedule.batch_s,
            "schedule_intervals": 0 if man.schedule is None else int(man.schedule.start_s.size),
        },
    )
    return ds


def _from_th1(man: Manifest) -> xr.Dataset:
    # keys (period, SDD); a root-th1 source always names its period (load_manifest)
    hists: dict[tuple[str | None, int], np.ndarray] = {}
    flows: dict[tuple[str | None, int], float] = {}
    ref_edges, ref_src = None, None
    for i, src in enumerate(man.sources):
        if src.format != "root-th1":
            msg = "cannot mix root-th1 with event-list sources in one run"
            raise InputError(
                msg,
                file=man.path,
                field=f"sources[{i}].format",
            )
        for sdd in src.sdds:
            key = cast(str, src.histogram).format(sdd=sdd)  # required for root-th1 sources
            h = read_th1(src.path, key)
            if ref_edges is None:
                ref_edges, ref_src = h.edges, f"{src.path}:{key}"
            elif h.edges.shape != ref_edges.shape or not np.allclose(h.edges, ref_edges):
                msg = f"binning of {key!r} differs from that of {ref_src}"
                raise InputError(
                    msg,
                    file=src.path,
                    field="histogram",
                )
            if (src.period, sdd) in hists:
                msg = f"period {src.period!r} SDD {sdd} is given twice"
                raise InputError(
                    msg,
                    file=man.path,
                    field=f"sources[{i}].sdds",
                )
            hists[(src.period, sdd)] = h.counts
            flows[(src.period, sdd)] = h.flow
    sdds = sorted({s for _, s in hists})
    ref_edges = cast(np.ndarray, ref_edges)  # set: a manifest lists a source with an SDD
    counts = np.zeros((len(man.periods), len(sdds), 1, len(ref_edges) - 1), dtype=np.int64)
    for ip, p in enumerate(man.periods):
        if len(p.batches_s) != 1:
            msg = "histogram (root-th1) runs have one batch per period"
            raise InputError(
                msg,
                file=man.path,
                field=f"periods[{ip}].batches_s",
            )
        for js, s in enumerate(sdds):
            if (p.name, s) not in hists:
                msg = f"no histogram for period {p.name!r} SDD {s}"
                raise InputError(msg, file=man.path, field="sources")
            counts[ip, js, 0] = hists[(p.name, s)].astype(np.int64)
    # ROOT under/overflow: outside the histogram range, reported by `info`. (In the measured
    # file the underflow is 2**24, a float32 saturation: a lower bound, not a count.)
    outside = np.array(
        [[[round(flows[(p.name, s)])] for s in sdds] for p in man.periods], dtype=np.int64
    )
    return _dataset(man, counts, outside, sdds, ref_edges)


def _period_index(ev: EventList, man: Manifest, path: Path) -> np.ndarray:
    """Manifest period index of every event."""
    names = [p.name for p in man.periods]
    if ev.period_names is None:
        if np.any((ev.period < 0) | (ev.period >= len(names))):
            msg = f"period index outside 0..{len(names) - 1}"
            raise InputError(msg, file=path, field="period")
        return ev.period
    used = np.unique(ev.period)
    unknown = [ev.period_names[u] for u in used if ev.period_names[u] not in names]
    if unknown:
        msg = f"period(s) {unknown} not in the manifest's [[periods]] {names}"
        raise InputError(
            msg,
            file=path,
            field="period",
        )
    lut = np.array([names.index(n) if n in names else -1 for n in ev.period_names])
    return lut[ev.period]


def _scheduled_cells(ev: EventList, man: Manifest, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Period (by current) and batch index of every event of a scheduled run, from ``time_s``.

    An event outside every interval of the schedule is an error, not dropped.
    """
    sc = cast(Schedule, man.schedule)
    if ev.time_s is None:
        msg = "a run with a [schedule] needs each event's time_s (run clock, s)"
        raise InputError(msg, file=path, field="time_s")
    t = np.asarray(ev.time_s, dtype=np.float64)
    i = np.searchsorted(sc.start_s, t, side="right") - 1
    ok = (i >= 0) & (t < sc.stop_s[np.maximum(i, 0)])
    if not np.all(ok):
        k = int(np.flatnonzero(~ok)[0])
        msg = (
            f"{int((~ok).sum())} events outside every interval of the schedule "
            f"(first at row {k}, time_s = {t[k]:g} s)"
        )
        raise InputError(msg, file=path, field="time_s")
    blk = np.minimum(np.floor((t - sc.t0) / sc.batch_s).astype(np.int64), sc.n_block - 1)
    return sc.cells(i, blk, man.blocks)


def _from_events(man: Manifest) -> xr.Dataset:
    b = cast(Binning, man.binning)  # event-list sources require [binning] (load_manifest)
    n_ch = round((b.hi - b.lo) / b.width)
    bin_edges = b.lo + b.width * np.arange(n_ch + 1)
    events = []
    sched = man.schedule is not None
    for i, src in enumerate(man.sources):
        if src.format == "parquet":
            ev = read_parquet(src.path, scheduled=sched)
        elif src.format == "root-ttree":
            ev = read_ttree(src.path, cast(str, src.tree), scheduled=sched)  # tree: required
        else:
            msg = "cannot mix root-th1 with event-list sources in one run"
            raise InputError(
                msg,
                file=man.path,
                field=f"sources[{i}].format",
            )
        if sched:
            ip, batch = _scheduled_cells(ev, man, src.path)
            ev = replace(ev, batch=batch)
        else:
            ip = _period_index(ev, man, src.path)
        events.append((src.path, ev, ip))
    sdds = sorted(set().union(*(np.unique(ev.sdd).tolist() for _, ev, _ in events)))
    n_batch = max(len(p.batches_s) for p in man.periods)
    shape = (len(man.periods), len(sdds), n_batch)
    counts = np.zeros((*shape, n_ch), dtype=np.int64)
    outside = np.zeros(shape, dtype=np.int64)
    sdd_arr = np.asarray(sdds, dtype=np.int64)
    for path, ev, ip in events:
        nb = np.array([len(p.batches_s) for p in man.periods])[ip]
        if np.any(ev.batch >= nb):
            k = int(np.flatnonzero(ev.batch >= nb)[0])
            msg = (
                f"batch {ev.batch[k]} of period {man.periods[ip[k]].name!r} does not exist "
                f"(the manifest lists {nb[k]} batches in batches_s)"
            )
            raise InputError(
                msg,
                file=path,
                field="batch",
            )
        js = np.searchsorted(sdd_arr, ev.sdd)
        ch = np.floor((ev.adc - b.lo) / b.width).astype(np.int64)
        inside = (ch >= 0) & (ch < n_ch)
        cell = np.ravel_multi_index((ip, js, ev.batch), shape)
        outside += np.bincount(cell[~inside], minlength=np.prod(shape)).reshape(shape)
        flat = cell[inside] * n_ch + ch[inside]
        counts += np.bincount(flat, minlength=counts.size).reshape(counts.shape)
    for i, p in enumerate(man.periods):
        if counts[i].sum() + outside[i].sum() == 0:
            msg = f"period {p.name!r} has no events in any source"
            raise InputError(
                msg,
                file=man.path,
                field=f"periods[{i}]",
            )
    return _dataset(man, counts, outside, sdds, bin_edges)


def build_campaign(man: Manifest) -> xr.Dataset:
    """Read every source of the manifest into one Campaign dataset."""
    if man.sources[0].format == "root-th1":
        return _from_th1(man)
    return _from_events(man)


def load_campaign(run: str | os.PathLike) -> xr.Dataset:
    """Load the manifest of ``run`` and build its Campaign."""
    return build_campaign(load_manifest(run))


def save_campaign(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Write the Campaign to netCDF (HDF5 via h5netcdf), atomically."""
    save_netcdf(ds, Path(path))


def open_campaign(path: str | os.PathLike) -> xr.Dataset:
    """Load a Campaign written by ``save_campaign`` fully into memory."""
    return load_netcdf(Path(path), what="campaign netCDF", missing="campaign file not found")


def batch_clock_s(ds: xr.Dataset) -> np.ndarray:
    """Start of every (period, batch) on the run clock [s], shape (period, batch).

    A scheduled run's batches are on it already; otherwise the periods are taken to follow
    one another in their order, each batch after the previous one (live time).
    """
    start = np.asarray(ds["batch_start_s"].values, dtype=float)
    if ds.attrs.get("scheduled"):
        return start
    before = np.concatenate([[0.0], np.cumsum(ds["live_time_s"].values.max(axis=1).sum(axis=1))])
    return start + before[:-1, None]


def summary(ds: xr.Dataset) -> dict:
    """What ``bayes-vip info`` prints: periods, SDDs, batches, counts, range and binning."""
    e = edges(ds)
    widths = np.diff(e)
    live = ds["live_time_s"].values
    per_sdd = ds["counts"].sum(dim=("batch", "channel"))
    return {
        "run": ds.attrs["run_name"],
        "kind": ds.attrs["kind"],
        "level": ds.attrs["level"],
        "periods": [
            {
                "name": str(p),
                "current_A": float(ds["current_A"].values[i]),
                "time_s": float(ds["time_s"].values[i]),
                "time_days": float(ds["time_s"].values[i]) / 86400.0,
                "batches": int((live[i, 0] > 0).sum()),
                "counts": int(per_sdd.values[i].sum()),
            }
            for i, p in enumerate(ds["period"].values)
        ],
        "sdds": [int(s) for s in ds["sdd"].values],
        "n_batches_max": int(ds.sizes["batch"]),
        "counts": {
            str(p): {str(int(s)): int(per_sdd.values[i, j]) for j, s in enumerate(ds["sdd"].values)}
            for i, p in enumerate(ds["period"].values)
        },
        "outside_binning": int(ds["outside"].values.sum()),
        "schedule": (
            {
                "intervals": int(ds.attrs.get("schedule_intervals", 0)),
                "batch_s": float(ds.attrs["batch_s"]),
            }
            if ds.attrs.get("scheduled")
            else None
        ),
        "binning": {
            "unit": ds.attrs["unit"],
            "lo": float(e[0]),
            "hi": float(e[-1]),
            "n_bins": len(widths),
            "width": float(widths[0]) if np.allclose(widths, widths[0]) else None,
        },
    }
