"""The coverage study of docs/validation.md, on the Dask toy engine (`bayes-vip study coverage`).

    python docs/scripts/coverage_study.py [--toys 400] [--multiples 0,1,2,3,5] [--level energy]
        [--methods classic,bayes] [--priors empirical-bayes|external] [--statistic chi2|poisson]
        [--scheduler ADDRESS] [--workers N] [--stop-after N]

The layout is the demo preset's (2 SDDs, 10 + 10 days), simulated with seed 2026 at the
chosen level; every toy is analysed as `bayes-vip fit` and `bayes-vip sample` analyse a run,
with the default configuration. The toys are stored in docs/figures/studies/coverage<TAG>/
(toys.parquet), so that the study resumes where it stopped, also in a later session; the
summary goes to docs/figures/coverage<TAG>.json and the figure to coverage<TAG>.png. TAG
names what differs from the first study (energy level, empirical-Bayes priors, Neyman's
chi-square, classic and Bayesian): `-adc`, `-external`, `-poisson` (the classic fit's
default statistic since the tenth session), `-classic`. So `--statistic chi2` resumes the
first study, and no option starts `coverage-poisson`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")
REPO = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toys", type=int, default=400, help="toys per injected signal")
    ap.add_argument("--multiples", default="0,1,2,3,5")
    ap.add_argument("--level", default="energy", choices=["energy", "adc"])
    ap.add_argument("--methods", default="classic,bayes")
    ap.add_argument("--priors", default="empirical-bayes", choices=["empirical-bayes", "external"])
    ap.add_argument(
        "--statistic",
        default=None,
        choices=["chi2", "poisson"],
        help="the classic fit's statistic (default: the configuration's, poisson)",
    )
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--scheduler", default=None, help="a Dask scheduler's address")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--stop-after", type=int, default=None, help="stop after N new toys")
    args = ap.parse_args(argv)
    os.chdir(REPO)  # relative paths in every record
    from bayes_vip.io.config import load_config, with_values
    from bayes_vip.io.provenance import write_record
    from bayes_vip.pipeline.simulate import SimulationRequest, simulate
    from bayes_vip.results import console
    from bayes_vip.studies.coverage import coverage_study

    methods = tuple(args.methods.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / f"demo-{args.level}"
        simulate(SimulationRequest.validated("demo", seed=2026, level=args.level), run)
        cfg = load_config(run)
        statistic = args.statistic or cfg.fit.statistic
        # the first study (docs/figures/studies/coverage) ran with Neyman's chi-square, the
        # default then; each statistic keeps its own store
        tag = (
            ("" if args.level == "energy" else "-adc")
            + ("" if args.priors == "empirical-bayes" else "-external")
            + ("" if statistic == "chi2" else f"-{statistic}")
            + ("" if "bayes" in methods else "-" + "-".join(methods))
        )
        out = Path("docs/figures/studies/coverage" + tag)
        from rich.console import Console

        con = Console()
        with console.TerminalProgress(con) as progress:
            rec = coverage_study(
                run,
                with_values(cfg, sample={"priors": args.priors}, fit={"statistic": statistic}),
                out=out,
                multiples=tuple(float(k) for k in args.multiples.split(",")),
                toys=args.toys,
                seed=args.seed,
                methods=methods,
                scheduler=args.scheduler,
                workers=args.workers,
                progress=progress,
                stop_after=args.stop_after,
            )
        console.render_study_coverage(con, rec)
    name = "coverage" + tag.replace("-", "_")
    shutil.copyfile(out / "coverage.png", Path("docs/figures") / f"{name}.png")
    write_record(Path("docs/figures") / f"{name}.json", rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
