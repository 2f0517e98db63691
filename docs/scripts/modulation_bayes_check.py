"""The hierarchical model's shared, drifting background on toys of the modulation study.

    python docs/scripts/modulation_bayes_check.py [--layouts two-periods] [--seeds 5,6,7,8]
        [--drift 0.2] [--n-sdd 2] [--drift-days 7]

Each toy is a campaign of docs/modulation.md's study (the `vip2-switched` preset with
--n-sdd SDDs, the layout's turns of the current, the background rising by --drift over the
run, no signal), simulated at energy level with the seed given and analysed as `bayes-vip
fit` and `bayes-vip sample` analyse a run: once with `--background separate`, once with
`--background shared --drift-days D` (the classic fit's tie by live time, the model's random
walk). The classic and Bayesian estimates and 95 % limits of every toy go to
docs/figures/modulation_bayes.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")
os.environ.setdefault("BAYES_VIP_REPORT", "off")
REPO = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layouts", default="two-periods")
    ap.add_argument("--seeds", default="5,6,7,8")
    ap.add_argument("--drift", type=float, default=0.2)
    ap.add_argument("--n-sdd", type=int, default=2)
    ap.add_argument("--drift-days", type=float, default=7.0)
    args = ap.parse_args(argv)
    os.chdir(REPO)  # relative paths in every record
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from bayes_vip.io.config import load_config, with_values
    from bayes_vip.io.provenance import write_record
    from bayes_vip.pipeline.fit import fit
    from bayes_vip.pipeline.sample import sample
    from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign
    from bayes_vip.studies.modulation import LAYOUTS, layout_preset, modulation_spec

    spec = modulation_spec(n_sdd=args.n_sdd, drift=args.drift)
    rows = []
    for lay in args.layouts.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            pre = layout_preset(spec["settings"], LAYOUTS[lay], args.drift)
            sim = simulate_campaign(pre, rng=np.random.default_rng(seed))
            with tempfile.TemporaryDirectory() as tmp:
                run = Path(tmp) / f"{lay}-{seed}"
                write_energy_campaign(sim, run, rng=np.random.default_rng(seed))
                for bg in ("separate", "shared"):
                    cfg = with_values(
                        load_config(run),
                        fit={"background": bg},
                        sample={"background": bg, "drift_days": args.drift_days},
                    )
                    c = fit(run, cfg, figures=False)
                    lim = sample(run, cfg, figures=False)
                    ul = lim["upper_limits"]["N_X"]
                    row = {
                        "layout": lay,
                        "seed": seed,
                        "background": bg,
                        "classic_N_X": c["N_X"],
                        "classic_sigma_N_X": c["sigma_N_X"],
                        "classic_ul95": c["upper_limits_counts"]["profile 0.95"],
                        "bayes_median_N_X": ul["median"],
                        "bayes_ul95": ul["0.95"]["value"],
                        "gates_passed": lim["gates"]["passed"],
                        "cells": lim["model"]["cells"],
                    }
                    rows.append(row)
                    print(row, flush=True)
    rec = {
        "study": "modulation, hierarchical model",
        "drift": args.drift,
        "n_sdd": args.n_sdd,
        "drift_days": args.drift_days,
        "injected": 0.0,
        "toys": rows,
    }
    write_record(Path("docs/figures/modulation_bayes.json"), rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
