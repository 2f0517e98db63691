"""Detector response: the line density's normalisation, the resolution, the calibration."""

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


@pytest.mark.parametrize(("mu", "sigma", "f", "beta"), SHAPES)
def test_line_shape_integrates_to_one(mu, sigma, f, beta):
    pdf = lambda x: float(r.line_pdf(x, mu, sigma, f, beta))  # noqa: E731
    lo, hi = mu - 60 * sigma * max(beta, 1.0), mu + 40 * sigma
    total, _ = quad(pdf, lo, hi, points=[mu - beta * sigma, mu], limit=400, epsabs=1e-13)
    assert abs(total - 1.0) < 1e-9
    # the tail sits on the low-energy side: more than half the line lies below mu
    below, _ = quad(pdf, lo, mu, points=[mu - beta * sigma], limit=400, epsabs=1e-13)
    assert below > 0.5 + 0.05 * f if f > 0 else abs(below - 0.5) < 1e-9


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
