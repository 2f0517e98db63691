"""The SBC study of docs/validation.md, on the Dask toy engine (`bayes-vip study sbc`).

    python docs/scripts/sbc_study.py [--sims 1000] [--level energy] [--fano-shift 0.2]
        [--priors empirical-bayes|external] [--statistic chi2|poisson] [--scheduler ADDRESS]
        [--workers N] [--stop-after N]

The layout is the demo preset's (2 SDDs, 10 + 10 days), simulated with seed 2026 at the
chosen level; every simulation draws a truth from the model's prior, data from the model,
and samples with the production sampler and the default configuration. ``--fano-shift``
runs the negative control (data drawn with the Fano factor times 1 + shift). The
simulations are stored in docs/figures/studies/sbc[-adc][-external][-poisson][-control]/
(sims.parquet), so that the study resumes where it stopped, also in a later session; the
summary goes to docs/figures/sbc[_adc][_external][_poisson][_control].json and the figure
beside it. ``--priors external`` runs it under the external prior set (``sample.priors``).
``--statistic`` is the reference toy's classic fit, on which the fixed priors are centred:
the first studies (``sbc``, ``sbc-control``) ran with Neyman's chi-square, the default then,
and ``--statistic chi2`` resumes them; the Poisson likelihood, the default since, is tagged
``-poisson``.
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
    ap.add_argument("--sims", type=int, default=1000)
    ap.add_argument("--level", default="energy", choices=["energy", "adc"])
    ap.add_argument("--fano-shift", type=float, default=0.0)
    ap.add_argument("--priors", default="empirical-bayes", choices=["empirical-bayes", "external"])
    ap.add_argument(
        "--statistic",
        default=None,
        choices=["chi2", "poisson"],
        help="the reference toy's classic fit (default: the configuration's, poisson)",
    )
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--scheduler", default=None, help="a Dask scheduler's address")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--stop-after", type=int, default=None, help="stop after N new simulations")
    args = ap.parse_args(argv)
    os.chdir(REPO)  # relative paths in every record
    from rich.console import Console

    from bayes_vip.io.config import load_config, with_values
    from bayes_vip.io.provenance import write_record
    from bayes_vip.pipeline.simulate import SimulationRequest, simulate
    from bayes_vip.results import console
    from bayes_vip.studies.sbc import sbc_study

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / f"demo-{args.level}"
        simulate(SimulationRequest.validated("demo", seed=2026, level=args.level), run)
        cfg = load_config(run)
        statistic = args.statistic or cfg.fit.statistic
        # the first studies (sbc, sbc-control) centred the fixed priors on a classic fit with
        # Neyman's chi-square, the default then; each statistic keeps its own store
        tag = (
            ("" if args.level == "energy" else "-adc")
            + ("" if args.priors == "empirical-bayes" else "-external")
            + ("" if statistic == "chi2" else f"-{statistic}")
            + ("-control" if args.fano_shift else "")
        )
        out = Path("docs/figures/studies/sbc" + tag)
        con = Console()
        with console.TerminalProgress(con) as progress:
            rec = sbc_study(
                run,
                with_values(cfg, sample={"priors": args.priors}, fit={"statistic": statistic}),
                out=out,
                sims=args.sims,
                seed=args.seed,
                fano_shift=args.fano_shift,
                scheduler=args.scheduler,
                workers=args.workers,
                progress=progress,
                stop_after=args.stop_after,
            )
        console.render_study_sbc(con, rec)
    name = "sbc" + tag.replace("-", "_")
    shutil.copyfile(out / "sbc.png", Path("docs/figures") / f"{name}.png")
    write_record(Path("docs/figures") / f"{name}.json", rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
