"""The classic fits of several runs combined in beta^2/2: one profile likelihood.

Each run keeps its own two-step fit (seed 000): its step 2 is a likelihood in the run's PEP
counts N_X with every other parameter profiled (``classic._ClassicProfile``). The runs share
no nuisance parameter there, so the joint likelihood of beta^2/2 (``b``, in units of 1e-29)
is the product of theirs at ``N_X,r = b k_r``, with ``k_r`` the run's PEP counts per unit
``b`` at its nominal efficiency (``physics.conversion``):

    S(b) = sum_r S_r(b k_r),

each ``S_r`` minimised over the run's own nuisances. ``CombinedProfile`` is that sum as an
``asymptotic.Profile`` in ``b``, so the one-sided profile-likelihood and CLs limits and
their Asimov bands (Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554) follow as for one
run. As there, the efficiencies enter at their nominal values; the hierarchical model
(``bayes.combine``) carries their uncertainties and correlations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from bayes_vip.errors import AnalysisError

__all__ = ["CombinedProfile"]


class CombinedProfile:
    """Several runs' step-2 profiles summed in beta^2/2 (module docstring).

    ``profiles``: each run's ``asymptotic.Profile`` in its N_X (counts); ``k``: each run's
    PEP counts per unit of ``b`` (1e-29). The data are a tuple of the runs' data.
    """

    def __init__(self, profiles: list[Any], k: list[float]):
        self.profiles, self.k = list(profiles), [float(x) for x in k]
        if len(self.profiles) != len(self.k) or len(self.k) < 2:
            msg = "CombinedProfile needs two runs or more, each with its conversion"
            raise ValueError(msg)
        # the Gaussian combination of the runs' errors in b: the scale of every scan
        w = [(kr / p.scale) ** 2 for p, kr in zip(self.profiles, self.k, strict=True)]
        self.scale = float(1.0 / np.sqrt(sum(w)))
        self.observed = tuple(p.observed for p in self.profiles)

    def deviance(self, mu: float, data: Any) -> float:
        """S(b) on ``data`` (one entry per run): the runs' profiled statistics at b k_r."""
        return float(
            sum(
                p.deviance(mu * kr, d) for p, kr, d in zip(self.profiles, self.k, data, strict=True)
            )
        )

    def best(self, data: Any) -> tuple[float, float]:
        """``(b_hat, S(b_hat))``: the joint fit, b free (it may come out negative)."""
        # each run's own best fit, combined with Gaussian weights: the bracket's centre
        fits = [p.best(d) for p, d in zip(self.profiles, data, strict=True)]
        w = np.array([(kr / p.scale) ** 2 for p, kr in zip(self.profiles, self.k, strict=True)])
        b0 = float(np.sum(w * np.array([f[0] / kr for f, kr in zip(fits, self.k, strict=True)])))
        b0 /= float(np.sum(w))
        s = self.scale

        def f(b: float) -> float:
            return self.deviance(b, data)

        try:
            res = minimize_scalar(f, bracket=(b0 - s, b0, b0 + s), tol=1e-6)
        except ValueError:  # b0 is not below both neighbours: the minimum lies further out
            bounds = (b0 - 10.0 * s, b0 + 10.0 * s)
            res = minimize_scalar(f, bounds=bounds, method="bounded", options={"xatol": 1e-6 * s})
        if not np.isfinite(res.fun):
            msg = "the combined profile likelihood has no finite minimum"
            raise AnalysisError(msg)
        return float(res.x), float(res.fun)

    def asimov(self, mu: float) -> tuple:
        """The runs' expected data at b = ``mu``, each with its nuisances fitted there."""
        return tuple(p.asimov(mu * kr) for p, kr in zip(self.profiles, self.k, strict=True))
