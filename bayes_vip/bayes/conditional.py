"""Rao-Blackwellised limits: the signal's exact conditional posterior, draw by draw.

Given every other latent (a draw ``theta``), the model's expected counts are linear in the
total PEP counts ``n`` (``model.expected_counts``): ``mu_j = m_j + n s_j`` in every observed
bin ``j``, with ``m`` the lines and continuum and ``s`` the signal's response per count. The
signal's prior is flat in ``n`` on ``[0, n_max]`` under both priors (flat-beta: ``n_max`` is
the bound on beta^2/2 times the draw's counts per unit ``k``). So the signal's conditional
posterior is known in closed form up to one dimension of quadrature:

    log p(n | theta, data) = sum_j c_j log(m_j + n s_j) - n sum_j s_j + const,  0 <= n <= n_max,

concave in ``n`` (log-concave density). Its CDF ``F_i`` is tabulated per draw on a grid, and
the posterior CDF is estimated by the average ``F(x) = mean_i F_i(x)`` instead of the
fraction of draws below ``x``: the Rao-Blackwell estimator of Gelfand & Smith (1990, "Sampling-
based approaches to calculating marginal densities", JASA 85, 398). Its variance is that of
``F_i(x)`` across draws, which is far below the indicator's ``q (1 - q)`` in the tail, where
the Poisson noise of the signal bins (not the nuisance parameters) sets the width of the
conditional. The limit at credibility ``q`` solves ``F(x) = q``; its Monte Carlo standard
error is ``sd(F_i(x_q)) / sqrt(ESS) / f(x_q)`` (delta method), with the ESS of the series
``F_i(x_q)`` and the averaged conditional density ``f``. The posterior density of the signal
at zero, ``mean_i f_i(0)``, gives the Savage-Dickey Bayes factor without a kernel density
estimate (whose reflection at the boundary biased it), with its own standard error.

Quadrature, per draw: the conditional mode (Newton from 0; ``d log p / dn`` is convex and
decreasing, so the iterates rise monotonically to the root), its curvature ``sigma``, an
upper end where the log density has fallen by ``DROP`` from its maximum (the smallest of
``6 sigma 2^(k/2)`` that does, or ``n_max``), a lower end ``mode - 12 sigma`` or 0, and ``GRID``
equally spaced nodes between them. Between nodes the log density is interpolated linearly,
so the CDF is exact for exponential pieces and its relative error is about
``h^2 |d^2 log p / dn^2| / 8`` (1e-3 at the spacing used, ``h ~ 0.1 sigma``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["DEFENSIVE", "DROP", "GRID", "Conditionals", "gibbs_counts", "tabulate"]

#: Nodes of each draw's grid.
GRID = 129
#: The grid ends where the conditional log density has fallen this far below its maximum
#: (exp(-30) ~ 1e-13 of the peak density: the mass beyond is negligible at any limit quoted).
DROP = 30.0
_NEWTON = 60
_SPANS = 6.0 * 2.0 ** (np.arange(-16, 17) / 2.0)  # candidate upper spans, in sigmas


def _loglik(n, m, s, c):
    return jnp.sum(c * jnp.log(m + n * s)) - n * jnp.sum(s)


def _one(m, s, c, n_max):
    """Grid (lo, hi) and normalised log density at ``GRID`` nodes of one draw's conditional."""
    tot = jnp.sum(s)

    def derivs(n):
        r = m + n * s
        return jnp.sum(c * s / r) - tot, -jnp.sum(c * s * s / (r * r))

    def newton(n, _):
        g, h = derivs(n)
        return jnp.clip(n - g / h, 0.0, n_max), None

    mode = jax.lax.scan(newton, 0.0, None, length=_NEWTON)[0]
    sigma = 1.0 / jnp.sqrt(-derivs(mode)[1])
    top = _loglik(mode, m, s, c)
    cand = jnp.minimum(mode + sigma * jnp.asarray(_SPANS), n_max)
    low = jax.vmap(lambda n: _loglik(n, m, s, c))(cand) < top - DROP
    # the smallest span that falls DROP below the peak, else the prior's bound
    hi = jnp.where(jnp.any(low), cand[jnp.argmax(low)], n_max)
    lo = jnp.maximum(0.0, mode - 12.0 * sigma)
    nodes = lo + (hi - lo) * jnp.linspace(0.0, 1.0, GRID)
    logf = jax.vmap(lambda n: _loglik(n, m, s, c))(nodes) - top
    return lo, hi, logf - _log_mass(logf, (hi - lo) / (GRID - 1))


def _pieces(logf, h):
    """Mass of each interval of a log-linear interpolant (values exp(logf), spacing h)."""
    xp = jnp if isinstance(logf, jax.Array) else np
    h = xp.asarray(h)[..., None]
    f = xp.exp(logf)
    d = logf[..., 1:] - logf[..., :-1]
    flat = xp.abs(d) < 1e-9
    ratio = (f[..., 1:] - f[..., :-1]) / xp.where(flat, 1.0, d)
    return h * xp.where(flat, 0.5 * (f[..., 1:] + f[..., :-1]), ratio)


def _log_mass(logf, h):
    return jnp.log(jnp.sum(_pieces(logf, h)))


#: Weight of the uniform part of the Gibbs step's proposal (``gibbs_counts``).
DEFENSIVE = 0.01


def gibbs_counts(key, m, s, c, n_max, n_now):
    """An update of the signal counts ``n_now`` that leaves its exact conditional invariant.

    An independence Metropolis-Hastings step (Tierney 1994, Ann. Statist. 22, 1701). The
    proposal is, with weight ``1 - DEFENSIVE``, a draw from this draw's tabulated conditional
    (``_one``: the log density linear between the nodes, so each interval is an exponential
    piece, inverted in closed form), and otherwise a uniform draw on ``[0, n_max]``, so that
    it reaches every count the prior allows (the table ends e^-30 below the peak). It is
    accepted with probability ``min(1, p(n') q(n) / (p(n) q(n')))`` against the exact
    conditional ``p``. The table is within about 1e-3 of ``p``, so nearly every proposal from
    it is accepted, and the new counts are nearly independent of the old given the other
    latents (a Gibbs step). Traceable; returns ``(n, accepted)``.
    """
    lo, hi, logf = _one(m, s, c, n_max)
    h = (hi - lo) / (GRID - 1)
    pieces = _pieces(logf, h)
    cum = jnp.cumsum(pieces)
    k_pick, k_acc, k_mix, k_flat = jax.random.split(key, 4)
    mass = jax.random.uniform(k_pick) * cum[-1]
    j = jnp.clip(jnp.searchsorted(cum, mass), 0, GRID - 2)
    into = mass - (cum[j] - pieces[j])  # mass inside interval j
    la, lb = logf[j], logf[j + 1]
    rate = (lb - la) / jnp.where(h > 0, h, 1.0)
    flat = jnp.abs(rate * h) < 1e-9
    fa = jnp.exp(la)
    x = jnp.where(flat, into / fa, jnp.log1p(into * rate / fa) / jnp.where(flat, 1.0, rate))
    n_table = jnp.clip(lo + j * h + jnp.clip(x, 0.0, h), lo, hi)
    uniform = jax.random.uniform(k_mix) < DEFENSIVE
    n_new = jnp.where(uniform, jax.random.uniform(k_flat) * n_max, n_table)

    def log_q(n):  # the proposal's log density per count
        pos = jnp.clip((n - lo) / jnp.where(h > 0, h, 1.0), 0.0, GRID - 1.0)
        i = jnp.minimum(pos.astype(int), GRID - 2)
        val = logf[i] + (pos - i) * (logf[i + 1] - logf[i]) - jnp.log(cum[-1])
        table = jnp.where((n >= lo) & (n <= hi), val, -jnp.inf)
        return jnp.logaddexp(jnp.log1p(-DEFENSIVE) + table, jnp.log(DEFENSIVE / n_max))

    log_alpha = (_loglik(n_new, m, s, c) - _loglik(n_now, m, s, c)) + (log_q(n_now) - log_q(n_new))
    accept = jnp.log(jax.random.uniform(k_acc)) < log_alpha
    return jnp.where(accept, n_new, n_now), accept


@jax.jit
def _tabulate(m, s, c, n_max):
    return jax.lax.map(lambda a: _one(a[0], a[1], c, a[2]), (m, s, n_max), batch_size=32)


def tabulate(m: np.ndarray, s: np.ndarray, counts: np.ndarray, n_max: np.ndarray, k: np.ndarray):
    """``Conditionals`` of draws with backgrounds ``m`` and signal responses ``s`` (draws, bins).

    ``counts`` (bins,) are the observed counts, ``n_max`` (draws,) the prior's bound on the
    counts and ``k`` (draws,) the counts per unit of beta^2/2 (in the model's unit).
    """
    m, s = np.asarray(m, dtype=float), np.asarray(s, dtype=float)
    if np.any(m <= 0.0) or np.any(s < 0.0):
        msg = "the conditional of the signal needs a positive background and signal response"
        raise ValueError(msg)
    lo, hi, logf = _tabulate(
        jnp.asarray(m), jnp.asarray(s), jnp.asarray(counts, dtype=float), jnp.asarray(n_max)
    )
    return Conditionals(np.asarray(lo), np.asarray(hi), np.asarray(logf), np.asarray(k))


@dataclass
class Conditionals:
    """Each draw's conditional posterior of the signal counts, tabulated on its own grid.

    Arrays have a leading shape ``(chains, draws)`` or ``(draws,)``: ``lo``, ``hi`` (the grid's
    ends), ``logf`` (..., GRID) (the normalised log density in counts at the nodes), ``k``
    (counts per unit of beta^2/2).
    """

    lo: np.ndarray
    hi: np.ndarray
    logf: np.ndarray
    k: np.ndarray

    def reshape(self, *shape: int) -> Conditionals:
        """The same draws with leading shape ``shape``."""
        return Conditionals(
            self.lo.reshape(shape),
            self.hi.reshape(shape),
            self.logf.reshape(*shape, self.logf.shape[-1]),
            self.k.reshape(shape),
        )

    @staticmethod
    def concat(parts: list[Conditionals], axis: int = 1) -> Conditionals:
        """Join blocks of draws along ``axis`` of the leading shape."""
        return Conditionals(
            np.concatenate([p.lo for p in parts], axis=axis),
            np.concatenate([p.hi for p in parts], axis=axis),
            np.concatenate([p.logf for p in parts], axis=axis),
            np.concatenate([p.k for p in parts], axis=axis),
        )

    @cached_property
    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        """Each draw's node spacing and CDF at the nodes.

        Built once: the quantiles' bisection evaluates the CDF some 40 times.
        """
        h = (self.hi - self.lo) / (self.logf.shape[-1] - 1)
        pieces = _pieces(self.logf, h)
        cum = np.concatenate([np.zeros((*pieces.shape[:-1], 1)), np.cumsum(pieces, -1)], -1)
        return h, cum / cum[..., -1:]  # exactly 1 at the top (the table is normalised to 1e-15)

    def _cdf_pdf(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each draw's conditional CDF and density at counts ``x`` (broadcast with the draws)."""
        g = self.logf.shape[-1]
        h, cum = self._table
        pos = np.clip((x - self.lo) / np.where(h > 0, h, 1.0), 0.0, g - 1.0)
        j = np.minimum(pos.astype(int), g - 2)
        dx = (pos - j) * h
        la = np.take_along_axis(self.logf, j[..., None], -1)[..., 0]
        lb = np.take_along_axis(self.logf, j[..., None] + 1, -1)[..., 0]
        rate = (lb - la) / np.where(h > 0, h, 1.0)
        fa = np.exp(la)
        small = np.abs(rate * dx) < 1e-9
        part = np.where(small, fa * dx, fa * np.expm1(rate * dx) / np.where(small, 1.0, rate))
        cdf = np.take_along_axis(cum, j[..., None], -1)[..., 0] + part
        pdf = fa * np.exp(rate * dx)
        inside = (x >= self.lo) & (x <= self.hi)
        cdf = np.where(x < self.lo, 0.0, np.where(x > self.hi, 1.0, np.clip(cdf, 0.0, 1.0)))
        return cdf, np.where(inside, pdf, 0.0)

    def cdf(self, x: float, *, beta: bool = False) -> np.ndarray:
        """Each draw's conditional CDF at ``x`` counts (``beta``: at ``x`` in beta^2/2 units)."""
        return self._cdf_pdf(x * self.k if beta else np.full(self.lo.shape, float(x)))[0]

    def pdf(self, x: float, *, beta: bool = False) -> np.ndarray:
        """Each draw's conditional density at ``x`` (per count, or per beta^2/2 unit)."""
        dens = self._cdf_pdf(x * self.k if beta else np.full(self.lo.shape, float(x)))[1]
        return dens * self.k if beta else dens

    def quantile(self, q: float, *, beta: bool = False) -> float:
        """The ``q`` quantile of the averaged CDF (counts, or beta^2/2 in the model's unit)."""
        scale = 1.0 / self.k if beta else np.ones_like(self.k)
        a, b = 0.0, float(np.max(self.hi * scale))
        for _ in range(200):
            mid = 0.5 * (a + b)
            if float(np.mean(self.cdf(mid, beta=beta))) < q:
                a = mid
            else:
                b = mid
            if b - a <= 1e-12 * max(b, 1e-300):
                break
        return 0.5 * (a + b)
