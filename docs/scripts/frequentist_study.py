"""The measured run's classic limits from toys, on the Dask toy engine (docs/classic.md).

    python docs/scripts/frequentist_study.py [--toys 150] [--points 17] [--reach 4]
        [--seed 15] [--scheduler ADDRESS] [--workers N] [--stop-after N]

``bayes-vip study frequentist runs/vip2-2016-17`` with its toys stored in
docs/figures/studies/frequentist-measured/toys.parquet (the study resumes there); the
record goes to docs/figures/frequentist_measured.json and the figure to
docs/figures/frequentist_measured.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")
REPO = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toys", type=int, default=150, help="toys per N_X value")
    ap.add_argument("--points", type=int, default=17)
    ap.add_argument("--reach", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--scheduler", default=None, help="a Dask scheduler's address")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--stop-after", type=int, default=None, help="stop after N new toys")
    args = ap.parse_args(argv)
    os.chdir(REPO)  # relative paths in every record
    from rich.console import Console

    from bayes_vip.io.config import load_config
    from bayes_vip.io.provenance import write_record
    from bayes_vip.results import console
    from bayes_vip.studies.frequentist import frequentist_study

    run = Path("runs/vip2-2016-17")
    out = Path("docs/figures/studies/frequentist-measured")
    con = Console()
    with console.TerminalProgress(con) as progress:
        rec = frequentist_study(
            run,
            load_config(run),
            out=out,
            toys=args.toys,
            seed=args.seed,
            points=args.points,
            reach=args.reach,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=progress,
            stop_after=args.stop_after,
        )
    console.render_study_frequentist(con, rec)
    shutil.copyfile(out / "frequentist.png", Path("docs/figures/frequentist_measured.png"))
    write_record(Path("docs/figures/frequentist_measured.json"), rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
