"""NUTS on the hierarchical model, and what ArviZ makes of the chains.

- ``Posterior``: the model of one data layout with the observed counts as an argument.
  ``laplace`` finds the posterior mode (L-BFGS from the classic solution) and the inverse
  Hessian there; ``starts`` draws one feasible start per chain from that approximation;
  ``nuts`` builds dense-mass NUTS whose mass matrix starts at the inverse Hessian.
- ``sample_posterior``: all of that for a run's own counts. Chains run in parallel when JAX
  has at least as many devices as chains, else one after the other.
- ``to_inference_data``: posterior, sample_stats, observed_data and a thinned
  posterior_predictive.
- ``limits``: one-sided credible upper limits (posterior quantiles) with their Monte Carlo
  standard errors, diagnostics, gates and the Savage-Dickey Bayes factor.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayes_vip.analysis.conventions import CLS
from bayes_vip.bayes.data import init_values
from bayes_vip.bayes.model import BETA_UNIT, BayesData, vip_model
from bayes_vip.errors import AnalysisError

__all__ = [
    "GATES",
    "Posterior",
    "cell_sharding",
    "chain_method",
    "laplace",
    "limits",
    "run_nuts",
    "sample_posterior",
    "savage_dickey",
    "to_inference_data",
]

#: Sampler gates (DESIGN.md, "Quality gates").
GATES = {"r_hat_max": 1.01, "ess_bulk_min": 400.0, "ess_tail_min": 400.0, "divergences_max": 0}


def chain_method(chains: int) -> str:
    """``"parallel"`` when JAX has a device per chain, else ``"sequential"``."""
    return "parallel" if jax.local_device_count() >= chains > 1 else "sequential"


def cell_sharding(n_cell: int, chains: int, devices: list | None = None) -> Any:
    """A sharding of the cell axis over the devices, when there are more devices than chains.

    The chains then run one after the other, each gradient spread over every device. None
    when there are not more devices than chains (the chains take a device each), or when
    the cells do not divide evenly over them.
    """
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devs = list(jax.local_devices() if devices is None else devices)
    if len(devs) <= chains or len(devs) < 2 or n_cell % len(devs):
        return None
    return NamedSharding(Mesh(np.array(devs), ("cells",)), PartitionSpec("cells"))


def _classic_start(data, prior, upper, key):
    """The classic starting point on the unconstrained space.

    Raises named errors where the log density or its gradient is not finite there.
    """
    from numpyro.infer import init_to_value
    from numpyro.infer.util import initialize_model

    vals = init_values(data, prior)
    for name in ("beta2half_1e29", "N_X"):
        if name in vals and not 0.0 <= vals[name] < upper:
            msg = (
                f"the signal prior's upper bound {upper:g} excludes the classic estimate "
                f"({name} = {vals[name]:.3g}); raise it (sample.prior_upper)"
            )
            raise AnalysisError(msg)
    bad = [k for k, v in vals.items() if not np.all(np.isfinite(v))]
    if bad:
        msg = (
            f"the model's log density is not finite at the classic starting point "
            f"(non-finite start for {bad}; check classic.json)"
        )
        raise AnalysisError(msg)
    try:
        info = initialize_model(
            key,
            vip_model,
            model_args=(data, prior, upper),
            init_strategy=init_to_value(values={k: jnp.asarray(v) for k, v in vals.items()}),
            validate_grad=False,
        )
    except (ValueError, RuntimeError) as exc:
        msg = f"the model's log density is not finite at the classic starting point ({exc})"
        raise AnalysisError(msg) from None
    z0 = info.param_info.z
    pot = info.potential_fn
    val, grad = jax.value_and_grad(pot)(z0)
    if not np.isfinite(float(val)):
        msg = (
            "the model's log density is not finite at the classic starting point "
            "(NaN in the expected counts)"
        )
        raise AnalysisError(msg)
    bad = [k for k, g in grad.items() if not np.all(np.isfinite(np.asarray(g)))]
    if bad:
        msg = f"NaN in the model's gradient at the starting point, sites {bad}"
        raise AnalysisError(msg)
    return z0


class Posterior:
    """The posterior of one data layout, compiled once.

    ``laplace``, ``compiled_nuts`` and ``laplace_idata`` take the observed counts as an
    argument, so simulated toys of the same layout (cells, bins, exposure) reuse the compiled
    log density, gradient, constraining map and NUTS loop instead of compiling for every toy.
    (``nuts`` returns a numpyro ``MCMC``, whose ``run`` re-traces its set-up each time.)
    """

    def __init__(
        self, data: BayesData, prior: str, upper: float, *, key: jax.Array, cells: Any = None
    ):
        from jax.flatten_util import ravel_pytree
        from numpyro.infer.util import constrain_fn, potential_energy

        self.data, self.prior, self.upper, self.cells = data, prior, upper, cells
        z0 = _classic_start(data, prior, upper, key)
        self.flat0, self.unravel = ravel_pytree(z0)
        self.sites = tuple(sorted(z0))
        self.model = functools.partial(vip_model, data, prior, upper, cells=cells)

        def flat_pot(flat, counts):
            return potential_energy(self.model, (), {"counts": counts}, self.unravel(flat))

        def constrain(flat, counts):  # (draws, n) unconstrained -> constrained sites
            return jax.vmap(
                lambda f: constrain_fn(
                    self.model, (), {"counts": counts}, self.unravel(f), return_deterministic=True
                )
            )(flat)

        self._flat_pot = flat_pot
        self._pot = jax.jit(flat_pot)
        self._vg = jax.jit(jax.value_and_grad(flat_pot))
        self._constrain = jax.jit(constrain)

    def _counts(self, counts):
        return jnp.asarray(self.data.counts if counts is None else counts)

    def laplace(self, counts=None, *, start=None, max_iter: int = 5000) -> dict:
        """Posterior mode and the inverse Hessian there: the Laplace approximation.

        The mode is found by L-BFGS on the unconstrained space, from the classic start or
        ``start``. The approximation sets NUTS's initial dense mass matrix and the chains'
        starting points.

        Returns ``flat_map`` (unconstrained, in the order of ``jax.flatten_util.ravel_pytree``),
        ``cov`` (inverse Hessian, same order), the optimiser's ``message``/``iterations``,
        the potential at the mode and timings.
        """
        import scipy.optimize as so

        c = self._counts(counts)

        def fun(f):
            v, g = self._vg(jnp.asarray(f), c)
            return float(v), np.asarray(g, dtype=float)

        x0 = np.asarray(self.flat0 if start is None else start, dtype=float)
        t0 = time.perf_counter()
        f0 = fun(x0)[0]
        res = so.minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
        found = np.isfinite(res.fun) and res.fun <= f0
        x, f_map = (res.x, float(res.fun)) if found else (x0, f0)
        t_opt = time.perf_counter() - t0
        # Hessian by central differences of the compiled gradient: 2n gradient calls, no
        # second compilation (jax.hessian's took longer than the whole optimisation)
        n = len(x)
        h = 1e-5 * np.maximum(1.0, np.abs(x))
        hess = np.empty((n, n))
        for i in range(n):
            e = np.zeros(n)
            e[i] = h[i]
            hess[:, i] = (fun(x + e)[1] - fun(x - e)[1]) / (2.0 * h[i])
        if not np.all(np.isfinite(hess)):
            msg = "NaN in the model's Hessian at the posterior mode"
            raise AnalysisError(msg)
        hess = 0.5 * (hess + hess.T)
        w, v = np.linalg.eigh(hess)
        # directions the data do not curve (or curve the wrong way at a bound): unit scale
        w = np.where(w > 1e-8 * max(w.max(), 1.0), w, 1.0)
        return {
            "flat_map": x,
            "cov": (v / w) @ v.T,
            "message": str(res.message),
            "iterations": int(res.nit),
            "potential_at_map": f_map,
            "seconds": {"mode": t_opt, "total": time.perf_counter() - t0},
        }

    @staticmethod
    def _laplace_draws(
        lap: dict, draws: int, *, rng: np.random.Generator, spread: float = 1.0
    ) -> np.ndarray:
        """(draws, n) unconstrained draws from the Laplace approximation, sd x ``spread``."""
        n = len(lap["flat_map"])
        chol = np.linalg.cholesky(lap["cov"] + 1e-12 * np.eye(n))
        z = rng.standard_normal((draws, n))
        return lap["flat_map"] + spread * z @ chol.T

    def flat_starts(
        self,
        lap: dict,
        chains: int,
        *,
        rng: np.random.Generator,
        spread: float = 1.0,
        counts=None,
    ):
        """One unconstrained start per chain, shape (chains, n).

        Each is a draw from the Laplace approximation (scaled by ``spread``), kept only where
        the log density is finite, else the mode.
        """
        c = self._counts(counts)
        out = self._laplace_draws(lap, chains, rng=rng, spread=spread)
        for i, f in enumerate(out):
            if not np.isfinite(float(self._pot(jnp.asarray(f), c))):
                out[i] = lap["flat_map"]
        return out

    def starts(
        self,
        lap: dict,
        chains: int,
        *,
        rng: np.random.Generator,
        spread: float = 1.0,
        counts=None,
    ):
        """``flat_starts`` as site dictionaries (stacked over chains when ``chains > 1``)."""
        out = [
            self.unravel(jnp.asarray(f))
            for f in self.flat_starts(lap, chains, rng=rng, spread=spread, counts=counts)
        ]
        if chains == 1:
            return out[0]
        return {k: jnp.stack([s[k] for s in out]) for k in out[0]}

    def laplace_idata(self, lap: dict, draws: int = 400, *, rng: np.random.Generator, counts=None):
        """Constrained draws from the Laplace approximation as an InferenceData with one chain.

        Deterministic sites are included. A quick look at the posterior, not a substitute for
        NUTS.
        """
        import arviz as az

        z = self._laplace_draws(lap, draws, rng=rng)
        vals = self._constrain(jnp.asarray(z), self._counts(counts))
        return az.from_dict(posterior={k: np.asarray(v)[None] for k, v in vals.items()})

    def nuts(
        self,
        inverse_mass_matrix: np.ndarray,
        *,
        chains: int = 4,
        warmup: int = 300,
        samples: int = 500,
        target_accept: float = 0.9,
        method: str | None = None,
        progress_bar: bool = True,
    ):
        """A numpyro MCMC: dense-mass NUTS, mass adapted from ``inverse_mass_matrix``.

        Its ``run(key, counts=..., init_params=...)`` compiles once for this layout.
        """
        from numpyro.infer import MCMC, NUTS, init_to_value

        kernel = NUTS(
            self.model,
            target_accept_prob=target_accept,
            max_tree_depth=8,
            dense_mass=True,
            inverse_mass_matrix={self.sites: jnp.asarray(inverse_mass_matrix)},
            adapt_mass_matrix=True,
            # only sets up the site transforms: the chains start from ``init_params``
            init_strategy=init_to_value(
                values={k: jnp.asarray(v) for k, v in init_values(self.data, self.prior).items()}
            ),
        )
        mcmc = MCMC(
            kernel,
            num_warmup=warmup,
            num_samples=samples,
            num_chains=chains,
            chain_method=method or chain_method(chains),
            progress_bar=progress_bar,
            jit_model_args=True,
        )
        return mcmc

    def compiled_nuts(
        self,
        *,
        chains: int = 2,
        warmup: int = 200,
        samples: int = 300,
        target_accept: float = 0.9,
        max_tree_depth: int = 8,
    ):
        """Dense-mass NUTS for this layout, compiled once for any counts.

        Warm-up and sampling of a chain are one ``jax.lax.scan`` over numpyro's functional NUTS
        kernel (``numpyro.infer.hmc.hmc``), with the counts, the starting point and the initial
        inverse mass matrix as traced arguments.

        ``numpyro.infer.MCMC`` re-traces its set-up for every ``run``; for toys of one layout
        this costs tens of seconds each, which this avoids. Returns
        ``run(lap, counts, *, key, rng)`` giving an ArviZ InferenceData (posterior in the
        constrained space, deterministic sites included; sample_stats with ``diverging``,
        ``n_steps``, ``lp``).
        """
        from numpyro.infer.hmc import hmc

        flat_pot = self._flat_pot
        init_kernel, sample_kernel = hmc(
            potential_fn_gen=lambda counts: lambda z: flat_pot(z, counts), algo="NUTS"
        )

        def one_chain(key, counts, z0, inv_mass):
            kw = {"counts": counts}
            state = init_kernel(
                z0,
                warmup,
                inverse_mass_matrix=inv_mass,
                dense_mass=True,
                target_accept_prob=target_accept,
                max_tree_depth=max_tree_depth,
                model_kwargs=kw,
                rng_key=key,
            )

            def step(st, _):
                st = sample_kernel(st, model_kwargs=kw)
                return st, (st.z, st.diverging, st.num_steps, st.potential_energy)

            state, _ = jax.lax.scan(step, state, None, length=warmup)
            _, draws = jax.lax.scan(step, state, None, length=samples)
            return draws

        if chain_method(chains) == "parallel":
            chain_fn = jax.pmap(one_chain, in_axes=(0, None, 0, None))

            def all_chains(keys, counts, z0s, inv_mass):
                return chain_fn(keys, counts, z0s, inv_mass)
        else:
            chain_jit = jax.jit(one_chain)

            def all_chains(keys, counts, z0s, inv_mass):
                outs = [chain_jit(keys[i], counts, z0s[i], inv_mass) for i in range(chains)]
                return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *outs)

        def run(lap: dict, counts=None, *, key: jax.Array, rng: np.random.Generator):
            import arviz as az

            c = self._counts(counts)
            z0s = jnp.asarray(self.flat_starts(lap, chains, rng=rng, counts=c))
            keys = jax.random.split(key, chains)
            z, div, steps, pe = all_chains(keys, c, z0s, jnp.asarray(lap["cov"]))
            n = z.shape[-1]
            vals = self._constrain(z.reshape(-1, n), c)
            nonfinite = [k for k, v in vals.items() if not np.all(np.isfinite(np.asarray(v)))]
            if nonfinite:
                msg = f"NaN produced in the model while sampling, at {nonfinite}"
                raise AnalysisError(msg)
            posterior = {
                k: np.asarray(v).reshape(chains, samples, *v.shape[1:]) for k, v in vals.items()
            }
            return az.from_dict(
                posterior=posterior,
                sample_stats={
                    "diverging": np.asarray(div),
                    "n_steps": np.asarray(steps),
                    "lp": -np.asarray(pe),
                },
            )

        return run


def run_nuts(
    mcmc, post: Posterior, lap: dict, *, key: jax.Array, rng: np.random.Generator, counts=None
):
    """Run ``mcmc`` from Laplace starts (drawn with ``rng``) on ``counts``.

    The chains' random key is ``key``; a NaN in the samples raises a named error.
    """
    c = post._counts(counts)
    init = post.starts(lap, mcmc.num_chains, rng=rng, counts=c)
    mcmc.run(
        key,
        counts=c,
        init_params=init,
        extra_fields=("diverging", "num_steps"),
    )
    s = mcmc.get_samples()
    nonfinite = [k for k, v in s.items() if not np.all(np.isfinite(np.asarray(v)))]
    if nonfinite:
        msg = f"NaN produced in the model while sampling, at sites {nonfinite}"
        raise AnalysisError(msg)
    mcmc.laplace = {k: lap[k] for k in ("message", "iterations", "potential_at_map", "seconds")}
    return mcmc


def laplace(data: BayesData, prior: str, upper: float, *, key: jax.Array) -> dict:
    """The Laplace approximation of ``data``'s posterior (see ``Posterior.laplace``)."""
    return Posterior(data, prior, upper, key=key).laplace()


def sample_posterior(
    data: BayesData,
    *,
    prior: str = "flat-beta",
    upper: float = 50.0,
    chains: int = 4,
    warmup: int = 300,
    samples: int = 500,
    key: jax.Array,
    rng: np.random.Generator,
    progress_bar: bool = True,
    method: str | None = None,
    target_accept: float = 0.9,
):
    """Run NUTS; returns the numpyro MCMC object (with ``laplace`` added).

    ``key`` drives the chains, ``rng`` draws their starting points.

    The Laplace approximation gives the starting points and the initial dense inverse mass
    matrix; the warm-up then adapts step size and mass matrix as usual. Without it, NUTS spent
    its warm-up learning ~90 strongly correlated scales and hit the maximum tree depth (255
    steps per iteration); with it, 31-63 steps (docs/bayes.md).

    When JAX has more devices than chains, the cell axis is sharded over them
    (``cell_sharding``) and the chains run one after the other.
    """
    cells = cell_sharding(data.n_cell, chains)
    if cells is not None:
        method = "sequential"
    post = Posterior(data, prior, upper, key=key, cells=cells)
    lap = post.laplace()
    mcmc = post.nuts(
        lap["cov"],
        chains=chains,
        warmup=warmup,
        samples=samples,
        target_accept=target_accept,
        method=method,
        progress_bar=progress_bar,
    )
    return run_nuts(mcmc, post, lap, key=key, rng=rng)


def to_inference_data(
    mcmc, data: BayesData, prior: str, upper: float, *, key: jax.Array, thin_to: int = 100
):
    """ArviZ InferenceData with a thinned posterior predictive of the observed bins.

    The predictive draws are made with ``key``.
    """
    import arviz as az
    from numpyro.infer import Predictive

    idata = az.from_numpyro(mcmc, log_likelihood=False)
    post = mcmc.get_samples(group_by_chain=True)
    n_chain, n_draw = next(iter(post.values())).shape[:2]
    step = max(1, n_draw // thin_to)
    thin = {k: v[:, ::step] for k, v in post.items()}
    flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in thin.items()}
    pred = Predictive(vip_model, posterior_samples=flat, return_sites=["obs"])
    draws = pred(key, data, prior, upper, observe=False)["obs"]
    nd = thin[next(iter(thin))].shape[1]
    pp = np.asarray(draws).reshape(n_chain, nd, -1)
    idata.add_groups(
        posterior_predictive={"obs": pp},
        dims={"obs": ["obs_dim_0"]},
    )
    idata.posterior_predictive.attrs["thinned_every"] = step
    return idata


def savage_dickey(x: np.ndarray, prior_density_at_zero: float) -> dict:
    """Savage-Dickey Bayes factor of no signal (x = 0) against signal.

    The ratio of the posterior density at the boundary x = 0 (reflected Gaussian KDE,
    Silverman bandwidth) to the prior's.
    """
    x = np.asarray(x, dtype=float).ravel()
    refl = np.concatenate([x, -x])
    h = 1.06 * refl.std() * refl.size ** (-0.2)
    dens0 = float(2.0 * np.mean(np.exp(-0.5 * (x / h) ** 2)) / (h * math.sqrt(2 * math.pi)))
    bf01 = dens0 / prior_density_at_zero
    return {
        "posterior_density_at_0": dens0,
        "prior_density_at_0": prior_density_at_zero,
        "BF_01_no_signal_vs_signal": bf01,
        "BF_10_signal_vs_no_signal": (1.0 / bf01) if bf01 > 0 else float("inf"),
        "bandwidth": h,
        "method": "Savage-Dickey; posterior density at 0 from a reflected Gaussian KDE",
    }


def limits(idata, data: BayesData, prior: str, upper: float) -> dict:
    """Credible upper limits, diagnostics, gates and the Bayes factor."""
    import arviz as az

    post = idata.posterior
    out: dict = {"prior": prior, "prior_upper": upper, "n_int_model": data.n_int_model}
    ul = {}
    for var, scale, label in (("beta2half_1e29", BETA_UNIT, "beta2half"), ("N_X", 1.0, "N_X")):
        x = post[var].values
        ul[label] = {}
        for q in CLS:
            val = float(np.quantile(x, q)) * scale
            mcse = float(az.mcse(post[[var]], method="quantile", prob=q)[var].values) * scale
            ul[label][f"{q:.3g}"] = {"value": val, "mcse": mcse}
        ul[label]["mean"] = float(x.mean()) * scale
        ul[label]["median"] = float(np.median(x)) * scale
        ul[label]["central_90"] = [
            float(np.quantile(x, 0.05)) * scale,
            float(np.quantile(x, 0.95)) * scale,
        ]
    out["upper_limits"] = ul
    sampled = [
        v
        for v in post.data_vars
        if v != "noise"  # deterministic
        and v != ("N_X" if prior == "flat-beta" else "beta2half_1e29")
    ]
    rhat = az.rhat(post[sampled])
    ess_b = az.ess(post[sampled], method="bulk")
    ess_t = az.ess(post[sampled], method="tail")

    def extreme(ds, fn):
        vals = {k: float(fn(ds[k].values)) for k in ds.data_vars}
        k = (max if fn is np.nanmax else min)(vals, key=vals.get)
        return vals[k], k

    r_max, r_site = extreme(rhat, np.nanmax)
    eb, eb_site = extreme(ess_b, np.nanmin)
    et, et_site = extreme(ess_t, np.nanmin)
    div = int(idata.sample_stats["diverging"].values.sum())
    diag = {
        "r_hat_max": r_max,
        "r_hat_max_site": r_site,
        "ess_bulk_min": eb,
        "ess_bulk_min_site": eb_site,
        "ess_tail_min": et,
        "ess_tail_min_site": et_site,
        "divergences": div,
        "chains": int(post.sizes["chain"]),
        "draws": int(post.sizes["draw"]),
        "ess_bulk_beta2half": float(ess_b["beta2half_1e29"])
        if "beta2half_1e29" in ess_b
        else float(az.ess(post[["beta2half_1e29"]], method="bulk")["beta2half_1e29"].values),
    }
    failed = []
    if not r_max <= GATES["r_hat_max"]:
        failed.append(f"R-hat {r_max:.4f} > {GATES['r_hat_max']} ({r_site})")
    if not eb >= GATES["ess_bulk_min"]:
        failed.append(f"bulk ESS {eb:.0f} < {GATES['ess_bulk_min']:.0f} ({eb_site})")
    if not et >= GATES["ess_tail_min"]:
        failed.append(f"tail ESS {et:.0f} < {GATES['ess_tail_min']:.0f} ({et_site})")
    if div > GATES["divergences_max"]:
        failed.append(f"{div} divergent transitions")
    out["diagnostics"] = diag
    out["gates"] = {"thresholds": GATES, "passed": not failed, "failed": failed}
    var = "beta2half_1e29" if prior == "flat-beta" else "N_X"
    out["bayes_factor"] = savage_dickey(post[var].values, 1.0 / upper)
    out["bayes_factor"]["variable"] = var
    return out
