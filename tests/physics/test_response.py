"""Detector response: normalisation, CDF consistency, bin integrals, gradients, calibration."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from bayes_vip.physics import response as r

# (mu, sigma, tail_frac, beta): a plain Gaussian, the measured-like tail, a heavy long tail,
# a short steep tail
SHAPES = [
    (8000.0, 70.0, 0.0, 1.0),
    (8047.8, 75.0, 0.08, 4.0),
    (4510.0, 50.0, 0.4, 10.0),
    (6000.0, 60.0, 0.2, 0.3),
]


@pytest.mark.parametrize("mu,sigma,f,beta", SHAPES)
def test_line_shape_integrates_to_one(mu, sigma, f, beta):
    pdf = lambda x: float(r.line_pdf(x, mu, sigma, f, beta))  # noqa: E731
    lo, hi = mu - 60 * sigma * max(beta, 1.0), mu + 40 * sigma
    total, err = quad(pdf, lo, hi, points=[mu - beta * sigma, mu], limit=400, epsabs=1e-13)
    assert abs(total - 1.0) < 1e-9
    # the closed-form CDF agrees with the numerical integral of the density
    x = mu - 1.3 * sigma
    part, _ = quad(pdf, lo, x, points=[mu - beta * sigma], limit=400, epsabs=1e-13)
    assert abs(float(r.line_cdf(x, mu, sigma, f, beta)) - part) < 1e-9


@pytest.mark.parametrize("mu,sigma,f,beta", SHAPES)
def test_cdf_limits_are_exact(mu, sigma, f, beta):
    c = r.line_cdf(jnp.array([mu - 1e6, mu + 1e6]), mu, sigma, f, beta)
    np.testing.assert_allclose(np.asarray(c), [0.0, 1.0], atol=1e-14)


@pytest.mark.parametrize("mu,sigma,f,beta", SHAPES)
def test_cdf_matches_scipy_exponnorm(mu, sigma, f, beta):
    """Independent check: the tail is -(Gaussian + exponential of mean beta*sigma), which is
    scipy's exponnorm(K=beta) mirrored about mu; so C(x) = (1-f) Phi + f exponnorm.sf(mu-x)."""
    from scipy.stats import exponnorm, norm

    x = mu + sigma * np.linspace(-25.0, 8.0, 67)
    expected = (1 - f) * norm.cdf(x, mu, sigma) + f * exponnorm.sf(mu - x, beta, scale=sigma)
    np.testing.assert_allclose(
        np.asarray(r.line_cdf(x, mu, sigma, f, beta)), expected, rtol=1e-10, atol=1e-14
    )
    # and the tail sits on the low-energy side: more than half the line lies below mu
    if f > 0:
        assert float(r.line_cdf(mu, mu, sigma, f, beta)) > 0.5 + 0.05 * f


def test_multiplet_normalised_and_bin_integrals_sum_to_cdf_difference():
    energies, weights = jnp.array([8047.8, 8027.8]), jnp.array([1.0, 0.51]) / 1.51
    edges = jnp.linspace(7000.0, 9000.0, 2001)
    b = r.multiplet_bin_integrals(edges, energies, weights, 30.0, 0.12, 0.08, 4.0)
    cdf = r.multiplet_cdf(edges, energies, weights, 30.0, 0.12, 0.08, 4.0)
    assert b.shape == (2000,)
    assert abs(float(jnp.sum(b)) - float(cdf[-1] - cdf[0])) < 1e-12
    assert np.all(np.asarray(b) >= -1e-15)
    full = r.multiplet_cdf(jnp.array([-1e6, 1e6]), energies, weights, 30.0, 0.12, 0.08, 4.0)
    np.testing.assert_allclose(np.asarray(full), [0.0, 1.0], atol=1e-14)
    # each bin equals the integral of the density over it
    pdf = lambda x: float(r.multiplet_pdf(x, energies, weights, 30.0, 0.12, 0.08, 4.0))  # noqa
    for i in (500, 1020, 1040, 1900):
        val, _ = quad(pdf, float(edges[i]), float(edges[i + 1]), epsabs=1e-14)
        assert abs(val - float(b[i])) < 1e-11


def test_gradients_are_finite_everywhere():
    def total(params, x):
        mu, noise, fano, f, beta = params
        en = jnp.stack([mu, mu - 20.0])
        c = r.multiplet_cdf(x, en, jnp.array([0.66, 0.34]), noise, fano, f, beta)
        return jnp.sum(r.bin_integrals(c) * jnp.arange(x.size - 1))

    x = jnp.concatenate([jnp.array([-1e5]), jnp.linspace(1000.0, 11000.0, 400), jnp.array([1e6])])
    params = jnp.array([8047.8, 30.0, 0.12, 0.08, 4.0])
    g = jax.grad(total)(params, x)
    assert np.all(np.isfinite(np.asarray(g)))
    assert np.all(np.asarray(g) != 0.0)
    # far in the tails too, where naive exp(...)*erfc(...) overflows to nan
    for xx in (-5e4, 7000.0, 9000.0, 5e4):
        gl = jax.grad(lambda p, xx=xx: r.line_cdf(xx, *p))(jnp.array([8000.0, 1.0, 0.2, 0.05]))
        assert np.all(np.isfinite(np.asarray(gl)))


def test_resolution_formula():
    s = r.sigma_at(8000.0, 30.0, 0.12, 3.7)
    assert float(s) == pytest.approx(np.sqrt(30.0**2 + 0.12 * 3.7 * 8000.0), rel=1e-15)
    assert float(r.fwhm_at(8000.0, 30.0, 0.12, 3.7)) == pytest.approx(
        2 * np.sqrt(2 * np.log(2)) * float(s), rel=1e-15
    )


@pytest.mark.parametrize("p", [[-15.0, 2.9, 1e-6], [12.0, 3.1, 0.0], [0.0, 2.8, -2e-6]])
def test_calibration_inverse(p):
    p = jnp.array(p)
    adc = jnp.linspace(0.0, 4096.0, 97)
    e = r.adc_to_energy(adc, p)
    np.testing.assert_allclose(np.asarray(r.energy_to_adc(e, p)), np.asarray(adc), atol=1e-9)
    slope = jax.vmap(jax.grad(lambda a: r.adc_to_energy(a, p)))(adc)
    np.testing.assert_allclose(
        np.asarray(slope), np.asarray(r.calibration_slope(adc, p)), rtol=1e-12
    )


def test_calibration_broadcasts_over_batches():
    p = jnp.array([[0.0, 2.9, 0.0], [10.0, 3.0, 1e-6]])  # 2 batches
    adc = jnp.array([[100.0], [200.0]])
    e = r.adc_to_energy(adc[:, 0], p)
    assert e.shape == (2,)
    assert float(e[1]) == pytest.approx(10.0 + 600.0 + 0.04)
