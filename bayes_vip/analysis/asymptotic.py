"""Asymptotic frequentist upper limits on a signal strength: CLs, and the expected bands.

The test statistic is q~_mu of Cowan, Cranmer, Gross and Vitells, "Asymptotic formulae for
likelihood-based tests of new physics", EPJC 71 (2011) 1554 (CCGV), sec. 3.7:
q~_mu = S(mu) - S(mu_hat) for mu_hat <= mu, and 0 above, where S is -2 ln L minimised over
every nuisance parameter (a profile), and mu_hat >= 0 (a negative best fit counts as 0).

Its distribution under a true signal mu' follows from the Wald approximation (CCGV sec. 3.1)
with one width sigma, which the Asimov data set gives (CCGV sec. 3.2): the expected data of
the model at mu' = 0 with the nuisances at their fit to the observed data at mu = 0. On it,
q_A(mu) = mu^2 / sigma_A^2. With q = q~_mu(observed), CCGV sec. 3.7 gives

- p_mu = 1 - Phi(sqrt q) for q <= q_A, else 1 - Phi((q + q_A) / (2 sqrt q_A));
- 1 - p_b = Phi(sqrt q_A - sqrt q) for q <= q_A, else Phi((q_A - q) / (2 sqrt q_A)),

where p_b is the background-only probability of q~_mu at most the observed one. CLs = p_mu /
(1 - p_b) (A. L. Read, J. Phys. G 28 (2002) 2693); the upper limit at CL is where CLs = 1 - CL.
Under the background alone mu_hat is about Normal(0, sigma_A). The data at N sigma have
mu_hat = N sigma_A (N > 0: more events than expected, the higher limit); their CLs limit is
where sqrt q_A(mu) = Phi^-1(1 - alpha Phi(N)) + N, alpha = 1 - CL, in both branches: the
"Brazil" band. Their profile limit, where q~ = Phi^-1(CL)^2 = z^2, is where sqrt q_A(mu) =
z + N for N >= 0, and N + sqrt(N^2 + z^2) below (q~ = (mu^2 - 2 mu mu_hat) / sigma^2 there).

Everything here needs only a ``Profile``: the minimum of S at a fixed mu on given data, the
best fit, and the Asimov data. ``PoissonProfile`` is one for binned Poisson models written as
a JAX function (the cross-checks against pyhf use it); ``analysis.classic`` has one for the
two-step fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy import interpolate, optimize, stats

from bayes_vip.analysis.conventions import CLS
from bayes_vip.errors import AnalysisError

__all__ = [
    "BANDS",
    "AsimovCurve",
    "PoissonProfile",
    "Profile",
    "cls_value",
    "frequentist_limits",
    "p_values",
]

#: The expected-limit bands, in standard deviations of the background-only distribution.
BANDS = (-2, -1, 0, 1, 2)


def _arguments(q: float, q_a: float) -> tuple[float, float]:
    """``(a, b)`` with p_mu = 1 - Phi(a) and 1 - p_b = Phi(b) (CCGV sec. 3.7)."""
    q, q_a = max(q, 0.0), max(q_a, 1e-300)
    sq, sa = math.sqrt(q), math.sqrt(q_a)
    if q <= q_a:
        return sq, sa - sq
    return (q + q_a) / (2 * sa), (q_a - q) / (2 * sa)


def p_values(q: float, q_a: float) -> tuple[float, float]:
    """``(p_mu, 1 - p_b)`` of an observed q~_mu given q_A(mu) (CCGV sec. 3.7)."""
    a, b = _arguments(q, q_a)
    return float(stats.norm.sf(a)), float(stats.norm.cdf(b))


def cls_value(q: float, q_a: float) -> float:
    """CLs = p_mu / (1 - p_b) of an observed q~_mu given q_A(mu), in logs (no underflow)."""
    a, b = _arguments(q, q_a)
    return float(math.exp(stats.norm.logsf(a) - stats.norm.logcdf(b)))


def _target(level: float, n_sigma: float, method: str) -> float:
    """The value of sqrt q_A(mu) at the expected limit of the data at ``n_sigma``."""
    alpha = 1.0 - level
    if method == "cls":
        return float(stats.norm.isf(alpha * stats.norm.cdf(n_sigma)) + n_sigma)
    if method == "profile":
        z = float(stats.norm.isf(alpha))
        return z + n_sigma if n_sigma >= 0 else n_sigma + math.sqrt(n_sigma**2 + z * z)
    msg = f"unknown limit method {method!r}; choose cls or profile"
    raise ValueError(msg)


class Profile(Protocol):
    """What the limits need of a likelihood with one signal strength ``mu >= 0``."""

    #: A first guess of mu's standard error (its HESSE error, say); the Asimov fits set
    #: the scale of every scan from it (``AsimovCurve.unit``).
    scale: float

    def best(self, data: Any) -> tuple[float, float]:
        """``(mu_hat, S(mu_hat))`` on ``data``, mu free (it may come out negative)."""

    def deviance(self, mu: float, data: Any) -> float:
        """S(mu) on ``data``: -2 ln L at ``mu`` minimised over the nuisances (any offset)."""

    def asimov(self, mu: float) -> Any:
        """The expected data at ``mu`` with the nuisances fitted to the observed data at mu."""


#: Where q_A is fitted, in units of sigma_A (``AsimovCurve``): the expected limits of the
#: bands lie at 0.3-4.8 sigma_A for the levels 90-99.7 %.
ASIMOV_GRID = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.5, 6.0)


class _Grid:
    """Points (x, y) kept sorted by x, and the PCHIP interpolant through them.

    The interpolant is built once per set of points, not at every evaluation.
    """

    def __init__(self) -> None:
        self.x: list[float] = []
        self.y: list[float] = []
        self._pchip: Any = None

    def insert(self, x: float, y: float) -> None:
        """Add the point (x, y) in order."""
        i = int(np.searchsorted(self.x, x))
        self.x.insert(i, x)
        self.y.insert(i, y)
        self._pchip = None

    def interpolate(self, x: float) -> float:
        """The interpolant at ``x``, clipped to the points' range."""
        if self._pchip is None:
            self._pchip = interpolate.PchipInterpolator(self.x, self.y)
        return float(self._pchip(float(np.clip(x, self.x[0], self.x[-1]))))


class _QTilde:
    """q~_mu on one data set, its evaluations kept (each is a fit)."""

    def __init__(self, profile: Profile, data: Any):
        self.profile, self.data = profile, data
        mu_hat, s_hat = profile.best(data)
        if mu_hat < 0:  # CCGV's q~: a negative best fit counts as mu = 0
            mu_hat, s_hat = 0.0, profile.deviance(0.0, data)
        self.mu_hat, self.s_hat = float(mu_hat), float(s_hat)
        self.cache: dict[float, float] = {}

    def __call__(self, mu: float) -> float:
        if mu <= self.mu_hat:
            return 0.0
        if mu not in self.cache:
            self.cache[mu] = max(self.profile.deviance(mu, self.data) - self.s_hat, 0.0)
        return self.cache[mu]


@dataclass
class AsimovCurve:
    """q_A(mu) on the background-only Asimov data, interpolated between fits.

    sqrt q_A(mu) / mu = 1 / sigma_A(mu) varies slowly (it is constant for a linear model
    with a Gaussian likelihood), so it is interpolated (PCHIP) over a grid of fits in
    multiples of ``unit``, sigma_A itself, found by fitting at the profile's scale and
    then at the sigma_A found there, until the two agree to 20 %.
    """

    q: _QTilde
    #: the grid's unit: sigma_A near mu = sigma_A (the profile's scale is only a start: a
    #: HESSE error at a bound can be far off)
    unit: float = math.nan
    #: mu -> sqrt(q_A(mu)) / mu = 1 / sigma_A(mu), at every fit so far
    points: _Grid = field(default_factory=_Grid)

    @classmethod
    def of(cls, profile: Profile, reach: float = 6.0) -> AsimovCurve:
        """The Asimov curve of ``profile``'s observed data, fitted out to ``reach`` units."""
        curve = cls(_QTilde(profile, profile.asimov(0.0)))
        s = float(profile.scale)
        for _ in range(6):
            curve.add(s)
            new = 1.0 / curve.points.y[curve.points.x.index(s)]
            done = abs(new / s - 1.0) < 0.2
            s = new
            if done:
                break
        curve.unit = s
        curve.extend(reach)
        return curve

    @property
    def grid(self) -> list[float]:
        """Where q_A was fitted."""
        return self.points.x

    def extend(self, reach: float) -> None:
        """Fit the points of ``ASIMOV_GRID`` up to ``reach`` units, then every 2 units."""
        s = self.unit
        ts = [t for t in ASIMOV_GRID if t <= reach]
        while ts[-1] < reach:
            ts.append(ts[-1] + 2.0)
        for t in ts:
            self.add(float(t * s))

    def add(self, mu: float) -> None:
        """Fit q_A at ``mu`` and add it to the grid."""
        if mu in self.grid:
            return
        qa = self.q(mu)
        if qa <= 0:
            msg = f"Asimov profile: q_A = {qa:.3g} at mu = {mu:.4g}; the fit has no sensitivity"
            raise AnalysisError(msg)
        self.points.insert(mu, math.sqrt(qa) / mu)

    def sigma_a(self, mu: float) -> float:
        """sigma_A at ``mu``: interpolated inside the grid, the nearest end's outside it."""
        return 1.0 / self.points.interpolate(mu)

    def __call__(self, mu: float) -> float:
        """q_A(mu) = (mu / sigma_A(mu))^2."""
        return (mu / self.sigma_a(mu)) ** 2 if mu > 0 else 0.0

    def solve(self, target: float, xtol: float | None = None) -> float:
        """The mu where sqrt q_A(mu) = ``target`` (0 for a target at or below 0).

        Solved on the interpolant; with ``xtol``, the root is then fitted exactly, added to
        the grid and solved again, until it moves by less than ``xtol`` scales.
        """
        if target <= 0:
            return 0.0
        s = self.unit
        while math.sqrt(self(self.grid[-1])) < target:
            if self.grid[-1] > 100 * s:
                msg = f"Asimov profile: sqrt q_A does not reach {target:.4g} within 100 sigma_A"
                raise AnalysisError(msg)
            self.extend(self.grid[-1] / s + 2.0)
        mu = math.nan
        for _ in range(8):
            new = float(
                optimize.brentq(
                    lambda m: math.sqrt(self(m)) - target, 0.0, self.grid[-1], xtol=1e-9 * s
                )
            )
            if xtol is None or abs(new - mu) < xtol * s:
                return new
            mu = new
            if min(abs(np.asarray(self.grid) - mu)) < 1e-12 * s:
                return mu
            self.add(mu)
        msg = f"Asimov profile: sqrt q_A = {target:.4g} not reached to {xtol:g} scales"
        raise AnalysisError(msg)


class _ObservedCurve:
    """q~_mu on the observed data, interpolated.

    sqrt q~ is about linear in mu, (mu - mu_hat) / sigma, and is interpolated (PCHIP) between
    fits at mu_hat + t sigma_A, t in ``OBSERVED_GRID``.
    """

    def __init__(self, q: _QTilde, unit: float):
        self.q, self.unit = q, unit
        self.points = _Grid()
        self.points.insert(q.mu_hat, 0.0)
        for t in OBSERVED_GRID:
            self.add(q.mu_hat + t * unit)

    def add(self, mu: float) -> None:
        """Fit q~ at ``mu`` and add it to the grid."""
        if mu not in self.points.x:
            self.points.insert(mu, math.sqrt(self.q(mu)))

    def __call__(self, mu: float) -> float:
        while mu > self.points.x[-1]:
            self.add(self.points.x[-1] + 2 * self.unit)
        if mu <= self.points.x[0]:
            return 0.0
        return self.points.interpolate(mu) ** 2


#: Where q~_mu is fitted on the observed data, in sigma_A above mu_hat (``_ObservedCurve``).
OBSERVED_GRID = (0.5, 1.0, 2.0, 3.0, 4.5, 6.0)


def _observed_limit(
    method: str, level: float, q: _QTilde, qa: AsimovCurve, qi: _ObservedCurve, refine: bool
) -> float:
    """The observed upper limit: where CLs = 1 - ``level``, or sqrt q~ = Phi^-1(``level``).

    The root is found on the interpolated q~ (``qi``) and q_A (``qa``); then q~ is fitted at
    the root, and the root found again, until it moves by less than 1e-3 sigma_A. With
    ``refine``, q_A is fitted at each root too, and the root must settle to 1e-5 sigma_A.
    """
    s = qa.unit
    xtol = 1e-5 if refine else 1e-3
    z = float(stats.norm.isf(1.0 - level))

    def g(mu: float) -> float:
        if method == "cls":
            return cls_value(qi(mu), qa(mu)) - (1.0 - level)
        return z - math.sqrt(qi(mu))

    lo = q.mu_hat  # g > 0 there: CLs >= 1/2, q~ = 0
    hi = lo + s
    while g(hi) > 0:
        lo, hi = hi, hi + 2 * s
        if hi > q.mu_hat + 100 * s:
            msg = f"{method} limit: none at {level:g} CL within 100 sigma of mu_hat"
            raise AnalysisError(msg)
    mu = math.nan
    for _ in range(10):
        new = float(optimize.brentq(g, lo, hi, xtol=1e-7 * s))
        if abs(new - mu) < xtol * s:
            return new
        mu = new
        qi.add(mu)
        if refine and method == "cls":
            qa.add(mu)
        lo, hi = max(q.mu_hat, mu - s), mu + s
        while g(lo) < 0:
            lo = max(q.mu_hat, lo - s)
        while g(hi) > 0:
            hi += s
            if hi > q.mu_hat + 100 * s:
                break
    msg = f"{method} limit at {level:g} CL: the root did not settle"
    raise AnalysisError(msg)


def frequentist_limits(
    profile: Profile,
    data: Any,
    levels: Sequence[float] = CLS,
    bands: Sequence[float] = BANDS,
    *,
    refine: bool = False,
) -> dict[str, Any]:
    """Observed CLs and profile limits, and the expected bands of both (levels above 1/2).

    q_A(mu) and q~_mu are interpolated between fits (``AsimovCurve``, ``_ObservedCurve``),
    and q~ is fitted again at each observed limit until the limit settles to 1e-3 sigma_A.
    On the two models of tests/analysis/test_asymptotic.py that puts the limits within
    2e-5 of pyhf's. ``refine`` fits q_A at every root as well, until the root settles to
    1e-5 sigma_A (7e-9 and 1.3e-8 from pyhf there), at one or two fits more per limit.

    Returns ``{"mu_hat": ..., "cls"|"profile": {level: mu}, "expected": {"cls"|"profile":
    {level: {band: mu}}}, "sigma_A": ...}``, levels as ``f"{level:g}"`` and bands as
    ``f"{band:+g}"`` (``"+0"`` the median). The profile limit is where q~_mu = Phi^-1(CL)^2.
    """
    if not all(0.5 < level < 1 for level in levels):
        msg = f"the levels must lie between 0.5 and 1, got {list(levels)}"
        raise ValueError(msg)
    q = _QTilde(profile, data)
    qa = AsimovCurve.of(profile)
    qi = _ObservedCurve(q, qa.unit)
    xtol = 1e-5 if refine else None
    out: dict[str, Any] = {"mu_hat": q.mu_hat, "cls": {}, "profile": {}}
    out["expected"] = {"cls": {}, "profile": {}}
    for level in levels:
        for method in ("cls", "profile"):
            out[method][f"{level:g}"] = _observed_limit(method, level, q, qa, qi, refine)
            out["expected"][method][f"{level:g}"] = {
                f"{n:+g}": qa.solve(_target(level, n, method), xtol) for n in bands
            }
    out["sigma_A"] = qa.sigma_a(out["expected"]["cls"][f"{levels[0]:g}"]["+0"])
    return out


class PoissonProfile:
    """A binned Poisson likelihood for ``frequentist_limits``, fitted with MINUIT.

    ``expected(params) -> means`` is a JAX function of the parameter vector (auxiliary
    measurements are bins like any other); ``poi`` names the signal strength among
    ``names``; ``bounds`` are MINUIT limits per name. S is the Baker-Cousins deviance
    2 sum(nu - n + n ln(n / nu)), -2 ln L up to a constant of the data.
    """

    #: Fits kept (by data and mu); the oldest are dropped first.
    KEPT_FITS = 256

    def __init__(
        self,
        expected: Callable,
        names: Sequence[str],
        start: Sequence[float],
        *,
        poi: str,
        bounds: dict[str, tuple[float | None, float | None]] | None = None,
        data: Sequence[float],
        tol: float = 1e-6,
    ):
        import jax
        import jax.numpy as jnp

        self.names, self.poi, self.tol = tuple(names), poi, tol
        self.start = np.asarray(start, dtype=float)
        self.bounds = dict(bounds or {})
        self.observed = np.asarray(data, dtype=float)
        self._expected = jax.jit(expected)

        def dev(x, n):
            nu = expected(x)
            n_safe = jnp.where(n > 0, n, 1.0)
            return 2.0 * jnp.sum(nu - n + jnp.where(n > 0, n * jnp.log(n_safe / nu), 0.0))

        self._f = jax.jit(dev)
        self._g = jax.jit(jax.grad(dev))
        self.fits: dict[tuple, Any] = {}
        mu_hat, _ = self.best(self.observed)
        m = self._fit(self.observed, None)
        self.scale = float(m.errors[self.poi])
        self.mu_hat = mu_hat

    def _fit(self, data: np.ndarray, mu: float | None):
        from iminuit import Minuit

        key = (data.tobytes(), mu)
        if key in self.fits:
            self.fits[key] = self.fits.pop(key)  # the most recently used goes last
            return self.fits[key]
        n = np.asarray(data, dtype=float)
        x0 = dict(zip(self.names, self.start, strict=True))
        if mu is not None:
            x0[self.poi] = mu
        m = Minuit(
            lambda x: float(self._f(np.asarray(x), n)),
            [x0[k] for k in self.names],
            grad=lambda x: np.asarray(self._g(np.asarray(x), n)),
            name=self.names,
        )
        m.errordef = Minuit.LEAST_SQUARES
        m.strategy = 2
        m.tol = self.tol
        for k, b in self.bounds.items():
            m.limits[k] = b
        if mu is not None:
            m.fixed[self.poi] = True
        m.migrad(ncall=100000)
        if mu is None and m.valid:
            m.hesse()
        if not m.valid:
            what = "free" if mu is None else f"{self.poi} = {mu:.6g}"
            msg = f"Poisson profile: no valid minimum ({what})"
            raise AnalysisError(msg)
        self.fits[key] = m
        if len(self.fits) > self.KEPT_FITS:  # toys: keep the newest fits only
            self.fits.pop(next(iter(self.fits)))
        return m

    def best(self, data) -> tuple[float, float]:
        """``(mu_hat, S(mu_hat))`` on ``data``."""
        m = self._fit(np.asarray(data, dtype=float), None)
        return float(m.values[self.poi]), float(m.fval)

    def deviance(self, mu: float, data) -> float:
        """S(mu) on ``data``, minimised over the nuisances."""
        return float(self._fit(np.asarray(data, dtype=float), float(mu)).fval)

    def asimov(self, mu: float) -> np.ndarray:
        """The expected data at ``mu``, nuisances at their conditional fit to the observed."""
        m = self._fit(self.observed, float(mu))
        return np.asarray(self._expected(np.asarray(m.values)))
