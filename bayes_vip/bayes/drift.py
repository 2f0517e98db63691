"""Whether the posterior recovers the calibration drift of an ADC-level simulated run.

For every cell (period, SDD, batch) we take the ADC value at which the *true* calibration
puts a reference energy (Cu Ka1, and the region's ends) and ask the posterior which energy
that ADC value has (``model.cell_energy``: the SDD's reference calibration plus the latent
correction c0 + c1 u + c2 u^2). The truth is covered when it lies inside the central
interval of that posterior. ``docs/scripts/adc_drift_check.py`` runs it, optionally after
spoiling the classic calibration of some cells by a known offset.
"""

from __future__ import annotations

import numpy as np

from bayes_vip.bayes.model import BayesData, cell_energy
from bayes_vip.physics.lines import line_group
from bayes_vip.physics.response import adc_to_energy, energy_to_adc

__all__ = ["REFERENCE_EV", "calibration_recovery", "true_cell_calibration"]

#: Energies [eV] at which the recovered calibration is checked: the region's lower end, Cu
#: Ka1 (``physics.lines``: seed 002 eq. 3) and near its upper end.
REFERENCE_EV = (7200.0, float(line_group("Cu Ka").energies[0]), 9500.0)


def true_cell_calibration(man, data: BayesData) -> np.ndarray:
    """The true (p0, p1, p2) of each model cell from the manifest's ``[truth]``."""
    p = np.asarray(man.raw["truth"]["calibration"], dtype=float)  # (P, S, B, 3)
    return np.stack([p[a, b, c] for a, b, c in zip(data.period, data.sdd, data.batch, strict=True)])


def calibration_recovery(idata, data: BayesData, p_true: np.ndarray, cl: float = 0.95) -> dict:
    """How well the posterior recovers each cell's true calibration, with summaries.

    Per cell and reference energy (``REFERENCE_EV``): classic error, posterior mean error and
    sd [eV], and whether the central ``cl`` interval contains the truth; then the fraction
    covered and the rms errors over all of them.
    """
    c0 = idata.posterior["cal_c0"].values.reshape(-1, data.n_cell)
    c1 = idata.posterior["cal_c1"].values.reshape(-1, data.n_cell)
    c2 = idata.posterior["cal_c2"].values.reshape(-1, data.n_sdd)[:, data.sdd]
    q = (0.5 - cl / 2, 0.5 + cl / 2)
    rows = []
    for i in range(data.n_cell):
        for e in REFERENCE_EV:
            a = np.array([float(energy_to_adc(e, p_true[i]))])
            e_std = float(adc_to_energy(a[0], data.p_std[i]))
            post = np.asarray(cell_energy(data.p_ref[i], c0[:, i], c1[:, i], c2[:, i], a))[:, 0]
            lo, hi = np.quantile(post, q)
            rows.append(
                {
                    "cell": i,
                    "period": int(data.period[i]),
                    "sdd": int(data.sdd_ids[data.sdd[i]]),
                    "batch": int(data.batch[i]),
                    "energy_eV": e,
                    "classic_error_eV": e_std - e,
                    "posterior_error_eV": float(post.mean() - e),
                    "posterior_sd_eV": float(post.std()),
                    "covered": bool(lo <= e <= hi),
                }
            )
    cov = np.array([r["covered"] for r in rows])
    err_c = np.array([r["classic_error_eV"] for r in rows])
    err_p = np.array([r["posterior_error_eV"] for r in rows])
    return {
        "credible_level": cl,
        "covered_fraction": float(cov.mean()),
        "n": len(rows),
        "rms_classic_error_eV": float(np.sqrt(np.mean(err_c**2))),
        "rms_posterior_error_eV": float(np.sqrt(np.mean(err_p**2))),
        "cells": rows,
    }
