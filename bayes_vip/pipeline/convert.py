"""``bayes-vip convert``: counts to beta^2/2 by the Ramberg-Snow formula (seed 000 eq. 2)."""

from __future__ import annotations

import math
from typing import Any

from bayes_vip.errors import InputError
from bayes_vip.physics.conversion import beta2half_from_counts, exposure

__all__ = ["convert"]


def convert(
    *,
    counts: float,
    current_A: float,
    time_s: float,
    length_cm: float,
    mean_free_path_cm: float,
    efficiency: float,
    n_int: str = "rs",
    cross_section_cm2: float | None = None,
) -> dict[str, Any]:
    """beta^2/2 for ``counts`` PEP X-rays in ``time_s`` at ``current_A``, with its exposure."""
    for key, v in (("counts", counts), ("time_s", time_s), ("current_A", current_A)):
        if not math.isfinite(v) or v < 0 or (key != "counts" and v == 0):
            op = ">= 0" if key == "counts" else "> 0"
            msg = f"must be a finite number {op}, got {v}"
            raise InputError(msg, field=key)
    exp = exposure(
        charge_C=current_A * time_s,
        length_cm=length_cm,
        mean_free_path_cm=mean_free_path_cm,
        efficiency=efficiency,
        n_int_model=n_int,
        current_A=current_A,
        cross_section_cm2=cross_section_cm2,
    )
    return {
        "counts": counts,
        "beta2half": beta2half_from_counts(counts, exp),
        "exposure": exp.to_dict(),
        "formula": "beta^2/2 = N_X / (N_new * capture * N_int * efficiency), "
        "N_new = I*t/e (seed 000 eq. 2)",
    }
