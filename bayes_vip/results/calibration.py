"""The calibration's result: ``calibration.json`` and its figures.

Figures in ``RUN/results/``: ``calibration_loglik.png`` (seed 002 fig. 5),
``calibration_shift.png`` (seed 002 fig. 6), ``calibration_cu_ka.png`` (seed 002 fig. 7).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayes_vip.calibration.cu_ka import CU_KA_BIN_EV, centroid_pulls
from bayes_vip.results.plots import save

__all__ = ["calibration_figures", "calibration_record"]


def calibration_record(
    run_name: str,
    cal: xr.Dataset,
    table: dict[str, dict],
    *,
    batch_hours: float | None,
    refine: bool,
    seconds: float,
) -> dict[str, Any]:
    """What ``calibration.json`` holds.

    Cells calibrated and excluded, warnings, the refinement, the Cu Ka centroid pulls and
    seed 002's table 1 (``table``: label -> the ``fit_cu_ka`` result).
    """
    info = json.loads(cal.attrs["refinement_json"])
    status = cal["status"].values
    ok = status == 0
    excluded = [
        {
            "period": str(cal["period"].values[i]),
            "sdd": int(cal["sdd"].values[j]),
            "batch": int(cal["batch"].values[k]),
            "reason": str(cal["reason"].values[i, j, k]),
        }
        for i, j, k in np.argwhere(status == 1)
    ]
    pulls = centroid_pulls(cal) if refine else np.array([])
    pulls = pulls[np.isfinite(pulls)]
    return {
        "run": run_name,
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


def calibration_figures(cal: xr.Dataset, table: dict[str, dict], out: Path) -> list[str]:
    """Seed 002 figs. 5-7 of a calibration; returns the files written."""
    import matplotlib.pyplot as plt

    info = json.loads(cal.attrs["refinement_json"])
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
        pull = centroid_pulls(cal)
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
    ax.legend(fontsize=7, loc="upper left")
    files.append(save(fig, out / "calibration_cu_ka.png"))
    return [str(f) for f in files]
