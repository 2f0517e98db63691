"""Coverage of the Bayesian limits: toys with 0, 1, 2 and 3 classic sigmas of injected signal.

    python docs/scripts/coverage_study.py [--toys 20] [--preset demo] [--samples 500]

Writes docs/figures/coverage.json and prints, per injected level, the fraction of toys whose
95 % upper limit lies above the injected expectation, the fraction whose central 90 %
interval contains it, and the median 95 % limit (at zero signal: the expected sensitivity).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toys", type=int, default=20)
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--samples", type=int, default=800)
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "figures" / "coverage.json",
    )
    args = ap.parse_args(argv)
    import numpyro

    numpyro.set_host_device_count(min(args.chains, 16))  # chains in parallel
    import jax

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.io.provenance import write_record
    from bayes_vip.pipeline.studies import coverage_study

    res = coverage_study(
        args.preset,
        toys=args.toys,
        chains=args.chains,
        warmup=args.warmup,
        samples=args.samples,
        progress=lambda m: print(m, flush=True),
    )
    write_record(args.out, res)
    print(
        f"preset {res['preset']}: classic sigma(N_X) = {res['sigma_classic']:.1f} counts; "
        f"{args.toys} toys per level, {res['chains']} chains x {res['samples']} draws; "
        f"{res['seconds']:.0f} s"
    )
    if "expected_sensitivity_ul95_counts" in res:
        print(
            f"expected sensitivity (median 95 % UL at zero signal): "
            f"{res['expected_sensitivity_ul95_counts']:.1f} counts"
        )
    print(
        "| injected | 95 % UL above truth | central 90 % contains truth "
        "| median 95 % UL | gates passed |"
    )
    print("|---|---|---|---|---|")
    for lv in res["levels"]:
        print(
            f"| {lv['multiple']} sigma = {lv['injected_counts']:.1f} "
            f"| {lv['ul95_above_truth']:.0%} | {lv['central90_contains_truth']:.0%} "
            f"| {lv['median_ul95']:.1f} | {lv['gates_passed']:.0%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
