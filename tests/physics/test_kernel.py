"""The line-response kernel against independent integrals.

A Gaussian plus tail (scipy's exponnorm), the shelf (numerical convolution), the escape peak,
bin integrals of the full density, limits, finite gradients, and the same numbers from the
NumPy and JAX backends.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import exponnorm, norm

from bayes_vip.physics import response as r
from bayes_vip.physics.kernel import NUMPY, SHELF_LO_EV, line_cumulative
from bayes_vip.physics.lines import member_arrays, si_ka_ev

# (mu, sigma, tail_frac, beta): a plain Gaussian, the measured-like tail, a heavy long tail,
# a short steep tail
SHAPES = [
    (8000.0, 70.0, 0.0, 1.0),
    (8047.8, 75.0, 0.08, 4.0),
    (4510.0, 50.0, 0.4, 10.0),
    (6000.0, 60.0, 0.2, 0.3),
]


def single(x, mu, sigma, f, beta):
    """One line of Gaussian width sigma (fano = 0: noise is the width)."""
    return np.asarray(line_cumulative(x, [[mu]], [[1.0]], sigma, 0.0, f, beta))[..., 0]


@pytest.mark.parametrize(("mu", "sigma", "f", "beta"), SHAPES)
def test_gaussian_plus_tail_matches_scipy_exponnorm(mu, sigma, f, beta):
    """The Gaussian plus tail matches scipy's exponnorm mirrored about mu.

    The tail is -(Gaussian + exponential of mean beta*sigma), scipy's exponnorm(K=beta)
    mirrored about mu; so C(x) = (1-f) Phi + f exponnorm.sf(mu - x).
    """
    x = mu + sigma * np.linspace(-25.0, 8.0, 67)
    expected = (1 - f) * norm.cdf(x, mu, sigma) + f * exponnorm.sf(mu - x, beta, scale=sigma)
    np.testing.assert_allclose(single(x, mu, sigma, f, beta), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("mu", "sigma", "f", "beta"), SHAPES)
def test_limits_are_exact_and_the_cdf_integrates_the_density(mu, sigma, f, beta):
    np.testing.assert_allclose(single([mu - 1e6, mu + 1e6], mu, sigma, f, beta), [0, 1], atol=1e-14)
    pdf = lambda x: float(r.line_pdf(x, mu, sigma, f, beta))  # noqa: E731
    lo, x = mu - 60 * sigma * max(beta, 1.0), mu - 1.3 * sigma
    part, _ = quad(pdf, lo, x, points=[mu - beta * sigma], limit=400, epsabs=1e-13)
    assert abs(single(x, mu, sigma, f, beta) - part) < 1e-9


def _full_density(x, en, w, noise, fano, f, beta, shelf, esc):
    """The response density written out independently of the kernel."""
    out = 0.0
    for e, wt in zip(en, w, strict=True):
        s = float(r.sigma_at(e, noise, fano))
        e_esc = e - si_ka_ev()
        s_esc = float(r.sigma_at(e_esc, noise, fano))
        shelf_pdf = (norm.cdf(x, SHELF_LO_EV, s) - norm.cdf(x, e, s)) / (e - SHELF_LO_EV)
        out += wt * (
            (1 - shelf - esc) * float(r.line_pdf(x, e, s, f, beta))
            + esc * float(r.line_pdf(x, e_esc, s_esc, f, beta))
            + shelf * shelf_pdf
        )
    return out


def test_shelf_and_escape_bins_equal_the_integrals_of_the_density():
    en, w = member_arrays(["Ti Ka"])
    args = (32.0, 0.13, 0.08, 4.0)
    shelf, esc = 0.07, 0.012
    edges = np.array(
        [800.0, 1000.0, 1500.0, 2500.0, 2800.0, 3500.0, 4400.0, 4505.0, 4520.0, 6000.0]
    )
    cdf = np.asarray(line_cumulative(edges, en, w, *args, shelf, escape_frac=jnp.array([esc])))[
        :, 0
    ]
    for a, b, c_a, c_b in zip(edges[:-1], edges[1:], cdf[:-1], cdf[1:], strict=True):
        val, _ = quad(_full_density, a, b, args=(en[0], w[0], *args, shelf, esc), limit=400,
                      epsabs=1e-13)  # fmt: skip
        assert abs(val - (c_b - c_a)) < 2e-10, (a, b)
    # everything is recorded somewhere: the CDF goes from 0 to 1
    ends = np.asarray(line_cumulative(jnp.array([-1e6, 1e6]), en, w, *args, shelf,
                                      escape_frac=jnp.array([esc])))[:, 0]  # fmt: skip
    np.testing.assert_allclose(ends, [0.0, 1.0], atol=1e-12)


def test_groups_and_members_are_weighted_and_broadcast():
    en, w = member_arrays(["Cu Ka", "Ni Ka", "Cu Kb"])
    x = jnp.linspace(7000.0, 10000.0, 31)
    out = np.asarray(line_cumulative(x, en, w, 35.0, 0.13, 0.08, 4.0, 0.05))
    assert out.shape == (31, 3)
    # one group alone gives its column
    alone = np.asarray(line_cumulative(x, en[1:2], w[1:2], 35.0, 0.13, 0.08, 4.0, 0.05))
    np.testing.assert_allclose(out[:, 1], alone[:, 0], rtol=1e-14)
    # a batch of cells (vmap) equals cell by cell
    xs = jnp.stack([x, x + 10.0])
    batched = np.asarray(line_cumulative(xs, en, w, 35.0, 0.13, 0.08, 4.0, 0.05))
    np.testing.assert_allclose(batched[1], np.asarray(
        line_cumulative(x + 10.0, en, w, 35.0, 0.13, 0.08, 4.0, 0.05)), rtol=1e-14)  # fmt: skip


def test_gradients_are_finite_everywhere():
    def total(params, x):
        mu, noise, fano, f, beta, shelf = params
        en = jnp.stack([mu, mu - 20.0])[None, :]
        c = line_cumulative(x, en, jnp.array([[0.66, 0.34]]), noise, fano, f, beta, shelf)
        return jnp.sum(r.bin_integrals(c[:, 0]) * jnp.arange(x.size - 1))

    x = jnp.concatenate([jnp.array([-1e5]), jnp.linspace(1000.0, 11000.0, 400), jnp.array([1e6])])
    g = jax.grad(total)(jnp.array([8047.8, 30.0, 0.12, 0.08, 4.0, 0.05]), x)
    assert np.all(np.isfinite(np.asarray(g)))
    assert np.all(np.asarray(g) != 0.0)
    # far in the tails and at the steepest tail any caller allows (tail_beta = 0.05),
    # where a naive exp(...) * erfc(...) overflows to nan
    for xx in (-5e4, 7000.0, 9000.0, 5e4):
        grad = jax.grad(
            lambda p, xx=xx: line_cumulative(xx, [[p[0]]], [[1.0]], p[1], 0.0, p[2], p[3])[0]
        )
        gl = grad(jnp.array([8000.0, 1.0, 0.2, 0.05]))
        assert np.all(np.isfinite(np.asarray(gl)))


def test_numpy_backend_gives_the_jax_numbers():
    """The line fits run the kernel with NumPy: same code, same numbers as with JAX."""
    en, w = member_arrays(["Ti Ka", "Mn Kb", "Cu Ka"])
    x = np.linspace(900.0, 10500.0, 777)
    args = (en, w, 33.0, 0.14, 0.07, 3.5, 0.06)
    esc = np.array([0.012, 0.012, 0.0])
    for kw in ({}, {"escape_frac": esc}, {"shelf_start_far": True}):
        a = np.asarray(line_cumulative(x, *args, **kw))
        b = line_cumulative(x, *args, **kw, backend=NUMPY)
        assert isinstance(b, np.ndarray)
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15)


def test_far_shelf_start_drops_only_negligible_terms():
    en, w = member_arrays(["Ni Ka", "Cu Ka", "Cu Kb"])
    x = jnp.linspace(7000.0, 10000.0, 301)  # the model's region: > 20 sigma above 1 keV
    args = (x, en, w, 250.0, 0.2, 0.1, 3.0, 0.1)  # a resolution far worse than measured
    exact = np.asarray(line_cumulative(*args))
    np.testing.assert_allclose(np.asarray(line_cumulative(*args, shelf_start_far=True)), exact,
                               rtol=1e-15, atol=1e-15)  # fmt: skip


@pytest.mark.parametrize(("f", "beta"), [(0.08, 4.0), (0.3, 0.6), (0.2, 0.05)])
def test_fused_derivatives_equal_autodiff_of_the_generic_kernel(f, beta):
    """The model's kernel (``shelf_start_far``) has hand-written derivatives in one pass.

    Value, gradient and a batch over cells (vmapped noise, as in the model) must equal
    autodiff of the generic expression (which keeps the shelf's negligible far terms).
    """
    en, w = member_arrays(["Ni Ka", "Cu Ka", "Cu Kb"])
    x0 = np.linspace(7000.0, 10000.0, 76)
    weights = jnp.asarray(np.random.default_rng(1).uniform(0.5, 2.0, (75, 3)))

    def total(p, far):
        x = x0 * (1.0 + 1e-4 * p[6]) + p[7]  # edges that move with a gain and offset
        noise = p[0] * jnp.array([1.0, 1.1, 0.9])

        def cell(nz):
            c = line_cumulative(x, en, w, nz, p[1], p[2], p[3], p[4], shelf_start_far=far)
            return jnp.sum((c[1:] - c[:-1]) * weights)

        return jnp.sum(jax.vmap(cell)(noise))

    p = jnp.array([35.0, 0.12, f, beta, 0.08, 0.0, 0.3, -4.0])
    v_fused, g_fused = jax.value_and_grad(total)(p, True)
    v_auto, g_auto = jax.value_and_grad(total)(p, False)
    np.testing.assert_allclose(float(v_fused), float(v_auto), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(g_fused), np.asarray(g_auto), rtol=1e-9, atol=1e-13)
    assert np.all(np.asarray(g_fused)[[0, 1, 2, 3, 4, 6, 7]] != 0.0)
    # forward mode too (the JVP rule itself)
    t = jnp.linspace(0.3, 1.0, 8)
    jv_fused = jax.jvp(lambda q: total(q, True), (p,), (t,))[1]
    jv_auto = jax.jvp(lambda q: total(q, False), (p,), (t,))[1]
    np.testing.assert_allclose(float(jv_fused), float(jv_auto), rtol=1e-9)
