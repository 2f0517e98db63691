"""Toy studies. Today: the frequentist coverage of the Bayesian limits.

A signal-free reference toy of a preset (energy level, perfectly calibrated) gets the classic
fit: its sigma(N_X) sets the injected signals (0, 1, 2, 3 sigma) and its classic solution
centres the data-driven priors and starts the optimiser, for every toy alike. The model of
that layout is compiled once (``sampling.Posterior`` and the sampler of ``bayes.nuts`` take
the counts, the mode and the whitening as arguments); each toy then costs a Laplace step and
one NUTS run on its own counts. For each injected value we record whether the 95 % upper
limit on N_X lies above the injected expectation and whether the central 90 % interval
contains it, and the sampler diagnostics of every toy.

``docs/scripts/coverage_study.py`` runs the full study; a test runs a quick version. Every
toy's random numbers come from its own seed: ``numpy.random.default_rng(seed)`` for the
simulation and the chains' starts, ``jax.random.PRNGKey(seed)`` for the chains.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bayes_vip.io.campaign import build_campaign
from bayes_vip.io.config import default_config
from bayes_vip.io.manifest import load_manifest
from bayes_vip.pipeline.fit import fit
from bayes_vip.simulate.presets import preset

__all__ = ["coverage_study"]


def _toy_counts(
    sim,
    run: Path,
    ref_edges: np.ndarray,
    ref_live: np.ndarray,
    bin_eV: float,
    *,
    rng: np.random.Generator,
) -> np.ndarray:
    """The toy's counts in the reference layout (same cells, bins and live times)."""
    from bayes_vip.bayes.data import energy_cells
    from bayes_vip.simulate.simulator import write_energy_campaign

    write_energy_campaign(sim, run, rng=rng)
    edges, counts, _, live, *_ = energy_cells(build_campaign(load_manifest(run)), bin_eV)
    if edges.shape != ref_edges.shape or not np.allclose(live, ref_live):
        msg = "a toy's layout differs from the reference toy's"
        raise RuntimeError(msg)
    return counts


def coverage_study(
    preset_name: str = "demo",
    *,
    multiples=(0, 1, 2, 3),
    toys: int = 20,
    seed0: int = 1000,
    chains: int = 2,
    warmup: int = 200,
    samples: int = 800,
    prior: str = "flat-beta",
    progress: Callable[[str], None] | None = print,
) -> dict:
    """The study; returns per-level coverage, the expected sensitivity and all toys."""
    import jax

    from bayes_vip.bayes.data import build_data, default_upper
    from bayes_vip.bayes.sampling import Posterior, chain_method, sample_posterior
    from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign

    pre = preset(preset_name)
    cfg = default_config()
    bin_eV = cfg.sample.bin_eV
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ref_run = Path(tmp) / "ref"
        ref_seed = seed0 - 1
        write_energy_campaign(
            simulate_campaign(pre, rng=np.random.default_rng(ref_seed)),
            ref_run,
            rng=np.random.default_rng(ref_seed),
        )
        classic = fit(ref_run, cfg, figures=False)
        man = load_manifest(ref_run)
        ref = build_data(man, build_campaign(man), classic, signal=cfg.signal_line(), bin_eV=bin_eV)
        sigma = float(classic["sigma_N_X"])
        upper = default_upper(ref, classic, prior)
        post = Posterior(ref, prior, upper)
        lap_ref = post.laplace()
        out = {
            "preset": preset_name,
            "prior": prior,
            "prior_upper": upper,
            "sigma_classic": sigma,
            "toys_per_level": toys,
            "chains": chains,
            "warmup": warmup,
            "samples": samples,
            "chain_method": chain_method(chains),
            "levels": [],
        }
        for k in multiples:
            truth = k * sigma
            rows = []
            for i in range(toys):
                seed = seed0 + 1000 * (k + 1) + i
                sim = simulate_campaign(pre, rng=np.random.default_rng(seed), signal_counts=truth)
                counts = _toy_counts(
                    sim,
                    Path(tmp) / "toy",
                    ref.edges,
                    ref.live_s,
                    bin_eV,
                    rng=np.random.default_rng(seed),
                )
                lap = post.laplace(counts, start=lap_ref["flat_map"])
                t_toy = time.perf_counter()
                res = sample_posterior(
                    ref,
                    prior=prior,
                    upper=upper,
                    chains=chains,
                    warmup=warmup,
                    samples=samples,
                    key=jax.random.PRNGKey(seed),
                    rng=np.random.default_rng(seed),
                    counts=counts,
                    post=post,
                    lap=lap,
                    predictive_draws=0,
                )
                t_toy = time.perf_counter() - t_toy
                idata, lim = res.idata, res.limits
                n = idata.posterior["N_X"].values.ravel()
                q05, q95 = np.quantile(n, [0.05, 0.95])
                rows.append(
                    {
                        "seed": seed,
                        "realised": int(sim.truth["signal_counts_realised"]),
                        "ul95": float(q95),
                        "central90": [float(q05), float(q95)],
                        "gates_passed": bool(lim["gates"]["passed"]),
                        "r_hat_max": lim["diagnostics"]["r_hat_max"],
                        "ess_bulk_min": lim["diagnostics"]["ess_bulk_min"],
                        "ess_tail_min": lim["diagnostics"]["ess_tail_min"],
                        "divergences": lim["diagnostics"]["divergences"],
                        "nuts_seconds": t_toy,
                        "mean_leapfrog_steps": float(idata.sample_stats["n_steps"].mean()),
                    }
                )
                if progress:
                    progress(
                        f"{k} sigma, toy {i + 1}/{toys}: 95 % UL {q95:.1f} (truth {truth:.1f}), "
                        f"{time.perf_counter() - t0:.0f} s"
                    )
            ul = np.array([r["ul95"] for r in rows])
            inside = np.array([r["central90"][0] <= truth <= r["central90"][1] for r in rows])
            out["levels"].append(
                {
                    "multiple": k,
                    "injected_counts": truth,
                    "ul95_above_truth": float(np.mean(ul >= truth)),
                    "central90_contains_truth": float(np.mean(inside)),
                    "median_ul95": float(np.median(ul)),
                    "gates_passed": float(np.mean([r["gates_passed"] for r in rows])),
                    "toys": rows,
                }
            )
    zero = [lv for lv in out["levels"] if lv["multiple"] == 0]
    if zero:
        out["expected_sensitivity_ul95_counts"] = zero[0]["median_ul95"]
    out["seconds"] = time.perf_counter() - t0
    return out
