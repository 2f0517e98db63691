"""From a run (and its classic fit and calibration) to ``BayesData``.

Energy-level runs: one cell per (period, SDD), batches summed, ``bin_eV`` bins over 7-10 keV.
ADC-level runs: one cell per calibrated (period, SDD, batch); each cell's window is the ADC
range that its classic calibration (``calibration.nc``, refined constants) maps onto
7-10 keV, in bins of ``adc_group`` channels (by default the number that makes ``bin_eV`` at
Cu Ka); the calibration itself stays latent.

Initial values come from the classic fit of the same run (``classic.json``): its rates and
continuum, split over the cells in proportion to their counts in the region, its noise,
Fano factor, tail, shelf and energy shift.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from bayes_vip.analysis.conventions import MODEL_ROI_EV, ROI_GROUPS
from bayes_vip.analysis.exposure import run_exposure
from bayes_vip.bayes.model import (
    BETA_UNIT,
    CENTROID_OFFSETS,
    E_REF,
    NOISE_CENTRING,
    NOISE_TAU_PRIOR,
    BayesData,
    centroid_coefficients,
    slope_floor,
)
from bayes_vip.errors import InputError
from bayes_vip.io.campaign import batch_clock_s
from bayes_vip.io.config import BACKGROUNDS, PRIOR_SETS
from bayes_vip.physics import lines as _lines
from bayes_vip.physics.constants import FANO_SI_PRIOR, FANO_START, SECONDS_PER_DAY
from bayes_vip.physics.response import sigma_at
from bayes_vip.simulate.presets import MEASURED_2016_17

__all__ = [
    "PRIOR_SETS",
    "build_data",
    "default_upper",
    "drift_blocks",
    "energy_cells",
    "init_values",
    "prior_centres",
]

#: The slope prior's width [1/keV]: around the classic slope (empirical-bayes), or around
#: zero (external), wide enough for any continuum the simulator or the measured run has.
SLOPE_PRIOR_SD = {"empirical-bayes": 0.1, "external": 0.5}


def energy_cells(ds: xr.Dataset, bin_eV: float, drift_s: float | None = None):
    """The model's cells of an energy-level Campaign: one per (period, SDD) with live time.

    Batches are summed (with ``drift_s``: those of each ``drift_s``-long block of the run
    clock, one cell per (period, SDD, block), the block's index in place of the batch); the
    bins are ``bin_eV`` wide over ``MODEL_ROI_EV``. Returns edges, counts, mask, live times,
    period, SDD and batch indices (and two Nones: no calibration at energy level).
    """
    e = np.append(ds["channel_lo"].values, ds["channel_hi"].values[-1])
    w = float(np.diff(e)[0])
    k = round(bin_eV / w)
    i0 = int(np.searchsorted(e, MODEL_ROI_EV[0] - 1e-9))
    i1 = int(np.searchsorted(e, min(MODEL_ROI_EV[1], e[-1]) - 1e-9))
    n = (i1 - i0) // k
    if n < 20:
        msg = f"the run's energy range {e[0]:g}-{e[-1]:g} eV does not cover {MODEL_ROI_EV} eV"
        raise InputError(
            msg,
            field="binning",
        )
    edges = e[i0 : i0 + n * k + 1 : k]
    if drift_s is not None:
        return _drift_cells(ds, edges, i0, n, k, drift_s)
    c = ds["counts"].sum("batch").values[..., i0 : i0 + n * k]
    c = c.reshape(*c.shape[:2], n, k).sum(-1)  # (P, S, n)
    live = ds["live_time_s"].sum("batch").values  # (P, S)
    P, S = live.shape
    cells = [(p, s) for p in range(P) for s in range(S) if live[p, s] > 0]
    return (
        np.stack([edges] * len(cells)),
        np.stack([c[p, s] for p, s in cells]),
        np.ones((len(cells), n), bool),
        np.array([live[p, s] for p, s in cells]),
        np.array([p for p, _ in cells]),
        np.array([s for _, s in cells]),
        np.zeros(len(cells), int),
        None,
        None,
    )


def drift_blocks(clock_s: np.ndarray, drift_s: float) -> np.ndarray:
    """Drift block of each start time on the run clock, numbered 0.. over those used."""
    if not (math.isfinite(drift_s) and drift_s > 0):
        msg = f"must be > 0, got {drift_s / 86400.0:g} days"
        raise InputError(msg, field="sample.drift_days")
    raw = np.floor(np.asarray(clock_s, dtype=float) / drift_s + 1e-9).astype(np.int64)
    return np.unique(raw, return_inverse=True)[1].reshape(raw.shape)


def _drift_cells(ds: xr.Dataset, edges, i0: int, n: int, k: int, drift_s: float):
    """``energy_cells`` per (period, SDD, drift block)."""
    live_b = ds["live_time_s"].values  # (P, S, B)
    exists = live_b.max(axis=1) > 0  # (P, B)
    blk = np.where(exists, drift_blocks(np.where(exists, batch_clock_s(ds), 0.0), drift_s), -1)
    counts = ds["counts"].values[..., i0 : i0 + n * k]
    P, S, _ = live_b.shape
    rows, cnt, live, per, sdd, bb = [], [], [], [], [], []
    for p in range(P):
        for b in sorted(set(blk[p][blk[p] >= 0].tolist())):
            sel = blk[p] == b
            for s in range(S):
                t = float(live_b[p, s, sel].sum())
                if t <= 0:
                    continue
                c = counts[p, s, sel].sum(axis=0)
                rows.append(edges)
                cnt.append(c.reshape(n, k).sum(-1))
                live.append(t)
                per.append(p)
                sdd.append(s)
                bb.append(b)
    return (
        np.stack(rows),
        np.stack(cnt),
        np.ones((len(rows), n), bool),
        np.array(live),
        np.array(per),
        np.array(sdd),
        np.array(bb),
        None,
        None,
    )


def _calibrated_batches(ds: xr.Dataset, cal: xr.Dataset) -> xr.Dataset:
    """The Campaign with its batches grouped as its calibration grouped them."""
    from bayes_vip.calibration.calibrate import regroup_batches

    hours = cal.attrs.get("batch_hours", float("nan"))
    return regroup_batches(ds, None if not np.isfinite(hours) else hours)


def _adc_cells(d: xr.Dataset, cal: xr.Dataset, adc_group: int | None, bin_eV: float):
    """The model's cells of an ADC-level Campaign ``d`` (``_calibrated_batches``)."""
    from bayes_vip.physics.response import calibration_slope, energy_to_adc

    ok = cal["status"].values == 0
    p = cal["p_refined"].values
    counts = d["counts"].values
    live = d["live_time_s"].values
    cells = [tuple(x) for x in np.argwhere(ok & (live > 0))]
    if not cells:
        msg = "no calibrated cell in calibration.nc"
        raise InputError(msg, field="status")
    lo = [math.ceil(float(energy_to_adc(MODEL_ROI_EV[0], p[c]))) for c in cells]
    hi = [math.floor(float(energy_to_adc(MODEL_ROI_EV[1], p[c]))) for c in cells]
    n_ch = counts.shape[-1]
    if adc_group is None:  # channels per bin: bin_eV at Cu Ka with the median gain
        gain = np.median(
            [float(calibration_slope(energy_to_adc(E_REF, p[c]), p[c])) for c in cells]
        )
        adc_group = max(1, round(bin_eV / gain))
    nb = [max(0, (min(h, n_ch) - a) // adc_group) for a, h in zip(lo, hi, strict=True)]
    m = max(nb)
    edges = np.zeros((len(cells), m + 1))
    cnt = np.zeros((len(cells), m), dtype=np.int64)
    mask = np.zeros((len(cells), m), bool)
    for i, (c, a0, n) in enumerate(zip(cells, lo, nb, strict=True)):
        # padded bins (masked out) continue with 1-channel steps so that edges stay increasing
        e = a0 + adc_group * np.arange(m + 1, dtype=float)
        edges[i] = np.where(np.arange(m + 1) <= n, e, a0 + adc_group * n + np.arange(m + 1) - n)
        cnt[i, :n] = counts[c][a0 : a0 + n * adc_group].reshape(n, adc_group).sum(-1)
        mask[i, :n] = True
    return (
        edges,
        cnt,
        mask,
        np.array([live[c] for c in cells]),
        np.array([c[0] for c in cells]),
        np.array([c[1] for c in cells]),
        np.array([c[2] for c in cells]),
        np.array([p[c] for c in cells]),
        cells,
    )


def _calibration_lines(cal: xr.Dataset, cells) -> dict:
    """The fitted positions of the calibration lines outside ``MODEL_ROI_EV``, per cell.

    Their counts are not in the model's spectra. Each line comes with its strongest member's
    energy, as the classic quadratic fit uses them (``calibration.linefit.fit_calibration``).
    """
    names = [str(x) for x in cal["line"].values]
    energy = np.array([_lines.line_group(k).energies[0] for k in names])
    keep = (energy < MODEL_ROI_EV[0]) | (energy > MODEL_ROI_EV[1])
    adc = np.array([cal["line_adc"].values[c] for c in cells])[:, keep]
    err = np.array([cal["line_adc_err"].values[c] for c in cells])[:, keep]
    ok = np.isfinite(adc) & np.isfinite(err) & (err > 0)
    return {"line_adc": adc, "line_adc_err": err, "line_eV": energy[keep], "line_ok": ok}


def _reference_calibration(p_std: np.ndarray, sdd: np.ndarray) -> np.ndarray:
    """Each cell's reference calibration: the mean classic constants of its SDD."""
    ref = np.empty_like(p_std)
    for s in np.unique(sdd):
        ref[sdd == s] = p_std[sdd == s].mean(axis=0)
    return ref


def _cell_corrections(p_std: np.ndarray, p_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The starting point of the model's corrections: (c0, c1) per cell.

    They carry the reference calibration closest (least squares over the region) to the cell's
    classic one.
    """
    from bayes_vip.physics.response import adc_to_energy, energy_to_adc

    c = np.zeros((len(p_std), 2))
    e_grid = np.linspace(*MODEL_ROI_EV, 31)
    for i in range(len(p_std)):
        a = np.asarray(energy_to_adc(e_grid, p_std[i]))
        e_ref = np.asarray(adc_to_energy(a, p_ref[i]))
        x = np.stack([np.ones_like(a), (e_ref - E_REF) / 1000.0], axis=-1)
        c[i] = np.linalg.lstsq(x, e_grid - e_ref, rcond=None)[0]
    return c[:, 0], c[:, 1]


def build_data(
    man,
    ds: xr.Dataset,
    classic: dict,
    *,
    signal,
    bin_eV: float,
    n_int_model: str = "rs",
    cal: xr.Dataset | None = None,
    adc_group: int | None = None,
    priors: str = "empirical-bayes",
    below: dict | None = None,
    line_sd_eV: float = 0.0,
    background: str = "separate",
    drift_days: float = 7.0,
) -> BayesData:
    """BayesData of a run.

    ``classic`` is its ``classic.json``; ``cal`` its calibration (ADC level); ``bin_eV`` the
    bin width of the model's spectra (``sample.bin_eV``); ``priors`` one of ``PRIOR_SETS``,
    and for ``external`` ``below`` the fitted values of the lines below the region
    (``analysis.classic.fit_lines_below``); ``line_sd_eV`` the sd of the prior on the PEP
    line's position (0: fixed at its nominal energy); ``background``: ``"separate"`` (each
    period its own rates and levels) or ``"shared"`` (one background for every current,
    drifting on the run clock in blocks of ``drift_days``: ``BayesData.drift_block``).
    """
    if background not in BACKGROUNDS:
        msg = f"unknown background {background!r}; choose from {', '.join(BACKGROUNDS)}"
        raise InputError(msg, field="sample.background")
    drift_s = drift_days * SECONDS_PER_DAY if background == "shared" else None
    if drift_s is not None and not (math.isfinite(drift_s) and drift_s > 0):
        msg = f"must be > 0, got {drift_days}"
        raise InputError(msg, field="sample.drift_days")
    if priors not in PRIOR_SETS:
        msg = f"unknown prior set {priors!r}; choose from {', '.join(PRIOR_SETS)}"
        raise InputError(msg, field="sample.priors")
    if priors == "external" and below is None:
        msg = "the external prior set needs the fit of the lines below the region"
        raise InputError(msg, field="sample.priors")
    level = ds.attrs["level"]
    if level == "adc":
        if cal is None:
            msg = "ADC-level run without calibration"
            raise InputError(msg, field="calibration.nc")
        d = _calibrated_batches(ds, cal)
        edges, counts, mask, live, period, sdd, batch, p_std, cells = _adc_cells(
            d, cal, adc_group, bin_eV
        )
        clock = batch_clock_s(d)[period, batch]  # each cell's batch on the run clock
        sdd_ids = [int(x) for x in cal["sdd"].values]
        adc_extra = {"p_ref": _reference_calibration(p_std, sdd)}
        adc_extra.update(_calibration_lines(cal, cells))
    else:
        edges, counts, mask, live, period, sdd, batch, p_std, _ = energy_cells(ds, bin_eV, drift_s)
        clock = None  # with drift_s, the cells are per drift block already (batch)
        adc_extra = {}
        sdd_ids = [int(x) for x in ds["sdd"].values]
    names = [str(x) for x in ds["period"].values]
    current = np.asarray(ds["current_A"].values, dtype=float)
    if not np.any(current[period] > 0):
        msg = (
            "the run has no current-on data (no period with current_A > 0): there is no "
            "signal to constrain"
        )
        raise InputError(
            msg,
            file=man.path,
            field="periods.current_A",
        )
    if not np.any(current[period] == 0):
        msg = "the run has no current-off period; the background needs one"
        raise InputError(
            msg,
            file=man.path,
            field="periods.current_A",
        )
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        msg = "counts must be finite and >= 0"
        raise InputError(msg, file=man.path, field="counts")
    n_sdd = len(sdd_ids)
    exp = run_exposure(
        man, current_A=current[period], live_s=live, n_sdd=n_sdd, n_int_model=n_int_model
    )
    # ---- initial values from the classic fit, split over cells by their counts
    v2 = classic["step2"]["values"]
    f2 = classic["step2"]["fixed"]
    groups = tuple(ROI_GROUPS)
    P, S, G = len(names), n_sdd, len(groups)
    tot = np.zeros((P, S))
    live_ps = np.zeros((P, S))
    for i in range(len(live)):
        tot[period[i], sdd[i]] += counts[i].sum()
        live_ps[period[i], sdd[i]] += live[i]
    side = ["on" if current[p] > 0 else "off" for p in range(P)]
    frac = np.zeros((P, S))
    for p in range(P):
        same = [q for q in range(P) if side[q] == side[p]]
        frac[p] = tot[p] / max(tot[same].sum(), 1.0)
    rate = np.zeros((P, S, G))
    level_ = np.zeros((P, S))
    for p in range(P):
        for s in range(S):
            t = max(live_ps[p, s], 1.0)
            for g, key in enumerate(groups):
                rate[p, s, g] = max(v2.get(f"{side[p]}.{key}", 1.0), 1.0) * frac[p, s] / t
            level_[p, s] = max(v2.get(f"{side[p]}.level", 1e-3), 1e-6) * frac[p, s] / t
    rate = np.maximum(rate, 1e-12)
    level_ = np.maximum(level_, 1e-15)
    noise_p = np.array(
        [f2.get(f"{side[p]}.noise", v2.get(f"{side[p]}.noise", 35.0)) for p in range(P)]
    )
    k_b = exp.counts_per_beta2half * BETA_UNIT
    n_x0 = max(float(classic.get("N_X", 0.0)), 0.1 * float(classic.get("sigma_N_X", 10.0)))
    init = {
        "noise_p": noise_p,
        "fano": float(np.clip(f2.get("fano", v2.get("fano", FANO_START)), 0.06, 0.29)),
        "tail_frac": float(
            np.clip(
                v2.get("tail_frac", f2.get("tail_frac", MEASURED_2016_17["tail_frac"])), 0.005, 0.45
            )
        ),
        "tail_beta": float(
            np.clip(
                v2.get("tail_beta", f2.get("tail_beta", MEASURED_2016_17["tail_beta"])), 0.2, 20.0
            )
        ),
        "shelf_frac": float(np.clip(f2.get("shelf_frac", v2.get("shelf_frac", 0.05)), 0.005, 0.29)),
        "rate": rate,
        "level": level_,
        "slope": float(v2.get("slope", f2.get("slope", 0.0))),
        "shift": float(v2.get("shift", 0.0)),
        "N_X": n_x0,
        "beta2half_1e29": n_x0 / k_b,
        "sigma_N_X": float(classic.get("sigma_N_X", float("nan"))),
    }
    # the resolution at E_REF with the classic noise (mean of the periods) and Fano factor:
    # the scale of the tail's centroid shift (model.CENTROID_OFFSETS)
    init["sigma_ref"] = float(sigma_at(E_REF, float(np.mean(noise_p)), init["fano"], xp=np))
    prior = prior_centres(
        priors,
        init,
        below=below,
        side=side,
        tot=tot,
        live_ps=live_ps,
        v2=v2,
        groups=groups,
    )
    drift_block = None
    if drift_s is not None:  # energy level: the cells' batch is their drift block already
        drift_block = np.asarray(batch, np.int64) if clock is None else drift_blocks(clock, drift_s)
    return BayesData(
        drift_block=drift_block,
        level=level,
        edges=edges,
        counts=counts,
        mask=mask,
        live_s=live,
        period=period,
        sdd=sdd,
        batch=batch,
        period_names=names,
        sdd_ids=sdd_ids,
        current_A=current,
        groups=groups,
        signal=signal,
        counts_per_beta2half=exp.counts_per_beta2half,
        efficiency=man.efficiency.value,
        efficiency_rel=man.efficiency.rel_uncertainty,
        n_int_model=n_int_model,
        bin_eV=bin_eV,
        p_std=p_std,
        init=init,
        prior=prior,
        line_sd_eV=float(line_sd_eV),
        **adc_extra,
    )


def prior_centres(
    priors: str,
    init: dict,
    *,
    below: dict | None,
    side: list[str],
    tot: np.ndarray,
    live_ps: np.ndarray,
    v2: dict,
    groups: tuple[str, ...],
) -> dict:
    """The centres of the nuisance priors under the prior set ``priors`` (``PRIOR_SETS``).

    ``empirical-bayes``: the starting values, that is the run's own classic fit, and the Fano
    factor ``FANO_START``. ``external``: the Fano factor of silicon measured elsewhere
    (``FANO_SI_PRIOR``); the noise per period, the tail's slope and the shelf from the lines
    below the region (``below``, a fit with that Fano factor); the rates and the continuum
    level of every SDD, per live second, from the current-off period's classic fit and
    counts, for current-on and current-off cells alike; the continuum slope around zero.
    ``tot`` and ``live_ps`` are the counts in the region and the live time per (period, SDD).
    """
    out = {
        "set": priors,
        "fano": FANO_START,
        "noise_p": np.asarray(init["noise_p"], float),
        "tail_beta": init["tail_beta"],
        "shelf_frac": init["shelf_frac"],
        "rate": init["rate"],
        "level": init["level"],
        "slope": init["slope"],
        "slope_sd": SLOPE_PRIOR_SD[priors],
    }
    if priors == "empirical-bayes":
        return out
    assert below is not None
    P, S = tot.shape
    off = [p for p in range(P) if side[p] == "off"]
    # each SDD's share of the current-off counts, per live second of that SDD
    per_s = tot[off].sum(0) / max(tot[off].sum(), 1.0) / np.maximum(live_ps[off].sum(0), 1.0)
    rate = np.stack([max(v2.get(f"off.{k}", 1.0), 1.0) * per_s for k in groups], axis=-1)  # (S, G)
    level = max(v2.get("off.level", 1e-3), 1e-6) * per_s
    out.update(
        fano=FANO_SI_PRIOR,
        noise_p=np.array([float(below[f"{side[p]}.noise"]) for p in range(P)]),
        tail_beta=float(np.clip(below["tail_beta"], 0.2, 20.0)),
        shelf_frac=float(np.clip(below["shelf_frac"], 0.005, 0.29)),
        rate=np.broadcast_to(np.maximum(rate, 1e-12), (P, S, len(groups))).copy(),
        level=np.broadcast_to(np.maximum(level, 1e-15), (P, S)).copy(),
        slope=0.0,
    )
    return out


def init_values(data: BayesData, prior: str, *, centroid_offsets=CENTROID_OFFSETS) -> dict:
    """Constrained initial values of every sampled site (the classic solution).

    ``centroid_offsets``: the model samples the centroids' offsets (``model.CENTROID_OFFSETS``,
    ``model.centroid_coefficients``).
    """
    ini = data.init
    P, S = data.n_period, data.n_sdd
    v = {
        "fano": ini["fano"],
        "noise_mu": np.log(ini["noise_p"]),
        "noise_tau": NOISE_TAU_PRIOR[0],  # the median of its prior
        # log noise = noise_mu exactly (model.NOISE_CENTRING)
        "noise_z": np.broadcast_to(NOISE_CENTRING * np.log(ini["noise_p"])[:, None], (P, S)),
        "tail_frac": ini["tail_frac"],
        "tail_beta": ini["tail_beta"],
        "shelf_frac": ini["shelf_frac"],
        "log_rate": np.log(ini["rate"]),
        "log_level": np.log(ini["level"]),
        "slope": np.full(S, ini["slope"]),
        "efficiency": data.efficiency,
    }
    floor = slope_floor(data)
    if floor is not None:  # inside the truncated slope prior's support
        v["slope"] = np.maximum(v["slope"], floor + 0.1 * SLOPE_PRIOR_SD["external"])
    if data.drift_block is not None:
        # one background for every current: the periods' mean; no drift to start from
        v["log_rate"] = np.log(np.mean(ini["rate"], axis=0))
        v["log_level"] = np.log(np.mean(ini["level"], axis=0))
        if data.n_drift >= 2:
            v["drift_sd"] = 0.02
            v["drift_z"] = np.zeros(data.n_drift - 1)
    if data.run is not None:
        # several runs (bayes.combine): noise_z on the (period, SDD) pairs; the rates and
        # levels are already per pair; each run's efficiency at its nominal value
        pp = data.runs["pair_period"]
        v.update(
            noise_tau=np.full(data.n_run, NOISE_TAU_PRIOR[0]),
            noise_z=NOISE_CENTRING * np.log(ini["noise_p"])[pp],
            eff_z=np.zeros(data.n_run),
        )
        del v["efficiency"]
        if data.runs["n_group"]:
            v["eff_g"] = np.zeros(data.runs["n_group"])
    # the tail's shift of the line centroids (model.CENTROID_OFFSETS)
    alpha = centroid_coefficients(centroid_offsets, S)
    tf, tb = ini["tail_frac"], ini["tail_beta"]
    if data.run is not None:  # per SDD, its run's tail
        r = data.runs["sdd_run"]
        tf, tb = np.asarray(tf)[r], np.asarray(tb)[r]
    shift_t = 0.0 if alpha is None else alpha * tf * tb * ini["sigma_ref"]
    if data.level == "energy":
        v.update(gain=np.zeros(S))
        if alpha is not None:
            v["offset_c"] = np.full(S, ini["shift"] - shift_t)
        else:
            v["offset"] = np.full(S, ini["shift"])
    else:
        c0, c1 = _cell_corrections(data.p_std, data.p_ref)
        c0 = c0 + np.broadcast_to(ini["shift"], (S,))[data.sdd]  # several runs: per SDD
        m0, m1 = (
            np.array([x[data.sdd == s].mean() if np.any(data.sdd == s) else 0.0 for s in range(S)])
            for x in (c0, c1)
        )
        v.update(cal_m1=m1, cal_c2=np.zeros(S), cal_c0=c0, cal_c1=c1)
        if alpha is not None:
            v["cal_m0c"] = m0 - shift_t
        else:
            v["cal_m0"] = m0
    if prior == "flat-beta":
        v["beta2half_1e29"] = ini["beta2half_1e29"]
    else:
        v["N_X"] = ini["N_X"]
    if data.line_sd_eV > 0:  # the line at its nominal energy
        v["line_z"] = 0.0
    return v


def default_upper(data: BayesData, classic: dict, prior: str) -> float:
    """Upper bound of the flat signal prior: 20 classic sigmas above max(N_X, 0).

    In counts (flat-counts) or in units of ``BETA_UNIT`` (flat-beta).
    """
    n_max = max(float(classic["N_X"]), 0.0) + 20.0 * float(classic["sigma_N_X"])
    if prior == "flat-counts":
        return n_max
    return n_max / (data.counts_per_beta2half * BETA_UNIT)
