"""Rao-Blackwellised limits: the signal's conditional posterior, draw by draw.

Against closed forms (a Poisson bin with known background: a truncated gamma) and against a
mixture of such conditionals. ``tests/bayes/test_model.py`` checks a draw's conditional
against the model's own log density along the signal direction.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sp

from bayes_vip.bayes.conditional import Conditionals, tabulate


def _gamma_cdf(n, c, m, n_max):
    """CDF of the signal n with flat prior on [0, n_max], one bin: c counts, background m."""
    lo = sp.gammainc(c + 1, m)
    return (sp.gammainc(c + 1, n + m) - lo) / (sp.gammainc(c + 1, n_max + m) - lo)


def _one_bin(c, m, n_max=1e4, k=1.0):
    # a second bin with no signal response: it must not change the conditional
    return tabulate(
        np.array([[m, 500.0]]), np.array([[1.0, 0.0]]), np.array([c, 480]), [n_max], [k]
    )


@pytest.mark.parametrize(("c", "m"), [(0, 3.0), (5, 2.0), (50, 60.0), (2000, 100.0)])
def test_one_bin_quantiles_equal_the_truncated_gamma(c, m):
    cond = _one_bin(c, m)
    for q in (0.5, 0.9, 0.95, 0.997):
        exact = so.brentq(lambda n, q=q: _gamma_cdf(n, c, m, 1e4) - q, 0.0, 1e4, xtol=1e-12)
        # log-linear interpolation on 129 nodes: 1e-3 at 5 counts, far better at more
        assert cond.quantile(q) == pytest.approx(exact, rel=2e-3 if c < 10 else 1e-4)
    dens0 = cond.pdf(0.0)[0]
    exact0 = np.exp(c * np.log(m) - m - sp.gammaln(c + 1)) / (1.0 - sp.gammainc(c + 1, m))
    assert dens0 == pytest.approx(exact0, rel=5e-3)


def test_the_prior_bound_truncates_the_conditional():
    """A bound below the bulk: the conditional is the likelihood cut at n_max."""
    cond = _one_bin(100, 10.0, n_max=80.0)
    exact = so.brentq(lambda n: _gamma_cdf(n, 100, 10.0, 80.0) - 0.95, 0.0, 80.0, xtol=1e-12)
    assert cond.quantile(0.95) == pytest.approx(exact, rel=1e-4)
    assert cond.hi[0] == 80.0


def test_the_averaged_cdf_of_a_mixture_and_beta_units():
    """Draws with different backgrounds and counts per unit: the mixture's quantiles."""
    rng = np.random.default_rng(3)
    ms = rng.uniform(20.0, 60.0, 40)
    ks = rng.uniform(100.0, 200.0, 40)
    cond = tabulate(
        np.stack([ms, np.full(40, 300.0)], 1),
        np.tile([1.0, 0.0], (40, 1)),
        np.array([55, 310]),
        np.full(40, 1e4),
        ks,
    )
    for q in (0.9, 0.997):
        counts = so.brentq(lambda n, q=q: np.mean(_gamma_cdf(n, 55, ms, 1e4)) - q, 0, 1e4)
        beta = so.brentq(lambda b, q=q: np.mean(_gamma_cdf(b * ks, 55, ms, 1e4)) - q, 0, 100)
        assert cond.quantile(q) == pytest.approx(counts, rel=1e-4)
        assert cond.quantile(q, beta=True) == pytest.approx(beta, rel=1e-4)
    # the per-unit density is the count density times k
    np.testing.assert_allclose(cond.pdf(0.0, beta=True), cond.pdf(0.0) * ks)
    # blocks join along the draw axis
    two = Conditionals.concat([cond.reshape(2, 20), cond.reshape(2, 20)])
    assert two.lo.shape == (2, 40)
    assert two.logf.shape[:2] == (2, 40)


def test_bad_backgrounds_are_refused():
    with pytest.raises(ValueError, match="positive background"):
        tabulate(np.array([[0.0]]), np.array([[1.0]]), np.array([3]), [10.0], [1.0])


@pytest.mark.parametrize(("c", "m", "upper"), [(12, 10.0, 60.0), (40, 15.0, 100.0), (3, 8.0, 30.0)])
def test_the_bayes_factor_of_a_conjugate_case_is_exact(c, m, upper):
    """One Poisson bin, known background m, flat prior U(0, upper) on the signal counts.

    BF_01 = Poisson(c; m) / ((1/upper) int_0^upper Poisson(c; m + n) dn), in closed form with
    the regularised incomplete gamma function; the Rao-Blackwellised Savage-Dickey factor
    must give it within 5 % (issue 14), and here does far better.
    """
    from bayes_vip.bayes.sampling import savage_dickey_rb

    draws = 50
    cond = tabulate(
        np.tile([[m, 500.0]], (draws, 1)),
        np.tile([[1.0, 0.0]], (draws, 1)),
        np.array([c, 510]),
        np.full(draws, upper),
        np.ones(draws),
    ).reshape(2, draws // 2)
    bf = savage_dickey_rb(cond, 1.0 / upper, beta=False)
    evidence = (sp.gammainc(c + 1, m + upper) - sp.gammainc(c + 1, m)) / upper
    exact = np.exp(c * np.log(m) - m - sp.gammaln(c + 1)) / evidence
    assert bf["BF_01_no_signal_vs_signal"] == pytest.approx(exact, rel=0.05)
    assert bf["BF_01_no_signal_vs_signal"] == pytest.approx(exact, rel=5e-3)
    # identical draws: no Monte Carlo error beyond rounding
    assert bf["BF_01_mcse"] <= 1e-12 * bf["BF_01_no_signal_vs_signal"]
    assert "upper bound" in bf["prior_dependence"]


@pytest.mark.parametrize(("c", "m", "n_max"), [(5, 2.0, 1e4), (50, 60.0, 1e4), (100, 10.0, 80.0)])
def test_the_gibbs_step_draws_the_exact_conditional(c, m, n_max):
    """``gibbs_counts`` leaves the conditional invariant and nearly always moves.

    4000 successive steps from a start at 0.9 of the prior's bound, far in the tail (beyond
    the table where the bound is high: the proposal's uniform part gets it out): the draws
    follow the truncated gamma (Kolmogorov-Smirnov), nearly every step is accepted, and
    successive draws are nearly independent.
    """
    import jax
    import jax.numpy as jnp
    from scipy.stats import kstest

    from bayes_vip.bayes.conditional import DEFENSIVE, gibbs_counts

    args = (jnp.array([m, 500.0]), jnp.array([1.0, 0.0]), jnp.array([c, 480.0]), n_max)
    step = jax.jit(lambda key, n: gibbs_counts(key, *args, n))
    n, draws, accepted = jnp.asarray(0.9 * n_max), [], 0
    for key in jax.random.split(jax.random.PRNGKey(1), 4000):
        n, acc = step(key, n)
        draws.append(float(n))
        accepted += bool(acc)
    draws = np.array(draws[200:])  # once out of the far start
    assert kstest(draws, lambda x: _gamma_cdf(x, c, m, n_max)).pvalue > 1e-3
    assert accepted / 4000 > 0.97 - DEFENSIVE
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < 0.06
