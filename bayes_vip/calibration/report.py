"""``bayes-vip calibrate``: run the calibration of a run and write its results and figures.

Outputs in ``RUN/results/``: ``calibration.nc`` (the constants, see ``calibrate``),
``calibration.json`` (summary, seed-002 table 1, exclusions and warnings) and figures:
``calibration_loglik.png`` (seed fig. 5), ``calibration_shift.png`` (seed fig. 6),
``calibration_cu_ka.png`` (seed fig. 7).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from iminuit import Minuit

from bayes_vip.calibration.linefit import TAIL_BETA
from bayes_vip.calibration.refine import DEFAULT_ITERATIONS
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import atomic_path, write_json
from bayes_vip.physics import lines as _lines
from bayes_vip.physics.response import FWHM_PER_SIGMA, line_cdf

__all__ = [
    "CU_KA_RANGE",
    "fit_cu_ka",
    "summed_energy_spectrum",
    "run_calibrate",
    "calibration_path",
    "load_calibration",
    "energy_campaign",
]

#: Range and binning of the seed-002 table-1 fit (eq. 4), 7000-8500 eV (seed 002 fig. 7).
CU_KA_RANGE = (7000.0, 8500.0)
CU_KA_BIN_EV = 10.0


@jax.jit
def _eq4_expected(q, edges):
    """Seed 002 eq. 4: Ka1 at mu, Ka2 at mu - 20 eV with 51/100 of its area, each with the
    eq. 5 tail (shared fraction), on a linear background; q = mu, sigma, A, tail, m, C."""
    mu, sig, amp, tail, m, c = q
    grp = _lines.line_group("Cu Ka")
    d = grp.energies[1] - grp.energies[0]  # -20 eV (seed: 8027.8 - 8047.8)
    r = grp.lines[1].intensity / grp.lines[0].intensity  # 0.51
    cdf = line_cdf(edges, mu, sig, tail, TAIL_BETA) + r * line_cdf(
        edges, mu + d, sig, tail, TAIL_BETA
    )
    x0 = 0.5 * (edges[0] + edges[-1])
    lin = m * 0.5 * ((edges - x0) ** 2) + c * edges
    return amp * (cdf[1:] - cdf[:-1]) + (lin[1:] - lin[:-1])


def _eq4_deviance(q, edges, counts):
    """Poisson deviance of eq. 4 against binned counts (0 log 0 = 0)."""
    mu = jnp.maximum(_eq4_expected(q, edges), 1e-12)
    t = jnp.where(counts > 0, counts * jnp.log(jnp.where(counts > 0, counts, 1.0) / mu), 0.0)
    return 2.0 * jnp.sum(mu - counts + t)


# compiled once per binning shape, not once per call
_eq4_dev = jax.jit(_eq4_deviance)
_eq4_grad = jax.jit(jax.grad(_eq4_deviance))


def fit_cu_ka(counts: np.ndarray, edges: np.ndarray) -> dict:
    """Fit eq. 4 to an energy spectrum on 7000-8500 eV; position, FWHM and chi2/ndf.

    chi2 is Neyman's (variance = observed counts, 1 for empty bins), as the seed's MINUIT fit
    reports; the fit itself minimises the Poisson deviance.
    """
    sel = (edges[:-1] >= CU_KA_RANGE[0] - 1e-9) & (edges[1:] <= CU_KA_RANGE[1] + 1e-9)
    k = int(round(CU_KA_BIN_EV / np.diff(edges)[0]))
    c = counts[sel]
    n = len(c) // k
    c = c[: n * k].reshape(n, k).sum(axis=1)
    e = edges[:-1][sel][: n * k : k]
    e = jnp.asarray(np.append(e, e[-1] + CU_KA_BIN_EV))
    cj = jnp.asarray(c, dtype=jnp.float64)
    grp = _lines.line_group("Cu Ka")
    ka2_ka1 = grp.lines[1].intensity / grp.lines[0].intensity
    bg = float(np.median(c[:10])) / CU_KA_BIN_EV
    amp0 = max(float(c.sum()) - bg * CU_KA_BIN_EV * n, 10.0) / (1.0 + ka2_ka1)
    m = Minuit(
        lambda q: float(_eq4_dev(jnp.asarray(q), e, cj)),
        [grp.energies[0], 75.0, amp0, 0.05, 0.0, bg],
        grad=lambda q: np.asarray(_eq4_grad(jnp.asarray(q), e, cj)),
        name=("mu", "sigma", "A", "tail", "m", "C"),
    )
    m.errordef = 1.0
    m.limits["sigma"] = (20.0, 200.0)
    m.limits["A"] = (0.0, None)
    m.limits["tail"] = (0.0, 0.5)
    m.limits["mu"] = (7900.0, 8200.0)
    m.migrad()
    m.hesse()
    expc = np.asarray(_eq4_expected(jnp.asarray(m.values), e))
    chi2 = float(np.sum((c - expc) ** 2 / np.maximum(c, 1.0)))
    ndf = n - 6
    return {
        "position_eV": [float(m.values["mu"]), float(m.errors["mu"])],
        "fwhm_eV": [
            float(FWHM_PER_SIGMA * m.values["sigma"]),
            float(FWHM_PER_SIGMA * m.errors["sigma"]),
        ],
        "chi2": chi2,
        "ndf": ndf,
        "chi2_ndf": chi2 / ndf,
        "counts": float(c.sum()),
        "valid": bool(m.valid),
        "model": np.asarray(expc).tolist(),
        "edges": np.asarray(e).tolist(),
        "data": c.tolist(),
    }


def summed_energy_spectrum(
    counts_adc: np.ndarray, p: np.ndarray, ok: np.ndarray, *, seed: int = 0, edges=None
) -> tuple[np.ndarray, np.ndarray]:
    """Sum over the calibrated cells of their energy spectra (1 eV bins, 6.5-9 keV)."""
    from bayes_vip.calibration.calibrate import cell_energy_histograms

    edges = np.arange(6500.0, 9000.0 + 0.5, 1.0) if edges is None else edges
    rng = np.random.default_rng(seed)
    h = cell_energy_histograms(counts_adc[ok], p[ok], edges, rng)
    return h.sum(axis=0), edges


def _plots(cal: xr.Dataset, info: dict, table: dict, out: Path) -> list[str]:
    import matplotlib.pyplot as plt

    from bayes_vip.results.plots import save

    files = []
    if info.get("refined"):
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ll = np.asarray(info["loglik"])
        ax.plot(np.arange(len(ll)), ll)
        ax.set_xlabel("iteration")
        ax.set_ylabel("log-likelihood (eq. 3)")
        ax.set_title(f"Refinement ({'+'.join(info['windows'])} windows)")
        files.append(save(fig, out / "calibration_loglik.png"))

        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        pull = _centroid_pulls(cal)
        pull = pull[np.isfinite(pull)]
        ax.hist(pull, bins=40)
        ax.set_xlabel(r"$(\mu^{ref}_{Cu} - \mu^{opt}_{Cu}) / \sigma_{\mu^{ref}_{Cu}}$")
        ax.set_ylabel("batches")
        ax.set_title(f"Cu Ka centroid shift ({pull.size} batches)")
        files.append(save(fig, out / "calibration_shift.png"))

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, res in table.items():
        e = np.asarray(res["edges"])
        x = 0.5 * (e[1:] + e[:-1])
        line = ax.step(x, res["data"], where="mid", lw=0.8, label=f"{label}: data")[0]
        ax.plot(
            x,
            res["model"],
            color=line.get_color(),
            lw=1.5,
            label=f"{label}: {res['position_eV'][0]:.1f} eV, FWHM {res['fwhm_eV'][0]:.1f} eV",
        )
    ax.set_xlabel("energy [eV]")
    ax.set_ylabel(f"counts / {CU_KA_BIN_EV:g} eV")
    ax.set_title("Cu Ka, all calibrated batches (seed 002 fig. 7, eq. 4)")
    ax.legend(fontsize=7)
    files.append(save(fig, out / "calibration_cu_ka.png"))
    return [str(f) for f in files]


def _centroid_pulls(cal: xr.Dataset) -> np.ndarray:
    """Seed 002 fig. 6: (mu_ref - mu_opt) / sigma(mu_ref) of every batch's Cu Ka centroid."""
    a = cal["line_adc"].sel(line="Cu Ka").values
    sa = cal["line_adc_err"].sel(line="Cu Ka").values
    p_s, p_r = cal["p_standard"].values, cal["p_refined"].values

    def energy(p):
        return p[..., 0] + p[..., 1] * a + p[..., 2] * a * a

    slope = p_s[..., 1] + 2 * p_s[..., 2] * a
    return (energy(p_s) - energy(p_r)) / (slope * sa)


def calibration_path(man) -> Path:
    """Where ``calibrate`` writes the calibration of the run of manifest ``man``."""
    return Path(man.path).parent / "results" / "calibration.nc"


def load_calibration(path: Path) -> xr.Dataset:
    if not path.is_file():
        raise InputError("no calibration; run `bayes-vip calibrate RUN` first", file=path)
    try:
        with xr.open_dataset(path, engine="h5netcdf") as d:
            return d.load()
    except Exception as exc:
        raise InputError(f"cannot read calibration: {exc}", file=path) from None


def energy_campaign(man, ds=None) -> xr.Dataset:
    """The energy-level Campaign of a run: itself, or its ADC data through ``calibrate``'s
    refined constants (``RUN/results/calibration.nc``)."""
    from bayes_vip.io.campaign import build_campaign

    ds = build_campaign(man) if ds is None else ds
    if ds.attrs.get("level") == "energy":
        return ds
    from bayes_vip.calibration.calibrate import calibrated_campaign

    cal = load_calibration(calibration_path(man))
    return calibrated_campaign(ds, cal, which="refined")


def run_calibrate(
    run: str | Path,
    *,
    batch_hours: float | None = None,
    refine: bool = True,
    refine_lines: str = "cu",
    iterations: int = DEFAULT_ITERATIONS,
    figures: bool = True,
    progress=None,
) -> dict:
    """Calibrate ``run``; write calibration.nc / .json and figures; return the summary."""
    import warnings

    from bayes_vip.calibration.calibrate import CalibrationWarning, calibrate
    from bayes_vip.io.campaign import build_campaign
    from bayes_vip.io.manifest import load_manifest

    if refine_lines not in ("cu", "all"):
        raise InputError(f"must be cu or all, got {refine_lines!r}", field="--refine-lines")
    if iterations < 1:
        raise InputError(f"must be >= 1, got {iterations}", field="--iterations")
    man = load_manifest(run)
    ds = build_campaign(man)
    if ds.attrs["level"] != "adc":
        raise InputError(
            "this run is already energy-calibrated (run.level = energy); calibrate needs ADC data",
            file=man.path,
            field="run.level",
        )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # collected into the result
        cal = calibrate(
            ds,
            batch_hours=batch_hours,
            refine=refine,
            refine_lines=refine_lines,
            progress=progress,
            refine_kwargs={"iterations": iterations},
        )
    seconds = time.perf_counter() - t0
    info = json.loads(cal.attrs["refinement_json"])
    status = cal["status"].values
    ok = status == 0
    from bayes_vip.calibration.calibrate import regroup_batches

    counts = regroup_batches(ds, batch_hours)["counts"].values
    table = {}
    for which in ("standard", "refined") if refine else ("standard",):
        h, e = summed_energy_spectrum(counts, cal[f"p_{which}"].values, ok)
        table["reference" if which == "standard" else "optimized"] = fit_cu_ka(h, e)
    truth = man.raw.get("truth")
    if truth is not None and "calibration" in truth and batch_hours is None:
        p_true = np.asarray(truth["calibration"])
        if p_true.shape[:3] == ok.shape:
            h, e = summed_energy_spectrum(counts, p_true, ok)
            table["true calibration"] = fit_cu_ka(h, e)
    excluded = [
        {
            "period": str(cal["period"].values[i]),
            "sdd": int(cal["sdd"].values[j]),
            "batch": int(cal["batch"].values[k]),
            "reason": str(cal["reason"].values[i, j, k]),
        }
        for i, j, k in np.argwhere(status == 1)
    ]
    pulls = _centroid_pulls(cal) if refine else np.array([])
    pulls = pulls[np.isfinite(pulls)]
    summary = {
        "run": man.name,
        "batch_hours": batch_hours,
        "cells": {
            "calibrated": int(ok.sum()),
            "excluded": len(excluded),
            "fallback_peak_search": int((cal["seed_source"].values == 1).sum()),
        },
        "excluded": excluded,
        "warnings": json.loads(cal.attrs["warnings_json"]),
        "refinement": {k: v for k, v in info.items() if k != "loglik"}
        | ({"loglik_first_last": [info["loglik"][0], info["loglik"][-1]]} if refine else {}),
        "cu_ka_shift_pulls": (
            {
                "n": int(pulls.size),
                "median_abs": float(np.median(np.abs(pulls))),
                "within_1sigma": float(np.mean(np.abs(pulls) < 1)),
            }
            if pulls.size
            else None
        ),
        "table_1": {
            k: {kk: v[kk] for kk in ("position_eV", "fwhm_eV", "chi2_ndf", "counts", "valid")}
            for k, v in table.items()
        },
        "table_1_note": "seed 002 eq. 4 fitted to the sum of all calibrated batches, 7000-8500 eV, "
        "10 eV bins; chi2 is Neyman's",
        "seconds": seconds,
    }
    out = Path(man.path).parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "calibration.nc") as tmp:
        cal.to_netcdf(tmp, engine="h5netcdf")
    write_json(out / "calibration.json", summary)
    if figures:
        summary["figures"] = _plots(cal, info, table, out)
        write_json(out / "calibration.json", summary)
    return summary
