"""SDD detector response in JAX: line shape (density), resolution, bin integrals, ADC calibration.

The line response integrated over bins (the CDF every analysis uses) is
``physics.kernel.line_cumulative``.

All functions are pure, differentiable and broadcast over their arguments. Call them with
float64 enabled (``jax.config.update("jax_enable_x64", True)``, done by the CLI and the
test suite) or they lose the precision that 1e6 counts per bin need.

Line shape (seed 002 eqs. 4-5)
------------------------------
A line at ``mu`` with Gaussian width ``sigma`` is a Gaussian plus a low-energy tail from
incomplete charge collection. Seed 002 eq. 5 writes the tail (the printed formula is
garbled in the text; the form below is the one whose integral is ``A_i``, which it must
be for ``A_i`` to be "the amplitude of the tail")::

    T(x) = A_t / (2 beta sigma) * exp((x - mu)/(beta sigma) + 1/(2 beta^2))
                                * erfc((x - mu)/(sqrt(2) sigma) + 1/(sqrt(2) beta))

It is an exponential of decay length ``beta*sigma`` towards low energy, convolved with the
Gaussian. We normalise the whole line to 1 and write it with a tail fraction ``f``::

    shape(x) = (1 - f) * Gauss(x; mu, sigma) + f * T(x; mu, sigma, beta) / A_t

Its CDF is closed-form (``physics.kernel``)::

    C(x) = Phi(u) + f * exp(k u + k^2/2) * Phi(-(u + k)),   u = (x-mu)/sigma, k = 1/beta

Resolution (DESIGN.md): ``sigma(E) = sqrt(noise^2 + F * w * E)``.
Calibration (seed 002 eq. 1): ``E = p0 + p1*ADC + p2*ADC^2``.
"""

from __future__ import annotations

from types import ModuleType
from typing import cast

import jax.numpy as jnp
from jax import Array
from jax.scipy.special import log_ndtr
from jax.typing import ArrayLike

from bayes_vip.physics.constants import W_SI_EV

__all__ = [
    "FWHM_PER_SIGMA",
    "adc_to_energy",
    "bin_integrals",
    "calibration_slope",
    "energy_to_adc",
    "fwhm_at",
    "gauss_pdf",
    "line_pdf",
    "sigma_at",
    "tail_pdf",
]

# Typing note: the arguments are ``ArrayLike`` (Python numbers, NumPy or JAX arrays). NumPy's
# stubs type ``ndarray op Array`` as an ndarray, whereas at run time JAX's Array wins (it sets
# ``__array_priority__``), and they reject ``bool - numpy.bool``, which never occurs here. The
# ``cast(Array, ...)`` below tell mypy so; they do nothing at run time.

#: FWHM / sigma of a Gaussian, 2 sqrt(2 ln 2).
FWHM_PER_SIGMA = 2.0 * jnp.sqrt(2.0 * jnp.log(2.0))


# ----------------------------------------------------------------------------- resolution
def sigma_at(
    energy_eV: ArrayLike,
    noise_eV: ArrayLike,
    fano: ArrayLike,
    w_eV: ArrayLike = W_SI_EV,
    *,
    xp: ModuleType = jnp,
) -> Array:
    """Gaussian width [eV] at ``energy_eV``: sqrt(noise^2 + F w E) (DESIGN.md, seed 000 sec. 3).

    Parameters
    ----------
    energy_eV : line energy [eV], any shape.
    noise_eV : energy-independent (electronic) noise, as a sigma [eV].
    fano : Fano factor F (dimensionless).
    w_eV : pair-creation energy in Si [eV]; default ``constants.W_SI_EV``.
    xp : the array library (``jax.numpy``, or ``numpy`` for NumPy inputs and results).
    """
    return xp.sqrt(noise_eV**2 + fano * w_eV * energy_eV)


def fwhm_at(
    energy_eV: ArrayLike, noise_eV: ArrayLike, fano: ArrayLike, w_eV: ArrayLike = W_SI_EV
) -> Array:
    """FWHM [eV] of the Gaussian core at ``energy_eV``."""
    return FWHM_PER_SIGMA * sigma_at(energy_eV, noise_eV, fano, w_eV)


# ----------------------------------------------------------------------------- line shape
def gauss_pdf(x: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> Array:
    """Normal density at ``x`` [1/eV]."""
    u = (cast(Array, x) - mu) / sigma
    return jnp.exp(-0.5 * u * u) / (sigma * jnp.sqrt(2.0 * jnp.pi))


def _tail_log_factor(u: Array, k: ArrayLike) -> Array:
    """log[exp(k u + k^2/2) * Phi(-(u + k))], stable for all u."""
    return cast(Array, k * u + 0.5 * k * k + log_ndtr(-(u + k)))


def tail_pdf(x: ArrayLike, mu: ArrayLike, sigma: ArrayLike, beta: ArrayLike) -> Array:
    """Normalised low-energy tail of seed 002 eq. 5 (integral 1) [1/eV].

    ``beta`` is the tail slope: the exponential's decay length is ``beta * sigma``.
    """
    u = (cast(Array, x) - mu) / sigma
    k = 1.0 / beta
    return cast(Array, (k / sigma) * jnp.exp(_tail_log_factor(u, k)))


def line_pdf(
    x: ArrayLike, mu: ArrayLike, sigma: ArrayLike, tail_frac: ArrayLike, beta: ArrayLike
) -> Array:
    """Gaussian plus tail, normalised to 1 [1/eV] (seed 002 eq. 4-5, one line)."""
    return cast(
        Array,
        (1.0 - tail_frac) * gauss_pdf(x, mu, sigma) + tail_frac * tail_pdf(x, mu, sigma, beta),
    )


def bin_integrals(cdf_at_edges: Array) -> Array:
    """Exact bin contents from a CDF evaluated at bin edges: shape (..., n+1) -> (..., n)."""
    return cdf_at_edges[..., 1:] - cdf_at_edges[..., :-1]


# ----------------------------------------------------------------------------- calibration
def adc_to_energy(adc: ArrayLike, p: ArrayLike) -> Array:
    """Energy [eV] of ADC value(s): p0 + p1*adc + p2*adc^2 (seed 002 eq. 1).

    ``p`` has shape (..., 3) and broadcasts against ``adc`` over the leading axes.
    """
    p = jnp.asarray(p)
    return p[..., 0] + p[..., 1] * adc + p[..., 2] * adc * adc


def energy_to_adc(energy_eV: ArrayLike, p: ArrayLike) -> Array:
    """Inverse of ``adc_to_energy`` on its increasing branch.

    Uses ``2 (E - p0) / (p1 + sqrt(p1^2 + 4 p2 (E - p0)))``, which is exact for p2 = 0 and
    has no cancellation when p2 is small.
    """
    p = jnp.asarray(p)
    d = cast(Array, energy_eV - p[..., 0])
    return 2.0 * d / (p[..., 1] + jnp.sqrt(p[..., 1] ** 2 + 4.0 * p[..., 2] * d))


def calibration_slope(adc: ArrayLike, p: ArrayLike) -> Array:
    """dE/dADC [eV per channel] at ``adc``."""
    p = jnp.asarray(p)
    return p[..., 1] + 2.0 * p[..., 2] * adc
