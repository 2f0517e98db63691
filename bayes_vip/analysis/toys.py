"""Frequentist limits from toys: CLs, the profile (CLs+b) limit, expected bands, Feldman-Cousins.

Everything needs only a ``asymptotic.Profile``: the best fit, the minimum of S = -2 ln L at a
fixed signal mu (every nuisance fitted), and the expected data at mu with the nuisances at
their fit to the observed data (``asimov``). Toys are Poisson draws of those expected data:
the "profile construction" that RooStats' FrequentistCalculator and pyhf's toy calculator
use, which fixes the nuisances at their conditional fit rather than integrating over them.

On a grid of mu, with toys at each mu (signal plus background) and toys at mu = 0
(background only):

- q~_mu (Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554, sec. 3.7) on every data set;
- CLs+b(mu) = P(q~_mu >= q~_obs | mu), CLb(mu) = P(q~_mu >= q~_obs | 0), CLs = CLs+b / CLb
  (A. L. Read, J. Phys. G 28 (2002) 2693); the CLs upper limit at CL is where CLs falls to
  1 - CL, and the profile-likelihood (Neyman) limit where CLs+b does, both interpolated in
  log CL between grid points;
- the expected CLs and profile limits at band n (n sigma more counts than expected: the
  higher limit) replace q~_obs by the quantile Phi(-n) of the background-only toys' q~_mu;
- Feldman-Cousins (unified, Phys. Rev. D 57 (1998) 3873) with the physical boundary mu >= 0:
  t_mu = S(mu) - S(max(mu_hat, 0)), not set to zero above mu_hat; mu lies in the interval at
  CL where P(t_mu >= t_obs | mu) > 1 - CL, which is the likelihood-ratio ordering of the
  outcomes. The interval's ends are interpolated between grid points.

Each fraction comes with its binomial standard error, and every limit with the number of
toys it rests on. A level is left unresolved (None, with the number of toys it needs) where
fewer than ``MIN_TAIL_TOYS`` toys are expected beyond its limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from bayes_vip.analysis.asymptotic import BANDS, Profile

__all__ = ["draw", "grid_statistics", "limits_from_toys", "toy_statistics"]


#: A level 1 - alpha is reported only where at least this many toys are expected beyond
#: its limit (toys x alpha): with fewer, the limit would sit wherever the toys run out.
MIN_TAIL_TOYS = 5


def draw(profile: Profile, mu: float, rng: np.random.Generator) -> np.ndarray:
    """One toy: Poisson counts of the profile's expected data at ``mu``."""
    return rng.poisson(np.asarray(profile.asimov(float(mu)), dtype=float)).astype(float)


def grid_statistics(profile: Profile, grid: Sequence[float], data: Any) -> dict[str, list]:
    """q~_mu and the Feldman-Cousins t_mu at every ``grid`` mu on ``data``: 1 + len(grid) fits.

    ``{"mu_hat": ..., "q": [...], "t": [...]}``; mu_hat is the unbounded best fit.
    """
    mu_hat, s_hat = profile.best(data)
    s0 = profile.deviance(0.0, data) if mu_hat < 0 else None
    s_ref = s_hat if mu_hat >= 0 else s0  # S at max(mu_hat, 0)
    q, t = [], []
    for mu in grid:
        mu = float(mu)
        s_mu = s0 if (mu == 0.0 and s0 is not None) else profile.deviance(mu, data)
        t_mu = max(s_mu - s_ref, 0.0)
        t.append(t_mu)
        q.append(0.0 if mu <= max(mu_hat, 0.0) else t_mu)
    return {"mu_hat": float(mu_hat), "q": q, "t": t}


def toy_statistics(profile: Profile, mu: float, data: Any) -> tuple[float, float]:
    """``(q~_mu, t_mu)`` of one data set at one mu (2 or 3 fits)."""
    g = grid_statistics(profile, [mu], data)
    return g["q"][0], g["t"][0]


def _fraction(flags: np.ndarray) -> tuple[float, float]:
    """A fraction of toys and its binomial standard error."""
    n = len(flags)
    p = float(np.mean(flags)) if n else math.nan
    return p, math.sqrt(max(p * (1 - p), 1.0 / n) / n) if n else math.nan


def _crossing(grid: np.ndarray, values: np.ndarray, target: float) -> float | None:
    """The first mu where a falling curve of CL values drops to ``target``.

    Interpolated in log CL between the grid points around it; linearly where the point
    above has no toy left beyond (a CL of 0 has no logarithm, and the log would put the
    crossing at the point below whatever the spacing).
    """
    for k in range(1, len(grid)):
        if values[k] <= target < values[k - 1]:
            if values[k] > 0:
                lo, hi = math.log(values[k - 1]), math.log(values[k])
                f = (math.log(target) - lo) / (hi - lo)
            else:
                f = (values[k - 1] - target) / values[k - 1]
            return float(grid[k - 1] + f * (grid[k] - grid[k - 1]))
    return None


def _interval_end(grid, p, k, alpha) -> float:
    """Where p crosses alpha between grid points k - 1 and k (linear)."""
    a, b = (p[k - 1], p[k])
    f = (alpha - a) / (b - a) if b != a else 0.0
    return float(grid[k - 1] + f * (grid[k] - grid[k - 1]))


def limits_from_toys(
    grid: Sequence[float],
    observed: dict[str, list],
    sb: dict[int, dict[str, np.ndarray]],
    b_q: np.ndarray,
    levels: Sequence[float],
) -> dict[str, Any]:
    """CLs, profile and Feldman-Cousins limits, and the expected CLs bands, from toys.

    ``grid``: the mu values; ``observed``: ``grid_statistics`` of the observed data; ``sb``:
    per grid index k, the toys at mu_k: ``{"q": q~_mu_k, "t": t_mu_k}`` arrays; ``b_q``: the
    background-only toys' q~ at every grid mu, shape (n_toys, len(grid)).
    """
    g = np.asarray(grid, dtype=float)
    q_obs, t_obs = np.asarray(observed["q"]), np.asarray(observed["t"])
    b_q = np.asarray(b_q, dtype=float).reshape(-1, len(g))
    points = []
    for k, mu in enumerate(g):
        toys = sb.get(k, {"q": np.array([]), "t": np.array([])})
        clsb, clsb_err = _fraction(toys["q"] >= q_obs[k] - 1e-12)
        clb, clb_err = _fraction(b_q[:, k] >= q_obs[k] - 1e-12)
        p_fc, p_fc_err = _fraction(toys["t"] >= t_obs[k] - 1e-12)
        cls = clsb / clb if clb > 0 else math.nan
        cls_err = cls * math.hypot(clsb_err / max(clsb, 1e-12), clb_err / max(clb, 1e-12))
        points.append(
            {
                "mu": float(mu),
                "toys_sb": len(toys["q"]),
                "q_obs": float(q_obs[k]),
                "t_obs": float(t_obs[k]),
                "clsb": clsb,
                "clsb_err": clsb_err,
                "clb": clb,
                "clb_err": clb_err,
                "cls": cls,
                "cls_err": cls_err,
                "p_fc": p_fc,
                "p_fc_err": p_fc_err,
            }
        )
    cls_v = np.array([p["cls"] for p in points])
    clsb_v = np.array([p["clsb"] for p in points])
    p_fc = np.array([p["p_fc"] for p in points])
    out: dict[str, Any] = {
        "grid": g.tolist(),
        "toys_background": int(b_q.shape[0]),
        "toys_per_mu": int(min(p["toys_sb"] for p in points)),
        "points": points,
        "cls": {},
        "profile": {},
        "feldman_cousins": {},
        "expected_cls": {},
        "expected_profile": {},
    }
    # the expected CL curves, one per band: the observed q~ replaced by the background-only
    # toys' quantile Phi(-n) at every mu (the same for every level)
    band_cls, band_clsb = {}, {}
    for n in BANDS:
        q_n = np.quantile(b_q, stats.norm.cdf(-n), axis=0)
        sbf = np.array(
            [
                float(np.mean(sb[k]["q"] >= q_n[k] - 1e-12))
                if len(sb.get(k, {"q": []})["q"])
                else math.nan
                for k in range(len(g))
            ]
        )
        bf = np.mean(b_q >= q_n[None, :] - 1e-12, axis=0)
        band_cls[f"{n:+d}"] = np.where(bf > 0, sbf / np.where(bf > 0, bf, 1.0), math.nan)
        band_clsb[f"{n:+d}"] = sbf
    n_min = min(out["toys_per_mu"], out["toys_background"])
    out["unresolved"] = {}
    for cl in levels:
        key, alpha = f"{cl:g}", 1.0 - cl
        if n_min * alpha < MIN_TAIL_TOYS - 1e-9:
            # too few toys beyond the limit: the crossing would sit wherever the toys run out
            need = math.ceil(MIN_TAIL_TOYS / alpha)
            out["unresolved"][key] = f"needs at least {need} toys per N_X value, has {n_min}"
            for name in ("cls", "profile", "feldman_cousins", "expected_cls", "expected_profile"):
                out[name][key] = None
            continue
        out["cls"][key] = _crossing(g, cls_v, alpha)
        out["profile"][key] = _crossing(g, clsb_v, alpha)
        inside = np.flatnonzero(p_fc > alpha)
        if inside.size == 0:
            out["feldman_cousins"][key] = None
        else:
            i0, i1 = int(inside[0]), int(inside[-1])
            lo = 0.0 if i0 == 0 else _interval_end(g, p_fc, i0, alpha)
            hi = None if i1 == len(g) - 1 else _interval_end(g, p_fc, i1 + 1, alpha)
            out["feldman_cousins"][key] = [lo, hi]
        bands = {b: _crossing(g, c, alpha) for b, c in band_cls.items()}
        profile_bands = {b: _crossing(g, c, alpha) for b, c in band_clsb.items()}
        out["expected_cls"][key] = bands
        out["expected_profile"][key] = profile_bands
    return out
