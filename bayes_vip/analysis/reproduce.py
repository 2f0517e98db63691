"""The published analyses of the 2016-17 VIP-2 spectra, each by its own method (issue 15).

Two of them count events in a window around the PEP line rather than fitting a shape:

- ``roi_subtraction``: counts in 7629-7829 eV with the current on minus those without (equal
  live times), sigma = sqrt(N_on + N_off), and the limit 3 sigma;
- ``bayes_counting``: a Poisson likelihood for the current-on counts in the same window,
  a flat prior on the signal (>= 0), and the background drawn from the Gamma posterior of
  the current-off counts there (a flat prior on the background, equal live times); the
  limit is a credible upper limit, 99.7 % by default.

The chi-square fit of the published analyses is ``classic.fit_two_step`` with Neyman's
chi-square and a Gaussian PEP line at 7729 eV (``pipeline.reproduce``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special, stats

from bayes_vip.errors import InputError

__all__ = ["ROI_WINDOW_EV", "bayes_counting", "roi_subtraction", "window_counts"]

#: The counting window of the published analyses [eV]: 200 eV centred on 7729 eV, the
#: forbidden Ka2 (issue 15, item 6a).
ROI_WINDOW_EV = (7629.0, 7829.0)


def window_counts(counts: np.ndarray, edges: np.ndarray, window=ROI_WINDOW_EV) -> float:
    """The counts of the bins inside ``window`` [eV], whose ends must be bin edges."""
    lo, hi = window
    if not all(np.any(np.abs(edges - x) < 1e-6) for x in (lo, hi)):
        msg = f"the window {lo:g}-{hi:g} eV does not start and end on bin edges"
        raise InputError(msg, field="binning")
    inside = (edges[:-1] >= lo - 1e-9) & (edges[1:] <= hi + 1e-9)
    return float(np.asarray(counts)[inside].sum())


def roi_subtraction(n_on: float, n_off: float) -> dict[str, Any]:
    """Current on minus current off in the window; sigma = sqrt(N_on + N_off); limit 3 sigma."""
    sigma = math.sqrt(n_on + n_off)
    return {
        "N_on": n_on,
        "N_off": n_off,
        "N_X": n_on - n_off,
        "sigma_N_X": sigma,
        "limit": 3.0 * sigma,
        "limit_rule": "3 sigma(N_on - N_off)",
    }


def bayes_counting(
    n_on: float, n_off: float, level: float = 0.997, nodes: int = 2000
) -> dict[str, Any]:
    """The credible upper limit on a counted signal s over a measured background.

    n_on ~ Poisson(s + b), p(s) flat on s >= 0, and b from its posterior after n_off
    background-only counts with a flat prior: Gamma(n_off + 1, 1). The likelihood of s is
    the average of Poisson(n_on | s + b) over ``nodes`` quantiles of that Gamma (midpoints
    in probability), and the posterior of s is integrated on a fine grid.
    """
    b = stats.gamma.ppf((np.arange(nodes) + 0.5) / nodes, n_off + 1.0)
    width = math.sqrt(n_on + n_off + 1.0)
    s = np.linspace(0.0, max(n_on - n_off, 0.0) + 10.0 * width + 30.0, 4001)
    log_like = np.empty_like(s)
    for j in range(0, s.size, 250):  # in chunks: 250 x nodes at a time (4 MB), not all
        mu = s[j : j + 250, None] + b[None, :]
        log_pois = n_on * np.log(mu) - mu - special.gammaln(n_on + 1.0)
        log_like[j : j + 250] = special.logsumexp(log_pois, axis=1) - math.log(nodes)
    post = np.exp(log_like - log_like.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (post[1:] + post[:-1]) * np.diff(s))])
    cdf /= cdf[-1]
    mean = float(np.trapezoid(s * post, s) / np.trapezoid(post, s))
    sd = float(np.sqrt(np.trapezoid((s - mean) ** 2 * post, s) / np.trapezoid(post, s)))
    return {
        "N_on": n_on,
        "N_off": n_off,
        "N_X": mean,
        "sigma_N_X": sd,
        "limit": float(np.interp(level, cdf, s)),
        "limit_rule": f"{100 * level:g} % credible upper limit",
    }
