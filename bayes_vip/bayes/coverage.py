"""Frequentist coverage of the Bayesian limits, by toys.

For each injected signal k x sigma(N_X) (sigma from the classic fit of a signal-free toy),
simulate energy-level toys of a preset, run the classic fit (for the starting point) and
NUTS, and record whether the 95 % upper limit on N_X lies above the injected expectation and
whether the central 90 % interval contains it. ``docs/scripts/coverage_study.py`` runs the
full study; a test runs a quick version.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["run_toy", "coverage_study"]


def run_toy(
    preset_name: str,
    seed: int,
    signal_counts: float,
    *,
    chains=2,
    warmup=300,
    samples=500,
    prior="flat-beta",
) -> dict:
    """One toy: simulate, classic fit, NUTS; the quantiles of N_X and the diagnostics."""
    from bayes_vip.bayes.data import build_data
    from bayes_vip.bayes.sampling import limits, sample_posterior, to_inference_data
    from bayes_vip.io.campaign import build_campaign
    from bayes_vip.io.manifest import load_manifest
    from bayes_vip.physics.lines import pep_signal
    from bayes_vip.results.bayes_report import default_upper
    from bayes_vip.results.classic_report import run_fit
    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "toy"
        sim = simulate_campaign(preset(preset_name), seed=seed, signal_counts=signal_counts)
        write_energy_campaign(sim, run)
        classic = run_fit(run, figures=False)
        man = load_manifest(run)
        data = build_data(man, build_campaign(man), classic, signal=pep_signal("ka1"))
        upper = default_upper(data, classic, prior)
        m = sample_posterior(
            data,
            prior=prior,
            upper=upper,
            chains=chains,
            warmup=warmup,
            samples=samples,
            seed=seed,
            progress_bar=False,
        )
        idata = to_inference_data(m, data, prior, upper, thin_to=5)
        lim = limits(idata, data, prior, upper)
    n = idata.posterior["N_X"].values.ravel()
    q05, q95 = np.quantile(n, [0.05, 0.95])
    return {
        "seed": seed,
        "truth": signal_counts,
        "realised": sim.truth["signal_counts_realised"],
        "ul95": float(np.quantile(n, 0.95)),
        "central90": [float(q05), float(q95)],
        "classic_N_X": classic["N_X"],
        "classic_sigma": classic["sigma_N_X"],
        "gates_passed": lim["gates"]["passed"],
        "r_hat_max": lim["diagnostics"]["r_hat_max"],
        "divergences": lim["diagnostics"]["divergences"],
    }


def coverage_study(
    preset_name="demo",
    *,
    multiples=(0, 1, 2, 3),
    toys=20,
    seed0=1000,
    chains=2,
    warmup=300,
    samples=500,
    progress=print,
) -> dict:
    """The study; returns per-level coverage and all toys."""
    from bayes_vip.results.classic_report import run_fit
    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "ref"
        write_energy_campaign(simulate_campaign(preset(preset_name), seed=seed0 - 1), run)
        sigma = float(run_fit(run, figures=False)["sigma_N_X"])
    out = {
        "preset": preset_name,
        "sigma_classic": sigma,
        "toys_per_level": toys,
        "chains": chains,
        "warmup": warmup,
        "samples": samples,
        "levels": [],
    }
    t0 = time.perf_counter()
    for k in multiples:
        rows = []
        for i in range(toys):
            s = seed0 + 1000 * k + i
            rows.append(
                run_toy(preset_name, s, k * sigma, chains=chains, warmup=warmup, samples=samples)
            )
            if progress:
                progress(
                    f"k={k} toy {i + 1}/{toys}: UL95 {rows[-1]['ul95']:.1f}, truth "
                    f"{k * sigma:.1f} ({time.perf_counter() - t0:.0f} s)"
                )
        truth = k * sigma
        above = np.mean([r["ul95"] >= truth for r in rows])
        inside = np.mean([r["central90"][0] <= truth <= r["central90"][1] for r in rows])
        out["levels"].append(
            {
                "multiple": k,
                "injected_counts": truth,
                "ul95_above_truth": float(above),
                "central90_contains_truth": float(inside),
                "median_ul95": float(np.median([r["ul95"] for r in rows])),
                "gates_passed": float(np.mean([r["gates_passed"] for r in rows])),
                "toys": rows,
            }
        )
    out["seconds"] = time.perf_counter() - t0
    return out
