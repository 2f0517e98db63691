"""Calibration of an ADC-level campaign: CNN seeds, line fits, quadratic calibration, refinement.

``calibrate`` returns an ``xarray.Dataset`` (written to ``RUN/results/calibration.nc``):

dims ``period, sdd, batch`` (the run's, or regrouped by ``batch_hours``), ``coef`` (p0, p1,
p2), ``coef_`` (its copy for covariances) and ``line`` (the five calibration lines).

- ``p_standard``, ``cov_standard``: seed 002's standard result (CNN seeds -> iminuit line
  fits -> weighted quadratic fit); ``p_refined``, ``cov_refined``: after the
  differentiable refinement (equal to the standard ones with ``--no-refine``).
- ``status``: 0 calibrated, 1 excluded (``reason`` says why), -1 no data (batch absent).
- ``seed_source``: 0 CNN, 1 the classic peak search (the CNN's lines were inconsistent).
- ``line_adc``, ``line_adc_err``, ``line_sigma_adc``, ``line_counts``: the line fits.
- ``live_time_s``, ``batch_start_s``: of the (regrouped) cells.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from bayes_vip.calibration import baseline
from bayes_vip.calibration.linefit import LineFit, fit_calibration, fit_line
from bayes_vip.calibration.peakfinder import LINES, prepare
from bayes_vip.calibration.synthetic import line_energies
from bayes_vip.errors import AnalysisError, InputError
from bayes_vip.physics.constants import FANO_START, W_SI_EV

__all__ = [
    "MIN_COUNTS",
    "CalibrationWarning",
    "calibrate",
    "calibrated_campaign",
    "cell_energy_histograms",
    "check_seeds",
    "regroup_batches",
]

#: Fewest counts in a (SDD, batch) histogram that we try to calibrate. At the measured rates
#: (Ti Ka is ~70 % of the events) 3000 counts give ~2000 Ti Ka and ~10 Cu Ka counts, about
#: the least with which the quadratic through the five lines is still determined.
MIN_COUNTS = 3000
#: Most a CNN seed may deviate from the straight line through all five seeds [ADC]
MAX_SEED_RESIDUAL = 15.0
GAIN_RANGE = (2.0, 4.0)  # eV/ADC allowed for a consistent set of seeds


class CalibrationWarning(UserWarning):
    """A cell excluded from the calibration or calibrated with the fallback search."""


def regroup_batches(ds: xr.Dataset, batch_hours: float | None) -> xr.Dataset:
    """Merge consecutive batches into ``batch_hours``-long groups (by batch start time)."""
    if batch_hours is None:
        return ds
    if not (batch_hours > 0 and math.isfinite(batch_hours)):
        msg = f"must be > 0, got {batch_hours}"
        raise InputError(msg, field="calibration.batch_hours")
    width = batch_hours * 3600.0
    start = ds["batch_start_s"].values  # (period, batch)
    live = ds["live_time_s"].values  # (period, sdd, batch)
    exists = live.max(axis=1) > 0
    group = np.where(exists, np.floor(start / width + 1e-9).astype(int), -1)
    n_new = int(group.max()) + 1
    counts = ds["counts"].values
    n_p, n_s, _, n_ch = counts.shape
    c_new = np.zeros((n_p, n_s, n_new, n_ch), dtype=counts.dtype)
    l_new = np.zeros((n_p, n_s, n_new))
    o_new = np.zeros((n_p, n_s, n_new), dtype=np.int64)
    s_new = np.zeros((n_p, n_new))
    for ip in range(n_p):
        for g in range(n_new):
            sel = group[ip] == g
            if sel.any():
                c_new[ip, :, g] = counts[ip][:, sel].sum(axis=1)
                l_new[ip, :, g] = live[ip][:, sel].sum(axis=1)
                o_new[ip, :, g] = ds["outside"].values[ip][:, sel].sum(axis=1)
                # a scheduled run's batches stay on the run clock, shared by its periods
                s_new[ip, g] = g * width if ds.attrs.get("scheduled") else start[ip][sel].min()
    out = ds.drop_dims("batch").assign_coords(batch=np.arange(n_new))
    out["counts"] = (("period", "sdd", "batch", "channel"), c_new, ds["counts"].attrs)
    out["live_time_s"] = (("period", "sdd", "batch"), l_new, ds["live_time_s"].attrs)
    out["outside"] = (("period", "sdd", "batch"), o_new, ds["outside"].attrs)
    out = out.assign_coords(batch_start_s=(("period", "batch"), s_new, {"units": "s"}))
    out.attrs["batch_hours"] = float(batch_hours)
    return out.transpose("period", "sdd", "batch", "channel")


def check_seeds(seeds: np.ndarray) -> str:
    """'' if five CNN positions (ADC) are a consistent set of calibration lines, else why not."""
    if not np.all(np.isfinite(seeds)):
        return "non-finite positions"
    if np.any(np.diff(seeds) <= 0):
        return "lines not ordered in energy"
    e = line_energies()
    coef = np.polyfit(seeds, e, 1)
    gain = coef[0]
    if not GAIN_RANGE[0] <= gain <= GAIN_RANGE[1]:
        return f"implied gain {gain:.2f} eV/ADC outside {GAIN_RANGE}"
    resid = np.abs(e - np.polyval(coef, seeds)) / gain
    if resid.max() > MAX_SEED_RESIDUAL:
        return f"positions off a straight line by up to {resid.max():.0f} ADC"
    return ""


@dataclass
class _Cell:
    status: int = -1
    reason: str = ""
    seed_source: int = 0
    p: np.ndarray | None = None
    cov: np.ndarray | None = None
    fits: list[LineFit] | None = None


def _cell_name(ds, ip, js, ib) -> str:
    return (
        f"period {ds['period'].values[ip]!s} SDD {int(ds['sdd'].values[js])} "
        f"batch {int(ds['batch'].values[ib])}"
    )


def _calibrate_cell(counts, seeds_cnn, name, warn) -> _Cell:
    cell = _Cell()
    total = int(counts.sum())
    if total < MIN_COUNTS:
        cell.status, cell.reason = 1, f"too few counts to calibrate ({total} < {MIN_COUNTS})"
        warn(f"{name}: {cell.reason}; excluded")
        return cell
    seeds = seeds_cnn
    why = check_seeds(seeds)
    if why:
        found = baseline.search_lines(counts, line_energies())
        n_found = int(np.isfinite(found).sum())
        cell.seed_source = 1
        warn(
            f"{name}: CNN lines inconsistent ({why}); falling back to the classic peak search "
            f"({n_found} of 5 lines found)"
        )
        if n_found < 4:
            cell.status, cell.reason = (
                1,
                f"CNN inconsistent ({why}) and peak search found {n_found}/5 lines",
            )
            warn(f"{name}: {cell.reason}; excluded")
            return cell
        ok = np.isfinite(found)
        coef = np.polyfit(found[ok], line_energies()[ok], 1)
        seeds = np.where(ok, found, (line_energies() - coef[1]) / coef[0])
    gain = float(np.polyfit(seeds, line_energies(), 1)[0])
    fits = [fit_line(counts, key, float(s), gain) for key, s in zip(LINES, seeds, strict=True)]
    cal = fit_calibration(fits)
    cell.fits = fits
    if cal is None:
        bad = ", ".join(f"{f.line} ({f.message})" for f in fits if not f.ok)
        cell.status, cell.reason = 1, f"fewer than 3 lines fitted: {bad}"
        warn(f"{name}: {cell.reason}; excluded")
        return cell
    cell.status, cell.p, cell.cov = 0, cal["p"], cal["cov"]
    return cell


def calibrate(
    ds: xr.Dataset,
    *,
    batch_hours: float | None = None,
    refine: bool = True,
    refine_lines: str = "cu",
    model=None,
    progress=None,
    refine_kwargs: dict | None = None,
) -> xr.Dataset:
    """Calibrate every (period, SDD, batch) cell of an ADC-level Campaign.

    ``progress(stage, done, total)`` is called as cells and iterations are done.
    Excluded cells are named in a ``CalibrationWarning`` and in ``reason``.
    """
    if ds.attrs.get("level") != "adc":
        msg = f"run {ds.attrs.get('run_name')!r} is at energy level; calibrate needs ADC data"
        raise InputError(
            msg,
            field="run.level",
        )
    from bayes_vip.calibration.train import load_model, predict_adc

    if model is None:
        model, _ = load_model()
    ds = regroup_batches(ds, batch_hours)
    counts = ds["counts"].values
    live = ds["live_time_s"].values
    n_p, n_s, n_b, n_ch = counts.shape
    present = [
        (ip, js, ib)
        for ip in range(n_p)
        for js in range(n_s)
        for ib in range(n_b)
        if live[ip, js, ib] > 0
    ]
    if not present:
        msg = "the run has no cells with live time"
        raise InputError(msg, field="periods")
    x = prepare(np.stack([counts[c] for c in present]).astype(float))
    seeds = predict_adc(model, x) * (n_ch / 4096.0)
    messages: list[str] = []

    def warn(msg):
        messages.append(msg)
        warnings.warn(msg, CalibrationWarning, stacklevel=3)

    shape = (n_p, n_s, n_b)
    status = np.full(shape, -1, dtype=np.int8)
    source = np.zeros(shape, dtype=np.int8)
    reason = np.full(shape, "", dtype=object)
    p_std = np.full((*shape, 3), np.nan)
    cov_std = np.full((*shape, 3, 3), np.nan)
    nl = len(LINES)
    line_adc = np.full((*shape, nl), np.nan)
    line_err = np.full((*shape, nl), np.nan)
    line_sig = np.full((*shape, nl), np.nan)
    line_cnt = np.full((*shape, nl), np.nan)
    for k, (ip, js, ib) in enumerate(present):
        cell = _calibrate_cell(counts[ip, js, ib], seeds[k], _cell_name(ds, ip, js, ib), warn)
        status[ip, js, ib], reason[ip, js, ib] = cell.status, cell.reason
        source[ip, js, ib] = cell.seed_source
        if cell.fits:
            for i, f in enumerate(cell.fits):
                if f.ok:
                    line_adc[ip, js, ib, i], line_err[ip, js, ib, i] = f.mu, f.mu_err
                    line_sig[ip, js, ib, i], line_cnt[ip, js, ib, i] = f.sigma, f.amp
        if cell.status == 0:
            p_std[ip, js, ib], cov_std[ip, js, ib] = cell.p, cell.cov
        if progress:
            progress("line fits", k + 1, len(present))
    ok = status == 0
    if not ok.any():
        raise AnalysisError("no cell could be calibrated: " + "; ".join(messages[:3]))

    p_ref, cov_ref = p_std.copy(), cov_std.copy()
    shift = np.full((*shape, 3), np.nan)
    shift_err = np.full((*shape, 3), np.nan)
    info: dict = {"refined": False}
    if refine:
        from bayes_vip.calibration.refine import DEFAULT_ITERATIONS
        from bayes_vip.calibration.refine import refine as _refine

        idx = np.argwhere(ok)
        ps_index = idx[:, 0] * n_s + idx[:, 1]
        uniq, ps_compact = np.unique(ps_index, return_inverse=True)
        # start the noise of every (period, SDD) from its Cu Ka line fits
        fano0 = FANO_START
        sig_cu = line_sig[..., -1] * p_std[..., 1]  # eV
        e_cu = line_energies()[-1]
        noise0 = []
        for u in uniq:
            s = sig_cu.reshape(n_p * n_s, n_b)[u]
            s = np.nanmedian(s) if np.isfinite(s).any() else 75.0
            noise0.append(np.sqrt(max(s * s - fano0 * W_SI_EV * e_cu, 15.0**2)))
        res = _refine(
            counts[ok],
            p_std[ok],
            ps_compact,
            lines=refine_lines,
            fano0=fano0,
            noise0=np.asarray(noise0),
            progress=(
                lambda i, ll: progress(
                    "refinement", i, (refine_kwargs or {}).get("iterations", DEFAULT_ITERATIONS)
                )
            )
            if progress
            else None,
            **(refine_kwargs or {}),
        )
        p_ref[ok], cov_ref[ok] = res.p, res.cov
        shift[ok], shift_err[ok] = res.anchor_shift_eV, res.anchor_err_eV
        noise = np.full((n_p, n_s), np.nan)
        noise.reshape(-1)[uniq] = res.noise_eV
        info = {
            "refined": True,
            "lines": refine_lines,
            "windows": list(res.windows),
            "iterations": res.iterations,
            "loglik": res.loglik,
            "fano": res.fano,
            "tail_frac": res.tail_frac,
            "noise_eV": noise.tolist(),
        }
    coef = ["p0", "p1", "p2"]
    out = xr.Dataset(
        data_vars={
            "p_standard": (("period", "sdd", "batch", "coef"), p_std),
            "cov_standard": (("period", "sdd", "batch", "coef", "coef_"), cov_std),
            "p_refined": (("period", "sdd", "batch", "coef"), p_ref),
            "cov_refined": (("period", "sdd", "batch", "coef", "coef_"), cov_ref),
            "anchor_shift_eV": (("period", "sdd", "batch", "anchor"), shift),
            "anchor_shift_err_eV": (("period", "sdd", "batch", "anchor"), shift_err),
            "status": (("period", "sdd", "batch"), status),
            "reason": (("period", "sdd", "batch"), reason.astype(str)),
            "seed_source": (("period", "sdd", "batch"), source),
            "line_adc": (("period", "sdd", "batch", "line"), line_adc),
            "line_adc_err": (("period", "sdd", "batch", "line"), line_err),
            "line_sigma_adc": (("period", "sdd", "batch", "line"), line_sig),
            "line_counts": (("period", "sdd", "batch", "line"), line_cnt),
            "live_time_s": ds["live_time_s"],
        },
        coords={
            "period": ds["period"].values,
            "sdd": ds["sdd"].values,
            "batch": ds["batch"].values,
            "coef": coef,
            "coef_": coef,
            "line": list(LINES),
            "anchor": ["Ti Ka", "Mn Ka", "Cu Ka"],
            "batch_start_s": ds["batch_start_s"],
        },
        attrs={
            "run_name": ds.attrs["run_name"],
            "units": "p0 eV, p1 eV/ADC, p2 eV/ADC^2 (seed 002 eq. 1)",
            "batch_hours": float(ds.attrs.get("batch_hours", float("nan"))),
            "refinement_json": json.dumps(info),
            "warnings_json": json.dumps(messages),
        },
    )
    return out


def cell_energy_histograms(
    counts: np.ndarray, p: np.ndarray, edges: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Energy histograms (..., n_bins) of ADC histograms through calibrations ``p``.

    ``counts`` has shape (..., n_adc), ``p`` (..., 3): every count is placed uniformly within
    its channel (dither, with ``rng``), then calibrated and binned on ``edges``.

    Events outside ``edges`` are not in the result (the caller counts them).
    """
    lead = counts.shape[:-1]
    flat = counts.reshape(-1, counts.shape[-1])
    pf = np.asarray(p, dtype=float).reshape(-1, 3)
    nb = len(edges) - 1
    out = np.zeros((flat.shape[0], nb), dtype=np.int64)
    ch = np.arange(flat.shape[1])
    for i in range(flat.shape[0]):
        n = flat[i]
        if n.sum() == 0 or not np.all(np.isfinite(pf[i])):
            continue
        a = np.repeat(ch, n) + rng.random(int(n.sum()))
        e = pf[i, 0] + pf[i, 1] * a + pf[i, 2] * a * a
        out[i] = np.histogram(e, bins=edges)[0]
    return out.reshape(*lead, nb)


def calibrated_campaign(
    ds_adc: xr.Dataset,
    cal: xr.Dataset,
    *,
    which: str = "refined",
    rng: np.random.Generator,
    edges: np.ndarray | None = None,
) -> xr.Dataset:
    """The energy-level Campaign of an ADC run through its calibration.

    Cells that were excluded get no counts and no live time, so exposures stay right.
    Uses the batches of ``cal`` (regrouping the ADC run the same way). ``rng`` dithers every
    count uniformly within its ADC channel (``cell_energy_histograms``).
    """
    from bayes_vip.simulate.simulator import ENERGY_EDGES

    edges = ENERGY_EDGES if edges is None else edges
    hours = cal.attrs.get("batch_hours", float("nan"))
    ds = regroup_batches(ds_adc, None if not np.isfinite(hours) else hours)
    if ds.sizes["batch"] != cal.sizes["batch"] or list(ds["sdd"].values) != list(cal["sdd"].values):
        msg = "calibration does not match the run's SDDs/batches; re-run calibrate"
        raise InputError(
            msg,
            field="calibration.nc",
        )
    p = cal[f"p_{which}"].values
    ok = cal["status"].values == 0
    counts = np.where(ok[..., None], ds["counts"].values, 0)
    e_counts = cell_energy_histograms(counts, np.where(ok[..., None], p, np.nan), edges, rng)
    live = np.where(ok, ds["live_time_s"].values, 0.0)
    inside = e_counts.sum(axis=-1)
    outside = counts.sum(axis=-1) - inside
    man = json.loads(ds.attrs["manifest_json"])
    man.setdefault("run", {})["level"] = "energy"
    out = xr.Dataset(
        data_vars={
            "counts": (
                ("period", "sdd", "batch", "channel"),
                e_counts,
                {"long_name": "counts per bin"},
            ),
            "live_time_s": (("period", "sdd", "batch"), live, {"units": "s"}),
            "outside": (("period", "sdd", "batch"), outside.astype(np.int64)),
        },
        coords={
            "period": ds["period"].values,
            "sdd": ds["sdd"].values,
            "batch": ds["batch"].values,
            "channel": np.arange(len(edges) - 1),
            "channel_lo": ("channel", edges[:-1], {"units": "eV"}),
            "channel_hi": ("channel", edges[1:], {"units": "eV"}),
            "current_A": ds["current_A"],
            # SDD-averaged live time of the calibrated cells: the exposure of the
            # whole setup (the efficiency is that of all SDDs together)
            "time_s": ("period", live.sum(axis=2).mean(axis=1), {"units": "s"}),
            "batch_start_s": ds["batch_start_s"],
        },
        attrs={
            **{k: v for k, v in ds.attrs.items() if k != "manifest_json"},
            "level": "energy",
            "unit": "eV",
            "calibration": which,
            "manifest_json": json.dumps(man, sort_keys=True, default=str),
        },
    )
    return out
