"""Line fits in ADC space and the quadratic calibration (seed 002 eqs. 1, 4-5).

Each calibration line of one (SDD, batch) histogram is fitted with iminuit in a window
around its seed position: a multiplet (members at their xraydb spacing, converted to ADC
with the seeds' gain) of Gaussians plus the seed-002 tail (``physics.kernel``, with the
Gaussian width itself free, computed with NumPy), on a linear background, with a binned
Poisson likelihood (the data are integer ADC channels). The positions of the strongest
member of every line then give the quadratic calibration ``E = p0 + p1 ADC + p2 ADC^2`` by
weighted least squares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from iminuit import Minuit

from bayes_vip.physics import lines as _lines
from bayes_vip.physics.constants import FANO_START
from bayes_vip.physics.kernel import NUMPY, line_cumulative
from bayes_vip.physics.response import sigma_at
from bayes_vip.simulate.presets import MEASURED_2016_17

__all__ = [
    "TAIL_BETA",
    "WINDOW_EV",
    "LineFit",
    "expected_counts",
    "fit_calibration",
    "fit_line",
]

#: Fit window of each line, [eV] below and above its strongest member. Chosen to stay clear
#: of the neighbouring lines at the measured resolution (sigma 65-80 eV): Ti Kb is 420 eV
#: above Ti Ka, Mn Kb 590 eV above Mn Ka, Ni Ka 570 eV below Cu Ka.
WINDOW_EV = {
    "Ti Ka": (-220.0, 200.0),
    "Ti Kb": (-180.0, 220.0),
    "Mn Ka": (-250.0, 250.0),
    "Mn Kb": (-250.0, 280.0),
    "Cu Ka": (-350.0, 320.0),
}
#: Tail slope (units of sigma), fixed in the line fits at the measured 2016-17 value
#: (``MEASURED_2016_17``, from docs/scripts/fit_measured_for_simulation.py); a free slope is
#: not determined by one line.
TAIL_BETA = MEASURED_2016_17["tail_beta"]
#: Tail fraction, fixed in the line fits at the measured 2016-17 value (same source): with a
#: few hundred Cu Ka counts per batch a free tail trades with the background and the
#: amplitude, and MIGRAD's covariance at the tail's zero bound is not accurate.
TAIL_FRAC = MEASURED_2016_17["tail_frac"]
_PARAMS = ("mu", "sigma", "amp", "tail", "b0", "b1")


@dataclass
class LineFit:
    """Result of one line fit (ADC units)."""

    line: str
    ok: bool
    mu: float = math.nan  # position of the strongest member [ADC]
    mu_err: float = math.nan
    sigma: float = math.nan  # Gaussian sd [ADC]
    sigma_err: float = math.nan
    amp: float = math.nan  # counts in the line
    amp_err: float = math.nan
    chi2: float = math.nan  # Poisson deviance
    ndf: int = 0
    message: str = ""


def expected_counts(q, lo: float, n: int, offsets, weights) -> np.ndarray:
    """Expected counts in channels lo..lo+n-1; q = (mu, sigma, amp, tail, b0, b1) in ADC.

    NumPy (``physics.kernel.NUMPY``): MINUIT calls it a few hundred times per line, on a few
    hundred channels, where a JAX dispatch would cost more than the arithmetic.
    """
    mu, sig, amp, tail, b0, b1 = q
    e = lo + np.arange(n + 1, dtype=float)
    members = (mu + np.asarray(offsets, dtype=float))[None, :]
    cdf = line_cumulative(
        e, members, np.asarray(weights)[None, :], sig, 0.0, tail, TAIL_BETA, backend=NUMPY
    )[:, 0]
    x = e[:-1] + 0.5 - (lo + 0.5 * n)
    return amp * np.diff(cdf) + np.maximum(b0 + b1 * x, 1e-9)


def fit_line(counts: np.ndarray, key: str, seed_adc: float, gain: float) -> LineFit:
    """Fit line ``key`` of an ADC histogram ``counts`` around ``seed_adc``.

    ``seed_adc`` is the expected position of the line's intensity-weighted centroid (the
    CNN's output); ``gain`` [eV/ADC] converts the window and the member spacing to channels.
    """
    grp = _lines.line_group(key)
    e1 = grp.energies[0]
    offsets = (grp.energies - e1) / gain
    mu0 = seed_adc - float(np.dot(grp.weights, offsets))
    w_lo, w_hi = WINDOW_EV[key]
    lo = math.floor(mu0 + w_lo / gain)
    hi = math.ceil(mu0 + w_hi / gain)
    n = hi - lo
    if lo < 0 or hi > counts.size or n < 20:
        return LineFit(key, False, message=f"window {lo}..{hi} outside the spectrum")
    c = np.asarray(counts[lo:hi], dtype=float)
    edge = max(3, n // 10)
    b_guess = 0.5 * (c[:edge].mean() + c[n - edge : n].mean())
    amp0 = max(c.sum() - b_guess * n, 5.0)
    sig0 = float(sigma_at(e1, 35.0, FANO_START)) / gain
    pos = c > 0
    c_log_c = np.sum(c[pos] * np.log(c[pos]))

    def fcn(q):
        mu = expected_counts(q, lo, n, offsets, grp.weights)
        # Baker-Cousins Poisson deviance, 2 sum[mu - c + c log(c/mu)]
        return 2.0 * (np.sum(mu - c) + c_log_c - np.sum(c[pos] * np.log(mu[pos])))

    m = Minuit(fcn, [mu0, sig0, amp0, TAIL_FRAC, max(b_guess, 0.1), 0.0], name=_PARAMS)
    m.errordef = Minuit.LIKELIHOOD * 2.0  # deviance = 2 NLL
    m.limits["mu"] = (mu0 - 25.0 / gain * 4, mu0 + 25.0 / gain * 4)
    m.limits["sigma"] = (0.3 * sig0, 4.0 * sig0)
    m.limits["amp"] = (0.0, None)
    m.fixed["tail"] = True
    m.limits["b0"] = (0.0, None)
    m.strategy = 1
    try:
        m.migrad()
        m.hesse()
    except Exception as exc:
        return LineFit(key, False, message=f"fit failed: {exc}")
    v = m.values
    ok = bool(m.valid and np.isfinite(m.errors["mu"]) and m.errors["mu"] > 0)
    msg = "" if ok else "invalid fit (MIGRAD did not converge)"
    # a line whose amplitude is not 3 sigma above zero cannot calibrate
    if ok and v["amp"] < 3.0 * m.errors["amp"]:
        ok, msg = False, f"line not significant ({v['amp']:.0f} +- {m.errors['amp']:.0f} counts)"
    return LineFit(
        key,
        ok,
        mu=float(v["mu"]),
        mu_err=float(m.errors["mu"]),
        sigma=float(v["sigma"]),
        sigma_err=float(m.errors["sigma"]),
        amp=float(v["amp"]),
        amp_err=float(m.errors["amp"]),
        chi2=float(m.fval),
        ndf=int(n - len(_PARAMS) + 1),
        message=msg,
    )


def fit_calibration(fits: list[LineFit]) -> dict | None:
    """Quadratic calibration (seed 002 eq. 1) through the fitted lines' strongest members.

    Weighted least squares with sd_E = p1 * sd_ADC (iterated once for p1). Needs >= 3 lines;
    returns ``p`` (3,), ``cov`` (3, 3), ``chi2``, ``ndf`` and the lines used, or None.
    """
    good = [f for f in fits if f.ok]
    if len(good) < 3:
        return None
    a = np.array([f.mu for f in good])
    s = np.array([f.mu_err for f in good])
    e = np.array([_lines.line_group(f.line).energies[0] for f in good])
    x = np.stack([np.ones_like(a), a, a * a], axis=-1)
    p1 = (e[-1] - e[0]) / (a[-1] - a[0])
    for _ in range(2):
        w = 1.0 / (p1 * s) ** 2
        cov = np.linalg.inv(x.T @ (w[:, None] * x))
        p = cov @ (x.T @ (w * e))
        p1 = p[1] + 2.0 * p[2] * a.mean()
    r = e - x @ p
    return {
        "p": p,
        "cov": cov,
        "chi2": float(np.sum(w * r * r)),
        "ndf": len(good) - 3,
        "lines": [f.line for f in good],
    }
