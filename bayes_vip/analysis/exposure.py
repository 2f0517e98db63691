"""The exposure of a run: what multiplies beta^2/2 to give the expected PEP counts.

Both analyses assemble it here, from the cells (period, SDD, batch) they analyse: the charge
is the current times the live time, averaged over the run's SDDs, because the detection
efficiency of the manifest is that of all SDDs together (seed 000 eq. 2). A fit of one SDD
therefore gets its share of the exposure.
"""

from __future__ import annotations

import numpy as np

from bayes_vip.io.manifest import Manifest
from bayes_vip.physics.conversion import Exposure, exposure

__all__ = ["run_exposure"]


def run_exposure(
    man: Manifest,
    *,
    current_A: np.ndarray,
    live_s: np.ndarray,
    n_sdd: int,
    n_int_model: str,
) -> Exposure:
    """The exposure of the cells analysed from the run of ``man``.

    Parameters
    ----------
    current_A, live_s : current [A] and live time [s] of every analysed cell, same shape.
    n_sdd : the number of SDDs of the run (whose efficiency is the manifest's).
    n_int_model : a key of ``physics.conversion.N_INT_MODELS``.
    """
    current = np.asarray(current_A, dtype=float).ravel()
    live = np.asarray(live_s, dtype=float).ravel()
    on = current > 0
    charge = float(np.sum(current[on] * live[on]) / n_sdd)
    on_time = float(np.sum(live[on]) / n_sdd)
    return exposure(
        charge_C=charge,
        length_cm=man.target.length_cm,
        mean_free_path_cm=man.target.mean_free_path_cm,
        efficiency=man.efficiency.value,
        n_int_model=n_int_model,
        current_A=charge / on_time if on_time > 0 else None,
        cross_section_cm2=man.target.cross_section_cm2,
    )
