"""Asymptotic CLs limits and expected bands (``analysis.asymptotic``).

Two kinds of checks: a Gaussian measurement, where every limit has a closed form, and
pyhf (the reference implementation of the same formulae in HEP) on a two-bin counting
model and on a shape model that both tools express alike.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayes_vip.analysis import asymptotic as asy

pyhf = pytest.importorskip("pyhf")


class _Gaussian:
    """One measurement x ~ Normal(mu, sigma): S(mu) = ((x - mu) / sigma)^2, no nuisance."""

    def __init__(self, x: float, sigma: float):
        self.x, self.scale = x, sigma

    def best(self, data):
        return float(data), 0.0

    def deviance(self, mu, data):
        return ((data - mu) / self.scale) ** 2

    def asimov(self, mu):
        return mu


@pytest.mark.parametrize("refine", [False, True])
@pytest.mark.parametrize("x", [-1.0, 0.0, 1.5])
def test_a_gaussian_measurement_gives_the_closed_forms(x, refine):
    """CLs: mu_up = sigma (x + Phi^-1(1 - alpha Phi(x))) for any x (in sigmas).

    For x < 0 the CCGV q~ branch q > q_A applies (mu_hat counts as 0), and gives the same
    closed form. The profile limit is sigma (x + z) for x >= 0 and sigma (x + sqrt(x^2 +
    z^2)) below, z = Phi^-1(CL); the bands are the same expressions at x = n. The observed
    limits settle to 1e-3 sigma by default, to 1e-5 sigma with ``refine``.
    """
    sigma = 2.0
    out = asy.frequentist_limits(_Gaussian(x * sigma, sigma), x * sigma, refine=refine)
    tol = {"rel": 1e-6} if refine else {"abs": 1e-3 * sigma}
    for level in (0.9, 0.95, 0.997):
        alpha = 1 - level
        z = stats.norm.isf(alpha)
        want = sigma * (x + stats.norm.isf(alpha * stats.norm.cdf(x)))
        assert out["cls"][f"{level:g}"] == pytest.approx(want, **tol)
        prof = sigma * (x + (z if x >= 0 else math.sqrt(x * x + z * z)))
        assert out["profile"][f"{level:g}"] == pytest.approx(prof, **tol)
        for n in asy.BANDS:
            cls = sigma * (stats.norm.isf(alpha * stats.norm.cdf(n)) + n)
            prof = sigma * (n + (z if n >= 0 else math.sqrt(n * n + z * z)))
            assert out["expected"]["cls"][f"{level:g}"][f"{n:+g}"] == pytest.approx(cls, rel=1e-6)
            got = out["expected"]["profile"][f"{level:g}"][f"{n:+g}"]
            assert got == pytest.approx(prof, rel=1e-6)
    assert out["sigma_A"] == pytest.approx(sigma)


@pytest.mark.parametrize("n", asy.BANDS)
def test_each_band_is_the_observed_limit_of_the_data_there(n):
    """Data at n sigma (mu_hat = n sigma) have exactly the band's limits, both methods."""
    sigma = 1.5
    expected = asy.frequentist_limits(_Gaussian(0.0, sigma), 0.0)["expected"]
    seen = asy.frequentist_limits(_Gaussian(n * sigma, sigma), n * sigma, refine=True)
    for method in ("cls", "profile"):
        for level in ("0.9", "0.95", "0.997"):
            band = expected[method][level][f"{n:+g}"]
            assert seen[method][level] == pytest.approx(band, rel=1e-5), (method, level)


def test_levels_at_or_below_one_half_are_refused():
    with pytest.raises(ValueError, match=r"between 0\.5 and 1"):
        asy.frequentist_limits(_Gaussian(0.0, 1.0), 0.0, levels=(0.4,))


def test_cls_is_the_ratio_of_the_two_p_values():
    # q <= q_A: p_mu = 1 - Phi(sqrt q), 1 - p_b = Phi(sqrt q_A - sqrt q)
    p_mu, clb = asy.p_values(1.0, 4.0)
    assert p_mu == pytest.approx(stats.norm.sf(1.0))
    assert clb == pytest.approx(stats.norm.cdf(1.0))
    # q > q_A: the other branch, continuous at q = q_A
    lo, hi = asy.p_values(4.0 - 1e-9, 4.0), asy.p_values(4.0 + 1e-9, 4.0)
    assert lo == pytest.approx(hi, abs=1e-8)
    assert asy.cls_value(9.0, 4.0) == pytest.approx(stats.norm.sf(13 / 4) / stats.norm.cdf(-5 / 4))
    # far beyond the limit, where p_mu and 1 - p_b both underflow: excluded, not CLs = 1
    assert asy.cls_value(60.0**2, 1.0) < 1e-10
    assert asy.cls_value(8.0**2, 1.0) == pytest.approx(
        stats.norm.sf(32.5) / stats.norm.cdf(-31.5), rel=1e-9
    )


def _uncorrelated(signal, bkg, unc, observed):
    """The ``uncorrelated_background`` model of pyhf, and its likelihood for our fitter."""
    model = pyhf.simplemodels.uncorrelated_background(
        signal=list(signal), bkg=list(bkg), bkg_uncertainty=list(unc)
    )
    data = np.array(list(observed) + model.config.auxdata)
    s, b = np.asarray(signal, float), np.asarray(bkg, float)
    tau = (b / np.asarray(unc, float)) ** 2  # shapesys: Poisson(aux | gamma tau)

    def expected(x):
        mu, gamma = x[0], x[1:]
        return jnp.concatenate([mu * s + gamma * b, gamma * tau])

    names = ["mu", *[f"gamma{i}" for i in range(len(b))]]
    bounds = {"mu": (0.0, 10.0), **dict.fromkeys(names[1:], (1e-10, 10.0))}
    ours = asy.PoissonProfile(
        expected, names, [1.0] * len(names), poi="mu", bounds=bounds, data=data
    )
    return model, data, ours


def _shape_case():
    """Eight bins: a Gaussian line on a falling continuum, per-bin background errors."""
    e = np.linspace(0.5, 11.5, 8)
    signal = 20.0 * stats.norm.pdf(e, 6.0, 1.2)
    bkg = 60.0 * np.exp(-e / 6.0)
    unc = 0.08 * bkg + 1.0
    rng = np.random.default_rng(7)
    observed = rng.poisson(bkg + 0.5 * signal).tolist()
    return signal, bkg, unc, observed


CASES = {
    # the example of pyhf's documentation (pyhf.infer.intervals.upper_limits.toms748_scan)
    "two bins": ([12.0, 11.0], [50.0, 52.0], [3.0, 7.0], [51, 48]),
    "shape": _shape_case(),
}


@pytest.fixture(scope="module")
def minuit_backend():
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-8, strategy=2))
    yield
    pyhf.set_backend("numpy")


@pytest.mark.parametrize("case", list(CASES))
def test_test_statistic_and_cls_limits_agree_with_pyhf(case, minuit_backend):
    model, data, ours = _uncorrelated(*CASES[case])
    init, bounds = model.config.suggested_init(), model.config.suggested_bounds()
    fixed = model.config.suggested_fixed()
    q = asy._QTilde(ours, data)
    for mu in (0.3, 1.0, 2.5):
        theirs = float(pyhf.infer.test_statistics.qmu_tilde(mu, data, model, init, bounds, fixed))
        assert q(mu) == pytest.approx(theirs, abs=1e-6)

    obs, exp = pyhf.infer.intervals.upper_limits.toms748_scan(
        data, model, 0.0, 8.0, level=0.05, rtol=1e-8, atol=1e-12
    )
    exp = [float(v) for v in exp]  # bands -2 ... +2
    for refine, rtol in ((False, 1e-4), (True, 1e-6)):
        got = asy.frequentist_limits(ours, data, levels=(0.95,), refine=refine)
        assert got["cls"]["0.95"] == pytest.approx(float(obs), rel=rtol)
        bands = got["expected"]["cls"]["0.95"]
        for n, want in zip(asy.BANDS, exp, strict=True):
            assert bands[f"{n:+g}"] == pytest.approx(want, rel=rtol), (refine, n)


def test_more_counts_give_a_higher_observed_limit():
    sig, bkg, unc, _ = CASES["two bins"]
    limits = []
    for observed in ([40, 41], [51, 48], [62, 60]):
        _, data, ours = _uncorrelated(sig, bkg, unc, observed)
        limits.append(asy.frequentist_limits(ours, data, levels=(0.95,))["cls"]["0.95"])
    assert limits[0] < limits[1] < limits[2]
