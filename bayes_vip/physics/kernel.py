"""The line-response kernel: fraction of a line group's X-rays an SDD records below an energy.

``line_cumulative`` is the one implementation of the detector's line response. Every
analysis integrates lines through it:

- ``physics.spectrum.SpectrumModel`` (the classic ``JointModel``, the synthetic spectra of
  the peak finder and the simulator's bookkeeping);
- the hierarchical NumPyro model (``bayes.model.expected_counts``);
- the calibration's line fits in ADC space (``calibration.linefit``, on the NumPy backend),
  seed 002's eq. 4 fit (``calibration.cu_ka``) and the differentiable refinement
  (``calibration.refine``).

The response of one member line at energy ``E`` (seed 002 eqs. 4-5, and docs/physics.md):

- a Gaussian of width ``sigma(E) = sqrt(noise^2 + F w E)`` (``response.sigma_at``) plus the
  low-energy tail of seed 002 eq. 5 (fraction ``tail_frac``, an exponential of decay length
  ``tail_beta * sigma`` convolved with the Gaussian); its CDF is
  ``Phi(u) + f exp(k u + k^2/2) Phi(-(u + k))`` with ``u = (x - E)/sigma``, ``k = 1/tail_beta``;
- a shelf (fraction ``shelf_frac``): events spread uniformly from ``shelf_lo_eV`` up to ``E``
  (incomplete charge collection), convolved with the Gaussian;
- a Si escape peak (fraction ``escape_frac`` of the group): the same response at
  ``E - E(Si Ka)`` (``lines.si_ka_ev``).

Members of a group (Ka1 and Ka2, ...) are weighted by their intensities.

Numerics. The tail term is computed as the product ``exp(min(k u + k^2/2, 700)) *
Phi(-(u + k))`` rather than through ``log_ndtr``: it is about twice as cheap to
differentiate, and exact wherever it is used, because every caller keeps
``tail_beta >= 0.05`` (``k <= 20``): then ``k u + k^2/2`` exceeds 700 only where
``Phi(-(u + k))`` is below 1e-300, so the product underflows to the true value, 0. (The
classic fit bounds ``tail_beta`` to [0.05, 30], the calibration fixes it at 4, the model's
prior puts 0.05 8.8 prior sds below its centre.) The shelf's Gaussian terms at its lower end
vanish to below 1e-80 of the result wherever ``x - shelf_lo_eV`` exceeds 20 sigma, as over
the region of interest; they are computed unless the caller says so (``shelf_start_far``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import jax.numpy as jnp
import jax.scipy.special
import numpy as np
import scipy.special
from jax import Array
from jax.typing import ArrayLike

from bayes_vip.physics.constants import W_SI_EV
from bayes_vip.physics.lines import si_ka_ev
from bayes_vip.physics.response import sigma_at

__all__ = ["JAX", "NUMPY", "SHELF_LO_EV", "TAIL_EXPONENT_CAP", "Backend", "line_cumulative"]

#: Lower end of every line's shelf [eV]: the low edge of the measured 2016-17 histograms
#: (1000 eV, data README), below which no spectrum is recorded.
SHELF_LO_EV = 1000.0
#: Cap of the tail's exponent (exp(700) ~ 1e304 is below the float64 maximum 1.8e308).
TAIL_EXPONENT_CAP = 700.0
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


@dataclass(frozen=True)
class Backend:
    """The array library the kernel computes with: its namespace and its normal CDF.

    ``JAX`` (the default) is differentiable and compiles; ``NUMPY`` serves a cost function
    that MINUIT calls thousands of times on a few hundred channels, where NumPy beats a JAX
    dispatch (the calibration's line fits). The same code runs on both, in the same order
    of operations.
    """

    xp: ModuleType
    ndtr: Any


JAX = Backend(jnp, jax.scipy.special.ndtr)
NUMPY = Backend(np, scipy.special.ndtr)


def _peak(
    b: Backend, x: Any, e: Any, sigma: Any, tail_frac: ArrayLike, k: ArrayLike
) -> tuple[Any, Any, Any]:
    """Gaussian plus tail, CDF at x; returns (u, ndtr(u), cdf) to share work."""
    u = (x - e) / sigma
    phi_u = b.ndtr(u)
    tail = b.xp.exp(b.xp.minimum(k * u + 0.5 * k * k, TAIL_EXPONENT_CAP)) * b.ndtr(-(u + k))
    return u, phi_u, phi_u + tail_frac * tail


def _ramp(b: Backend, y: Any, z: Any, phi_z: Any, sigma: Any) -> Any:
    """Integral of Phi(t/sigma) dt from -inf to y: y Phi(y/sigma) + sigma phi(y/sigma).

    The caller gives z = y/sigma and Phi(z).
    """
    return y * phi_z + sigma * b.xp.exp(-0.5 * z * z) / _SQRT_2PI


_INV_SQRT2 = float(1.0 / np.sqrt(2.0))


def _fused_member_cdf(en: Any, lo: float) -> Any:
    """The shelf-and-tail member CDF on the JAX backend, with its derivatives in one pass.

    For the region far above the shelf's start (``shelf_start_far``), without escape peaks:
    the hierarchical model's case, where this kernel is most of a gradient's cost. The value
    is the same expression as the generic path's, with Phi(u) = erfc(-u/sqrt 2)/2 (one erfc,
    where ``jax.scipy.special.ndtr`` evaluates both erf and erfc; the two agree to 3e-14
    relative). Its JVP uses the closed-form partial derivatives (docs/physics.md, "Kernel
    derivatives"), which share the forward pass's exponentials and error functions:
    autodiff of the generic path materialises about 30 arrays of the full
    (cells, edges, groups, members) shape per gradient. ``en`` (member energies) and ``lo``
    (the shelf's start) are constants: no derivative is taken with respect to them.
    """
    en = jnp.asarray(en)
    span = en - lo  # the shelf's length

    def parts(x: Array, sig: Array, f: Array, k: Array, s: Array) -> tuple[Array, dict]:
        u = (x - en) / sig
        phi_u = 0.5 * jax.lax.erfc(-u * _INV_SQRT2)
        dens = jnp.exp(-0.5 * u * u) / _SQRT_2PI
        tail = jnp.exp(jnp.minimum(k * u + 0.5 * k * k, TAIL_EXPONENT_CAP)) * (
            0.5 * jax.lax.erfc((u + k) * _INV_SQRT2)
        )
        main = phi_u + f * tail
        shelf = (x - lo - sig * (u * phi_u + dens)) / span
        value = (1.0 - s) * main + s * shelf
        # d main/du: the tail's d/du is k tail - dens (exp(k u + k^2/2) phi(u + k) = phi(u))
        d_main_u = (1.0 - f) * dens + f * k * tail
        return value, {
            "x": (1.0 - s) * d_main_u / sig + s * (1.0 - phi_u) / span,
            "sig": -(1.0 - s) * u * d_main_u / sig - s * dens / span,
            "f": (1.0 - s) * tail,
            "k": (1.0 - s) * f * ((u + k) * tail - dens),
            "s": shelf - main,
        }

    @jax.custom_jvp
    def cdf(x: Array, sig: Array, f: Array, k: Array, s: Array) -> Array:
        return parts(x, sig, f, k, s)[0]

    @cdf.defjvp
    def _jvp(primals: tuple, tangents: tuple) -> tuple[Array, Array]:
        value, d = parts(*primals)
        names = ("x", "sig", "f", "k", "s")
        return value, sum(d[n] * t for n, t in zip(names, tangents, strict=True))

    return cdf


def line_cumulative(
    x: ArrayLike,
    energies: ArrayLike,
    weights: ArrayLike,
    noise: ArrayLike,
    fano: ArrayLike,
    tail_frac: ArrayLike,
    tail_beta: ArrayLike,
    shelf_frac: ArrayLike | None = None,
    *,
    escape_frac: ArrayLike | None = None,
    shelf_lo_eV: float = SHELF_LO_EV,
    shelf_start_far: bool = False,
    w_eV: float = W_SI_EV,
    backend: Backend = JAX,
) -> Array:
    """Fraction of each line group's X-rays recorded below ``x``.

    Parameters
    ----------
    x : energies [eV] (or ADC channels, with ``fano = 0``), shape (..., n).
    energies, weights : member energies and weights (summing to 1 per group; padding members
        have weight 0), shape (G, M) (``lines.member_arrays``).
    noise, fano : the resolution, ``sigma(E) = sqrt(noise^2 + fano w E)``; ``fano = 0`` makes
        ``noise`` the Gaussian width itself (any units).
    tail_frac, tail_beta : the seed-002 tail's fraction and slope (decay length in sigmas).
    shelf_frac : the shelf's fraction; None for no shelf (nothing computed).
    escape_frac : the Si escape fraction of each group, shape (G,); None for none.
    shelf_lo_eV : the shelf's lower end [eV].
    shelf_start_far : every ``x`` lies at least 20 sigma above ``shelf_lo_eV``, so that the
        shelf's Gaussian terms at its lower end (below 1e-80 of the result) are dropped: about
        a fifth of the kernel's cost. True for the hierarchical model's region (7-10 keV).
    w_eV : the pair-creation energy in Si [eV].
    backend : ``JAX`` (default) or ``NUMPY``; the result is an array of that library.

    Returns
    -------
    Array of shape (..., n, G): the CDF of each unit-intensity group at ``x``.
    """
    xp = backend.xp
    x = xp.asarray(x)[..., None, None]
    en = xp.asarray(energies)
    sig = sigma_at(en, noise, fano, w_eV, xp=xp)  # (G, M)
    k = 1.0 / tail_beta
    if backend is JAX and shelf_frac is not None and shelf_start_far and escape_frac is None:
        # the edges on the minor axis: XLA's CPU loops vectorise along it (with the members,
        # 2, there instead, a gradient took 3 times as long)
        member = _fused_member_cdf(np.asarray(energies)[..., None], shelf_lo_eV)
        fk = jnp.broadcast_arrays(tail_frac, k, shelf_frac)
        xt = jnp.swapaxes(jnp.asarray(x)[..., 0], -1, -2)[..., None, :]  # (..., 1, 1, n)
        per = member(xt, jnp.asarray(sig)[..., None], *fk)  # (..., G, M, n)
        cdf = jnp.sum(jnp.asarray(weights)[..., None] * per, axis=-2)  # (..., G, n)
        return jnp.swapaxes(cdf, -1, -2)
    u, phi_u, main = _peak(backend, x, en, sig, tail_frac, k)
    per_member = main
    if shelf_frac is not None:
        # U(lo, E) convolved with N(0, sigma): [R(x - lo) - R(x - E)] / (E - lo)
        y_lo = x - shelf_lo_eV
        if shelf_start_far:  # Phi = 1 and phi = 0 to below 1e-80 at >= 20 sigma
            r_lo = y_lo
        else:
            z_lo = y_lo / sig
            r_lo = _ramp(backend, y_lo, z_lo, backend.ndtr(z_lo), sig)
        shelf = (r_lo - _ramp(backend, x - en, u, phi_u, sig)) / (en - shelf_lo_eV)
        per_member = (1.0 - shelf_frac) * main + shelf_frac * shelf
    if escape_frac is not None:
        f_esc = xp.asarray(escape_frac)[:, None]
        e_esc = en - si_ka_ev()
        sig_esc = sigma_at(e_esc, noise, fano, w_eV, xp=xp)
        escape = _peak(backend, x, e_esc, sig_esc, tail_frac, k)[2]
        per_member = per_member + f_esc * (escape - main)
    return xp.sum(xp.asarray(weights) * per_member, axis=-1)
