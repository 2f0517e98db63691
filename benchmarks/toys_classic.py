"""Toy study of the classic fit: pulls of N_X on simulated runs with a known signal.

Each toy is a simulated campaign (preset, new seed) with ``--signal`` expected PEP counts,
histogrammed through the true calibration (energy level), fitted by the two-step analysis.
The pull is (N_X - realised PEP counts) / sigma(N_X). Prints JSON: number of toys, valid
fits, pull mean (with its standard error) and standard deviation, and how often the
seed's 3-sigma bound and the 95 % profile limit lie above the true count.

Run from the repository root:
    python benchmarks/toys_classic.py [--toys 100] [--preset demo] [--signal 150]
        [--statistic poisson] [--signal-shape response|gaussian] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("JAX_ENABLE_X64", "1")

import numpy as np

from bayes_vip.analysis import classic
from bayes_vip.analysis.spectral import spectra_from_campaign
from bayes_vip.errors import AnalysisError
from bayes_vip.io.campaign import load_campaign
from bayes_vip.io.provenance import record
from bayes_vip.physics.lines import pep_signal
from bayes_vip.simulate.presets import preset
from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--toys", type=int, default=100)
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--signal", type=float, default=150.0)
    ap.add_argument("--statistic", default="poisson")
    ap.add_argument("--profile", action="store_true", help="also the profile limits (slower)")
    ap.add_argument("--signal-shape", default="response", choices=("response", "gaussian"))
    ap.add_argument("--first-seed", type=int, default=1000)
    args = ap.parse_args()
    rows, failed = [], 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.toys):
            seed = args.first_seed + k
            sim = simulate_campaign(
                preset(args.preset), rng=np.random.default_rng(seed), signal_counts=args.signal
            )
            write_energy_campaign(sim, f"{tmp}/t", rng=np.random.default_rng(seed))
            ds = load_campaign(f"{tmp}/t")
            s1 = spectra_from_campaign(ds, 3500, 11000, 10)
            s2 = spectra_from_campaign(ds, 7000, 11000, 10)
            try:
                r = classic.fit_two_step(
                    s1,
                    s2,
                    signal=pep_signal("ka1"),
                    statistic=args.statistic,
                    profile=args.profile,
                    signal_shape=args.signal_shape,
                )
            except AnalysisError as exc:
                failed += 1
                print(f"toy {seed}: {exc}", file=sys.stderr)
                continue
            truth = sim.truth["signal_counts_realised"]
            rows.append(
                {
                    "seed": seed,
                    "truth": truth,
                    "N_X": r.n_x,
                    "sigma": r.sigma_n_x,
                    "pull": (r.n_x - truth) / r.sigma_n_x,
                    "ul95": r.profile_limits.get("0.95"),
                }
            )
            print(
                f"toy {seed}: truth {truth} N_X {r.n_x:.1f} +- {r.sigma_n_x:.1f}",
                file=sys.stderr,
                flush=True,
            )
    pulls = np.array([r["pull"] for r in rows])
    out = {
        "preset": args.preset,
        "signal_expected": args.signal,
        "statistic": args.statistic,
        "signal_shape": args.signal_shape,
        "n_toys": args.toys,
        "n_valid": len(rows),
        "n_failed": failed,
        "pull_mean": float(pulls.mean()),
        "pull_mean_se": float(pulls.std(ddof=1) / np.sqrt(len(pulls))),
        "pull_sd": float(pulls.std(ddof=1)),
        "median_sigma_N_X": float(np.median([r["sigma"] for r in rows])),
        "covered_by_seed_3sigma_bound": float(
            np.mean([r["N_X"] + 3 * r["sigma"] >= r["truth"] for r in rows])
        ),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    if args.profile:
        out["covered_by_profile_ul95"] = float(np.mean([r["ul95"] >= r["truth"] for r in rows]))
    print(json.dumps(record(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
