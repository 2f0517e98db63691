"""The sensitivity decomposition of the classic fit, on the Dask toy engine (docs/classic.md).

    python docs/scripts/sensitivity_study.py [--toys 100] [--injected 0,350] [--seed 15]
        [--measured runs/vip2-2016-17] [--scheduler ADDRESS] [--workers N] [--stop-after N]

Toys of the measured-like ``vip2-2016-17`` preset, each fitted in every variant of
``bayes_vip.studies.sensitivity.VARIANTS`` and counted in the ROI window. 350 counts is
about 3 sigma(N_X) of the measured run. ``--measured`` fits the measured run with every
variant too, and refuses a variant its data reject (``measured_check``). The toys are stored in
docs/figures/studies/sensitivity/toys.parquet (the study resumes there); the summary goes
to docs/figures/sensitivity.json and the figure to docs/figures/sensitivity.png.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")
REPO = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toys", type=int, default=100, help="toys per injected signal")
    ap.add_argument("--injected", default="0,350", help="injected expected counts")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--scheduler", default=None, help="a Dask scheduler's address")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--stop-after", type=int, default=None, help="stop after N new toys")
    ap.add_argument("--measured", default="runs/vip2-2016-17", help="a measured run, or none")
    args = ap.parse_args(argv)
    os.chdir(REPO)  # relative paths in every record
    from rich.console import Console

    from bayes_vip.io.config import load_config
    from bayes_vip.io.provenance import write_record
    from bayes_vip.results import console
    from bayes_vip.studies.figures import sensitivity_figure
    from bayes_vip.studies.sensitivity import sensitivity_study

    out = Path("docs/figures/studies/sensitivity")
    con = Console()
    with console.TerminalProgress(con) as progress:
        rec = sensitivity_study(
            out=out,
            injected=tuple(float(k) for k in args.injected.split(",")),
            toys=args.toys,
            seed=args.seed,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=progress,
            stop_after=args.stop_after,
            measured=None if args.measured == "none" else args.measured,
            config=None if args.measured == "none" else load_config(args.measured),
        )
    rec["figure"] = str(sensitivity_figure(rec, Path("docs/figures/sensitivity.png")))
    console.render_sensitivity(con, rec)
    write_record(Path("docs/figures/sensitivity.json"), rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
