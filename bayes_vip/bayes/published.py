"""The binned Bayesian fit of a published analysis of the 2016-17 spectra (issue 15, item 6d).

Its method, as issue 15 states it:

- the current-on spectrum over 7000-8600 eV (here in 10 eV bins, Poisson likelihood);
- Gaussian Cu Ka1/Ka2 lines, intensity ratio 0.51, 19.95 eV apart, and Gaussian Ni Ka1/Ka2,
  17.26 eV apart (their intensity ratio from xraydb through ``physics.lines``: 0.509), each
  doublet with a free position and width;
- a second-order Chebyshev background (coefficients within +-0.5, so that it stays
  positive) whose normalisation (its counts over the range) has a 0.8 % Gaussian
  constraint centred on the background fitted to the current-off spectrum (equal live
  times) with the same lines;
- a Gaussian PEP line at 7729 eV with the Cu Ka width, its counts uniform in [0, 700];
- every nuisance marginalised (NUTS), the limit the 99.7 % quantile of the signal's counts.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import erf
from scipy import optimize

from bayes_vip.analysis.spectral import rebin
from bayes_vip.errors import AnalysisError, InputError
from bayes_vip.physics.lines import line_group

__all__ = ["PUBLISHED_FIT", "published_bayes_fit", "published_bins"]

#: The published fit's settings (issue 15, item 6d).
PUBLISHED_FIT = {
    "range_eV": (7000.0, 8600.0),
    "bin_eV": 10.0,
    "cu_ratio": 0.51,  # Ka2 / Ka1
    "cu_split_eV": 19.95,
    "ni_split_eV": 17.26,
    "pep_eV": 7729.0,
    "background_constraint": 0.008,  # relative sd of the background normalisation
    "signal_upper": 700.0,
}


def _ni_ratio() -> float:
    g = line_group("Ni Ka")
    return float(g.lines[1].intensity / g.lines[0].intensity)


def _gauss_bins(edges, mu, sigma):
    """The fraction of a Gaussian line in each bin (exact bin integrals)."""
    z = (edges - mu) / (math.sqrt(2.0) * sigma)
    return 0.5 * jnp.diff(erf(z))


def _expected(p: dict, edges: jnp.ndarray, with_signal: bool) -> jnp.ndarray:
    """Counts per bin of the lines, the background and (optionally) the PEP line."""
    s = PUBLISHED_FIT
    rc, rn = s["cu_ratio"], _ni_ratio()
    cu = (_gauss_bins(edges, p["cu_mu"], p["cu_sigma"]) + rc * _gauss_bins(
        edges, p["cu_mu"] - s["cu_split_eV"], p["cu_sigma"])) / (1 + rc)  # fmt: skip
    ni = (_gauss_bins(edges, p["ni_mu"], p["ni_sigma"]) + rn * _gauss_bins(
        edges, p["ni_mu"] - s["ni_split_eV"], p["ni_sigma"])) / (1 + rn)  # fmt: skip
    lo, hi = s["range_eV"]
    x = (0.5 * (edges[1:] + edges[:-1]) - 0.5 * (lo + hi)) / (0.5 * (hi - lo))
    shape = jnp.maximum(1.0 + p["c1"] * x + p["c2"] * (2 * x * x - 1), 1e-9)
    bkg = p["bkg"] * shape / jnp.sum(shape)
    mu = p["n_cu"] * cu + p["n_ni"] * ni + bkg
    if with_signal:
        mu = mu + p["n_x"] * _gauss_bins(edges, s["pep_eV"], p["cu_sigma"])
    return mu


_NAMES = ("n_cu", "n_ni", "cu_mu", "ni_mu", "cu_sigma", "ni_sigma", "bkg", "c1", "c2")


#: Bounds of the maximum-likelihood fits (the supports of the NUTS priors below).
_BOUNDS = {
    "cu_sigma": (30.0, 200.0),
    "ni_sigma": (30.0, 200.0),
    "c1": (-0.5, 0.5),
    "c2": (-0.5, 0.5),
}


def _fit_off(counts: np.ndarray, edges: np.ndarray) -> dict[str, float]:
    """Maximum-likelihood fit of the lines and background to one spectrum (no PEP line).

    Minimises the Poisson deviance 2 sum(mu - n + n ln(n / mu)) with L-BFGS-B inside the
    priors' supports, to a tight tolerance; a fit that does not converge is an error.
    """
    e = jnp.asarray(edges)
    n = jnp.asarray(counts)
    total = float(counts.sum())
    x0 = np.array([0.5 * total, 0.02 * total, 8047.8, 7478.2, 80.0, 80.0, 0.4 * total, 0.0, 0.0])
    scale = np.array([total, total, 10.0, 10.0, 10.0, 10.0, total, 1.0, 1.0])
    lo = {"n_cu": 0.0, "n_ni": 0.0, "bkg": 1e-6 * total, **{k: v[0] for k, v in _BOUNDS.items()}}
    hi = {k: v[1] for k, v in _BOUNDS.items()}
    bounds = [
        (None if k not in lo else (lo[k] - x0[i]) / scale[i],
         None if k not in hi else (hi[k] - x0[i]) / scale[i])
        for i, k in enumerate(_NAMES)
    ]  # fmt: skip
    n_safe = jnp.where(n > 0, n, 1.0)

    def deviance(u):
        p = dict(zip(_NAMES, u * scale + x0, strict=True))
        mu = _expected(p, e, with_signal=False)
        return 2.0 * jnp.sum(mu - n + jnp.where(n > 0, n * jnp.log(n_safe / mu), 0.0))

    f = jax.jit(deviance)
    g = jax.jit(jax.grad(deviance))
    r = optimize.minimize(
        lambda u: float(f(u)),
        np.zeros(9),
        jac=lambda u: np.asarray(g(u)),
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-12, "gtol": 1e-6, "maxiter": 5000},
    )
    # L-BFGS-B can stop "abnormally" in its line search at the minimum itself (the deviance
    # is flat there to rounding): a small projected gradient is a converged fit too
    grad = np.asarray(g(r.x))
    free = [
        not ((b[0] is not None and x <= b[0] + 1e-9 and gi > 0)
             or (b[1] is not None and x >= b[1] - 1e-9 and gi < 0))
        for x, b, gi in zip(r.x, bounds, grad, strict=True)
    ]  # fmt: skip
    small = float(np.max(np.abs(grad[free]), initial=0.0)) < 1e-3
    if not ((r.success or small) and np.isfinite(r.fun)):
        msg = f"the published fit's maximum-likelihood start did not converge: {r.message}"
        raise AnalysisError(msg)
    return dict(zip(_NAMES, r.x * scale + x0, strict=True))


def _model(edges, counts, bkg_off: float, start: dict[str, float]):
    s = PUBLISHED_FIT
    total = jnp.sum(counts)
    p = {
        "n_cu": numpyro.sample("n_cu", dist.Uniform(0.0, 2.0 * total)),
        "n_ni": numpyro.sample("n_ni", dist.Uniform(0.0, total)),
        "cu_mu": numpyro.sample("cu_mu", dist.Uniform(start["cu_mu"] - 50, start["cu_mu"] + 50)),
        "ni_mu": numpyro.sample("ni_mu", dist.Uniform(start["ni_mu"] - 50, start["ni_mu"] + 50)),
        "cu_sigma": numpyro.sample("cu_sigma", dist.Uniform(*_BOUNDS["cu_sigma"])),
        "ni_sigma": numpyro.sample("ni_sigma", dist.Uniform(*_BOUNDS["ni_sigma"])),
        "bkg": numpyro.sample("bkg", dist.Normal(bkg_off, s["background_constraint"] * bkg_off)),
        "c1": numpyro.sample("c1", dist.Uniform(*_BOUNDS["c1"])),
        "c2": numpyro.sample("c2", dist.Uniform(*_BOUNDS["c2"])),
        "n_x": numpyro.sample("n_x", dist.Uniform(0.0, s["signal_upper"])),
    }
    mu = _expected(p, edges, with_signal=True)
    numpyro.sample("counts", dist.Poisson(mu), obs=counts)


def published_bins(edges: np.ndarray) -> tuple[int, int, int]:
    """``(i0, k, n)``: the first bin, the rebinning factor and the bins of the published fit.

    An ``InputError`` where the spectra's bins are not uniform divisors of 10 eV or do not
    cover 7000-8600 eV.
    """
    s = PUBLISHED_FIT
    lo, hi = s["range_eV"]
    w = np.diff(edges)
    k = s["bin_eV"] / float(w[0])
    if not np.allclose(w, w[0]) or k < 1 or abs(k - round(k)) > 1e-9:
        msg = f"the published fit needs uniform bins that divide {s['bin_eV']:g} eV"
        raise InputError(msg, field="binning")
    if edges[0] > lo + 1e-9 or edges[-1] < hi - 1e-9:
        msg = f"the published fit needs {lo:g}-{hi:g} eV; the bins span {edges[0]:g}-{edges[-1]:g}"
        raise InputError(msg, field="binning")
    k = round(k)
    i0 = int(np.searchsorted(edges, lo - 1e-9))
    return i0, k, (int(np.searchsorted(edges, hi - 1e-9)) - i0) // k


def published_bayes_fit(
    on: np.ndarray,
    off: np.ndarray,
    edges: np.ndarray,
    *,
    seed: int = 0,
    chains: int = 4,
    warmup: int = 500,
    samples: int = 1000,
    level: float = 0.997,
) -> dict[str, Any]:
    """The published binned Bayesian fit on 1-eV (or finer-than-10-eV) spectra ``on``, ``off``.

    ``edges`` are the spectra's bin edges; they are rebinned to 10 eV over 7000-8600 eV.
    Returns the signal's posterior mean and sd, its ``level`` quantile, and the sampler's
    diagnostics (R-hat and bulk ESS of the signal, divergences).
    """
    import arviz as az
    from numpyro.infer import MCMC, NUTS, init_to_value

    _, k, _ = published_bins(edges)
    (c_on, c_off), e = rebin(np.stack([on, off]), edges, *PUBLISHED_FIT["range_eV"], k)
    fit_off = _fit_off(c_off, e)
    fit_on = _fit_off(c_on, e)
    start = {**fit_on, "bkg": fit_off["bkg"], "n_x": 50.0}  # inside every prior's support
    kernel = NUTS(_model, init_strategy=init_to_value(values=start), target_accept_prob=0.9)
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.PRNGKey(seed),
        jnp.asarray(e),
        jnp.asarray(c_on),
        float(fit_off["bkg"]),
        {k: float(v) for k, v in fit_on.items()},
        extra_fields=("diverging",),
    )
    idata = az.from_numpyro(mcmc)
    x = np.asarray(idata.posterior["n_x"]).ravel()
    summ = az.summary(idata, var_names=["n_x"], kind="diagnostics")
    return {
        "N_X": float(x.mean()),
        "sigma_N_X": float(x.std()),
        "limit": float(np.quantile(x, level)),
        "limit_rule": f"{100 * level:g} % credible upper limit (NUTS, uniform 0-700)",
        "background_off_counts": float(fit_off["bkg"]),
        "r_hat": float(summ["r_hat"].iloc[0]),
        "ess_bulk": float(summ["ess_bulk"].iloc[0]),
        "divergences": int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum()),
        "draws": int(x.size),
    }
