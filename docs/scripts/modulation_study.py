"""The layouts of the current compared on toys (docs/modulation.md), on the Dask toy engine.

    python docs/scripts/modulation_study.py [--toys 40] [--drift 0.2] [--n-sdd 2]
        [--layouts two-periods,weekly,50s] [--multiples 0,2] [--seed 17]
        [--scheduler ADDRESS] [--workers N] [--stop-after N] [--summarise-only]

The campaign is the `vip2-switched` preset's (68 days, half with 100 A, daily calibration
batches) with --n-sdd SDDs, its background rates drifting by --drift over the run. Each
layout (two long periods, weekly switching, 50 s switching) is simulated at energy level
through the true calibration, and every toy is fitted as `bayes-vip fit --background
separate` and `--background shared` fit a run. The toys are stored in
docs/figures/studies/modulation<TAG>/ (toys.parquet), so that the study resumes where it
stopped; the summary goes to docs/figures/modulation<TAG>.json and the figure to
modulation<TAG>.png. TAG is `-drift<D>` for a drift other than 0.2. `--summarise-only`
writes the summary and figure of the toys the store holds, running none (a study stopped
part-way: the layouts and signals take turns, so its cells hold about as many toys each).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")
os.environ.setdefault("BAYES_VIP_REPORT", "off")
REPO = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toys", type=int, default=40, help="toys per layout and injected signal")
    ap.add_argument("--drift", type=float, default=0.2)
    ap.add_argument("--n-sdd", type=int, default=2)
    ap.add_argument("--layouts", default="two-periods,weekly,50s")
    ap.add_argument("--multiples", default="0,2")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--scheduler", default=None, help="a Dask scheduler's address")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--stop-after", type=int, default=None, help="stop after N new toys")
    ap.add_argument("--summarise-only", action="store_true", help="run no toy")
    args = ap.parse_args(argv)
    os.chdir(REPO)  # relative paths in every record
    from rich.console import Console

    from bayes_vip.io.provenance import write_record
    from bayes_vip.results import console
    from bayes_vip.studies.figures import modulation_figure
    from bayes_vip.studies.modulation import (
        modulation_spec,
        modulation_study,
        modulation_summary,
    )

    spec = modulation_spec(
        n_sdd=args.n_sdd,
        layouts=tuple(args.layouts.split(",")),
        drift=args.drift,
        multiples=tuple(float(k) for k in args.multiples.split(",")),
        toys=args.toys,
        seed=args.seed,
    )
    tag = "" if args.drift == 0.2 else f"-drift{args.drift:g}"
    out = Path("docs/figures/studies/modulation" + tag)
    con = Console()
    if args.summarise_only:
        rec = modulation_summary(spec, out)
    else:
        with console.TerminalProgress(con) as progress:
            rec = modulation_study(
                spec,
                out,
                scheduler=args.scheduler,
                workers=args.workers,
                progress=progress,
                stop_after=args.stop_after,
            )
    for c in rec["cells"]:
        cv = c["coverage_ul95"]
        con.print(
            f"{c['layout']:>12} {c['background']:>8} {c['multiple']:g} sigma: "
            f"{c['toys']:3d} toys, bias {c['bias_N_X']:+7.1f} +- {c['bias_N_X_se']:.1f}, "
            f"pull {c['pull_mean']:+.2f} +- {c['pull_mean_se']:.2f} (sd {c['pull_sd']:.2f}), "
            f"coverage {cv['k']}/{cv['n']}, median UL95 {c['ul95_median']:.1f}"
        )
    name = "modulation" + tag.replace("-", "_")
    modulation_figure(rec, rec["spec"], Path("docs/figures") / f"{name}.png")
    write_record(Path("docs/figures") / f"{name}.json", rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
