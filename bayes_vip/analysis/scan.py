"""A scan of the classic fit over the PEP line's energy (issue 15, item 3).

For a line centred anywhere in a window (7.6-7.9 keV by default), step 2 of the two-step
fit is repeated with the line moved there, everything else as the fit at the nominal energy
chose it (the same fixed resolution and tail, the same free parameters). At each energy:
N_X and its error, the profile-likelihood and CLs upper limits at one level, their expected
median and bands (asymptotic, ``analysis.asymptotic``), and the local significance of an
excess, Z = sqrt(q0) with q0 = S(0) - S(N_hat) for N_hat > 0 (one-sided; Z = 0 otherwise).

The look-elsewhere effect follows Gross and Vitells, EPJC 70 (2010) 525: the global p-value
of the largest q0 in the window is about p_local + <N(u0)> exp(-(q0_max - u0) / 2), with
<N(u0)> the mean number of upcrossings of the level u0 by q0(E). Here <N(u0)> is the
number counted in the observed scan at u0 = 1 (Z = 1), which is a noisy estimate of the
mean: the record says so and gives the count. A scan that starts above u0 counts that as
one upcrossing (the excursion's Euler characteristic), which errs on the conservative side.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

from bayes_vip.analysis.asymptotic import frequentist_limits
from bayes_vip.analysis.classic import (
    ClassicResult,
    _ClassicProfile,
    _Fitter,
)
from bayes_vip.analysis.spectral import Spectra
from bayes_vip.errors import AnalysisError
from bayes_vip.physics.lines import pep_signal

__all__ = ["UPCROSSING_LEVEL", "look_elsewhere", "scan_energy"]

#: The level u0 of q0 whose upcrossings the look-elsewhere estimate counts (Z = 1).
UPCROSSING_LEVEL = 1.0


def look_elsewhere(energies: Sequence[float], q0: Sequence[float], u0: float = UPCROSSING_LEVEL):
    """Local and global significance of the largest excess of a scan (Gross-Vitells).

    Returns the energy and q0 of the largest excess, its local one-sided p-value and Z, the
    upcrossings of ``u0`` counted along the scan, and the global p-value and Z.
    """
    q = np.maximum(np.asarray(q0, dtype=float), 0.0)
    i = int(np.argmax(q))
    up = int(np.sum((q[:-1] <= u0) & (q[1:] > u0)) + (q[0] > u0))
    p_local = float(stats.norm.sf(math.sqrt(q[i])))
    p_global = min(1.0, p_local + up * math.exp(-(q[i] - u0) / 2.0)) if q[i] > u0 else 1.0
    p_global = max(p_global, p_local)
    return {
        "energy_eV": float(energies[i]),
        "q0": float(q[i]),
        "p_local": p_local,
        "z_local": float(math.sqrt(q[i])),
        "upcrossings": up,
        "u0": u0,
        "p_global": p_global,
        "z_global": float(max(stats.norm.isf(p_global), 0.0)) if p_global < 0.5 else 0.0,
    }


def scan_energy(
    res: ClassicResult,
    spectra: Spectra,
    energies: Sequence[float],
    *,
    level: float = 0.95,
    on_point: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Step 2 of ``res`` refitted with the PEP line at each of ``energies`` [eV].

    ``spectra`` are step 2's spectra. A point whose fit has no valid minimum is kept, with
    ``valid: False`` and no numbers. ``on_point(done, total)`` reports progress.
    """
    jm0, best0 = res.jm2, res.step2
    points = []
    for k, e in enumerate(energies):
        jm = dataclasses.replace(jm0, signal=pep_signal(float(e)))
        fitter = _Fitter(jm, spectra, res.statistic)
        start = {**best0.values, "N_X": max(best0.values["N_X"], 0.0)}
        _, r = fitter.run(start)
        point: dict[str, Any] = {"energy_eV": float(e), "valid": bool(r.is_valid)}
        if r.is_valid:
            try:
                prof = _ClassicProfile(fitter, r)
                n_hat = r.values["N_X"]
                q0 = max(prof.deviance(0.0, fitter.counts) - r.fval, 0.0) if n_hat > 0 else 0.0
                freq = frequentist_limits(prof, fitter.counts, (level,))
                key = f"{level:g}"
                point.update(
                    N_X=n_hat,
                    sigma_N_X=r.errors["N_X"],
                    q0=q0,
                    z_local=math.sqrt(q0),
                    profile=freq["profile"][key],
                    cls=freq["cls"][key],
                    expected_cls=freq["expected"]["cls"][key],
                    expected_profile=freq["expected"]["profile"][key],
                )
            except AnalysisError as exc:
                point.update(valid=False, error=str(exc))
        points.append(point)
        if on_point is not None:
            on_point(k + 1, len(energies))
    good = [p for p in points if p["valid"]]
    if not good:
        msg = "energy scan: no energy gave a valid fit"
        raise AnalysisError(msg)
    lee = look_elsewhere([p["energy_eV"] for p in good], [p["q0"] for p in good])
    return {"level": level, "points": points, "largest_excess": lee}
