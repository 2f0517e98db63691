"""The project's sampler beside its peers, on one log density (issue 13); prints JSON.

All samplers target the same posterior: the measured run's hierarchical model
(``runs/vip2-2016-17``, flat prior on beta^2/2), on the unconstrained space that
``bayes_vip.bayes.sampling.Posterior`` defines. One after the other, in one process:

- ``bayes_vip``: ``sample_posterior`` with the configuration's defaults (Laplace, whitened
  NUTS, extended until the gates pass); its time includes its Laplace step;
- ``blackjax``: BlackJAX NUTS with Stan's window adaptation (dense mass matrix), chains in
  parallel over JAX host devices;
- ``nutpie``: nutpie's NUTS with its low-rank-modified mass adaptation, on the JAX log
  density and gradient through ``nutpie.compiled_pyfunc.from_pyfunc``;
- ``emcee``: the affine-invariant ensemble (2 walkers per dimension, vectorised log
  density; no gradients). Its walkers are not independent chains, so its R-hat and ESS
  (walkers taken as chains, after discarding the first half) only indicate.

The peers start from the Laplace mode (its time not counted in theirs) with the Laplace
covariance for a jitter. For each it prints the wall time, the gradients (log-density
evaluations for emcee), the bulk and tail ESS of beta^2/2, the worst R-hat over every
sampled and derived site, the divergences, the 95 % and 99.7 % quantiles of beta^2/2 with
their Monte Carlo standard errors, and the ESS per second. ``agreement`` compares the
quantiles of the samplers that pass the gates with the project's, in units of their
combined MCSE.

    python benchmarks/bench_peers.py [--run runs/vip2-2016-17] [--only bayes_vip,blackjax]
        [--chains 4] [--warmup 1000] [--draws 1000] [--emcee-steps 3000] [--seed 0]

Needs the ``peers`` extra (``pip install -e ".[peers]"``). A missing peer is reported as
skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(REPO / "runs" / "vip2-2016-17"))
    ap.add_argument("--only", default="bayes_vip,blackjax,nutpie,emcee")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1000, help="peers' warm-up per chain")
    ap.add_argument("--draws", type=int, default=1000, help="peers' draws per chain")
    ap.add_argument("--emcee-steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


ARGS = _args()
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={ARGS.chains}")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bayes_vip.io.provenance import record  # noqa: E402


def _posterior(run: Path):
    from bayes_vip.bayes.data import default_upper
    from bayes_vip.bayes.sampling import Posterior
    from bayes_vip.io.config import load_config
    from bayes_vip.pipeline.sample import bayes_data

    cfg = load_config(run)
    data, classic = bayes_data(run, cfg)
    upper = default_upper(data, classic, "flat-beta")
    return cfg, data, upper, Posterior(data, "flat-beta", upper)


def _summary(post, flat, wall: float, gradients: int, divergences: int) -> dict:
    """Diagnostics of (chains, draws, n) unconstrained draws, or of an InferenceData."""
    import arviz as az

    if isinstance(flat, np.ndarray):
        chains, draws, n = flat.shape
        vals = post.constrained(flat.reshape(-1, n))
        idata = az.from_dict(
            posterior={k: v.reshape(chains, draws, *v.shape[1:]) for k, v in vals.items()}
        )
    else:
        idata = flat
        chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    rhat = az.rhat(idata)
    worst = max(((float(np.nanmax(rhat[k].values)), k) for k in rhat.data_vars), default=(0, ""))
    b = idata.posterior["beta2half_1e29"]
    v = ["beta2half_1e29"]

    def stat(fn, **kw) -> float:
        return float(fn(idata, var_names=v, **kw)["beta2half_1e29"].values)

    ess_bulk = stat(az.ess, method="bulk")
    q = {}
    for p in (0.95, 0.997):
        q[str(p)] = {
            "value": float(np.quantile(b.values, p)),
            "mcse": stat(az.mcse, method="quantile", prob=p),
        }
    return {
        "wall_s": round(wall, 1),
        "chains": chains,
        "draws_per_chain": draws,
        "gradients": int(gradients),
        "gradients_per_effective_draw": round(gradients / ess_bulk, 1),
        "ess_bulk_beta2half": round(ess_bulk),
        "ess_tail_beta2half": round(stat(az.ess, method="tail")),
        "ess_per_s_beta2half": round(ess_bulk / wall, 2),
        "r_hat_max": round(worst[0], 4),
        "r_hat_max_site": worst[1],
        "divergences": int(divergences),
        "quantiles_beta2half_1e29": q,
    }


def _jitter(lap: dict, chains: int, rng: np.random.Generator) -> np.ndarray:
    u = rng.standard_normal((chains, len(lap["flat_map"])))
    return lap["flat_map"] + u @ np.asarray(lap["sqrt_cov"]).T


def run_bayes_vip(cfg, data, upper, post, seed: int) -> dict:
    from bayes_vip.bayes.sampling import sample_posterior

    s = cfg.sample
    t = time.perf_counter()
    res = sample_posterior(
        data,
        prior="flat-beta",
        upper=upper,
        chains=ARGS.chains,
        warmup=s.warmup,
        samples=s.samples,
        max_draws=s.draw_bound,
        key=jax.random.PRNGKey(seed),
        rng=np.random.default_rng(seed),
        post=post,
    )
    wall = time.perf_counter() - t
    div = res.limits["diagnostics"]["divergences"]
    out = _summary(post, res.idata, wall, res.info["gradients"], div)
    out["settings"] = (
        f"{ARGS.chains} chains, {s.warmup} warm-up, {s.samples} draws (up to "
        f"{res.info['max_draws']} to pass the gates)"
    )
    out["gates_passed"] = res.limits["gates"]["passed"]
    out["seconds"] = {k: round(v, 1) for k, v in res.info["seconds"].items()}
    return out


def run_blackjax(post, lap: dict, seed: int) -> dict:
    import blackjax

    counts = post.inputs()

    def logdensity(z):
        return -post._flat_pot(z, counts)

    warm = blackjax.window_adaptation(
        blackjax.nuts, logdensity, is_mass_matrix_diagonal=False, target_acceptance_rate=0.8
    )

    def one_chain(key, z0):
        k1, k2 = jax.random.split(key)
        (state, params), info = warm.run(k1, z0, num_steps=ARGS.warmup)
        step = blackjax.nuts(logdensity, **params).step

        def body(st, k):
            st, inf = step(k, st)
            return st, (st.position, inf.num_integration_steps, inf.is_divergent)

        _, (z, nsteps, div) = jax.lax.scan(body, state, jax.random.split(k2, ARGS.draws))
        return z, nsteps, div, jnp.sum(info.info.num_integration_steps)

    rng = np.random.default_rng(seed)
    z0 = jnp.asarray(_jitter(lap, ARGS.chains, rng))
    keys = jax.random.split(jax.random.PRNGKey(seed), ARGS.chains)
    if jax.local_device_count() >= ARGS.chains:
        run = jax.pmap(one_chain)
        t = time.perf_counter()
        z, nsteps, div, warm_steps = (np.asarray(x) for x in run(keys, z0))
    else:
        run = jax.jit(one_chain)
        t = time.perf_counter()
        outs = [[np.asarray(x) for x in run(keys[i], z0[i])] for i in range(ARGS.chains)]
        z, nsteps, div, warm_steps = (np.stack(x) for x in zip(*outs, strict=True))
    wall = time.perf_counter() - t
    out = _summary(post, z, wall, int(nsteps.sum() + warm_steps.sum()), int(div.sum()))
    out["settings"] = (
        f"{ARGS.chains} chains, {ARGS.warmup} warm-up (window adaptation, dense mass), "
        f"{ARGS.draws} draws, target acceptance 0.8; time includes compilation"
    )
    return out


def run_nutpie(post, lap: dict, seed: int) -> dict:
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    counts = post.inputs()
    n = len(lap["flat_map"])
    vg = jax.jit(jax.value_and_grad(lambda z: -post._flat_pot(z, counts)))

    def make_logp():
        def logp(x, **_):
            v, g = vg(jnp.asarray(x))
            return float(v), np.asarray(g, dtype="float64", order="C")

        return logp

    def make_expand(_seed1, _seed2, _chain):
        return lambda x, **_: {"z": np.asarray(x, dtype="float64").copy()}

    rng = np.random.default_rng(seed)
    model = from_pyfunc(
        ndim=n,
        make_logp_fn=make_logp,
        make_expand_fn=make_expand,
        expanded_dtypes=[np.dtype("float64")],
        expanded_shapes=[(n,)],
        expanded_names=["z"],
        make_initial_point_fn=lambda _s: _jitter(lap, 1, rng)[0],
    )
    t = time.perf_counter()
    trace = nutpie.sample(
        model,
        draws=ARGS.draws,
        tune=ARGS.warmup,
        chains=ARGS.chains,
        cores=min(ARGS.chains, os.cpu_count() or 1),
        seed=seed,
        progress_bar=False,
        low_rank_modified_mass_matrix=True,
    )
    wall = time.perf_counter() - t
    z = np.asarray(trace.posterior["z"].values)
    st = trace.sample_stats
    grads = int(st["n_steps"].sum())
    if "warmup_sample_stats" in trace.groups():
        grads += int(trace.warmup_sample_stats["n_steps"].sum())
    out = _summary(post, z, wall, grads, int(st["diverging"].sum()))
    out["settings"] = (
        f"{ARGS.chains} chains, {ARGS.warmup} tuning, {ARGS.draws} draws, low-rank-modified "
        "mass matrix; time includes compilation"
    )
    return out


def run_emcee(post, lap: dict, seed: int) -> dict:
    import emcee

    counts = post.inputs()
    n = len(lap["flat_map"])
    walkers = 2 * n + 2
    logp = jax.jit(jax.vmap(lambda z: -post._flat_pot(z, counts)))

    def log_prob(zs):
        v = np.asarray(logp(jnp.asarray(zs)))
        return np.where(np.isfinite(v), v, -np.inf)

    rng = np.random.default_rng(seed)
    p0 = _jitter(lap, walkers, rng)
    sampler = emcee.EnsembleSampler(walkers, n, log_prob, vectorize=True)
    # emcee draws from its own RandomState; seed it through its documented state setter
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
    t = time.perf_counter()
    sampler.run_mcmc(p0, ARGS.emcee_steps, progress=False)
    wall = time.perf_counter() - t
    chain = sampler.get_chain()  # (steps, walkers, n)
    kept = np.swapaxes(chain[ARGS.emcee_steps // 2 :], 0, 1)
    out = _summary(post, kept, wall, walkers * ARGS.emcee_steps, 0)
    # the ensemble's ESS from emcee's integrated autocorrelation time of beta^2/2 (the
    # walkers-as-chains ESS above counts correlated walkers as independent)
    w, s, n_par = kept.shape
    b = np.asarray(post.constrained(kept.reshape(-1, n_par), counts)["beta2half_1e29"])
    tau = float(emcee.autocorr.integrated_time(b.reshape(w, s).T[:, :, None], quiet=True)[0])
    out["integrated_autocorr_time_steps"] = round(tau, 1)
    out["ess_bulk_beta2half"] = round(w * s / tau)
    out["ess_per_s_beta2half"] = round(w * s / tau / wall, 2)
    out["gradients"] = 0
    out["log_density_evaluations"] = walkers * ARGS.emcee_steps
    out["gradients_per_effective_draw"] = None
    out["acceptance"] = round(float(np.mean(sampler.acceptance_fraction)), 3)
    out["settings"] = (
        f"{walkers} walkers x {ARGS.emcee_steps} steps, first half discarded; walkers taken as "
        "chains for R-hat and ESS (indicative only)"
    )
    return out


def _agreement(results: dict) -> dict:
    ref = results.get("bayes_vip")
    if not ref or "quantiles_beta2half_1e29" not in ref:
        return {}
    out = {}
    for name, r in results.items():
        if name == "bayes_vip" or "quantiles_beta2half_1e29" not in r:
            continue
        converged = r["r_hat_max"] <= 1.01 and r["ess_tail_beta2half"] >= 400
        pulls = {}
        for p, q in r["quantiles_beta2half_1e29"].items():
            a = ref["quantiles_beta2half_1e29"][p]
            pulls[p] = round((q["value"] - a["value"]) / np.hypot(q["mcse"], a["mcse"]), 2)
        out[name] = {"converged": converged, "pull_vs_bayes_vip_in_mcse": pulls}
    return out


def main() -> int:
    only = ARGS.only.split(",")
    cfg, data, upper, post = _posterior(Path(ARGS.run))
    t = time.perf_counter()
    lap = post.laplace()
    out: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, CPU only",
        "posterior": {
            "run": Path(ARGS.run).name,
            "parameters": len(lap["flat_map"]),
            "cells": data.n_cell,
            "prior": "flat-beta",
            "laplace_s": round(time.perf_counter() - t, 1),
        },
        "samplers": {},
    }
    runners = {
        "bayes_vip": lambda: run_bayes_vip(cfg, data, upper, post, ARGS.seed),
        "blackjax": lambda: run_blackjax(post, lap, ARGS.seed),
        "nutpie": lambda: run_nutpie(post, lap, ARGS.seed),
        "emcee": lambda: run_emcee(post, lap, ARGS.seed),
    }
    for name in only:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            res = runners[name]()
        except ImportError as exc:
            res = {"skipped": f"not installed ({exc.name}); pip install -e '.[peers]'"}
        out["samplers"][name] = res
        print(json.dumps({name: res}), file=sys.stderr, flush=True)
    out["agreement"] = _agreement(out["samplers"])
    print(json.dumps(record(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
