"""How to run again a run that diverged: the retries compared (docs/bayes.md, "Divergences").

    python docs/scripts/divergence_retry.py [RUN] [--seed 0] [--modes restart:0.99,...]

Runs ``sampling.sample_posterior`` on RUN (default: the measured 2016-17 run) as
``bayes-vip sample RUN --seed SEED`` does (the same data, bound, key and starting points,
the default 4 x (300 + 1000) draws), once per retry mode:

- ``restart:T``: new overdispersed starts and a new warm-up at target acceptance T (the
  default, T = ``DIVERGENCE_RETRY_TARGET``);
- ``smaller-step:F``: the warmed-up chains go on from where they are with the step size
  times F, and draw anew (``DIVERGENCE_RETRY = "smaller-step"``).

Each mode's first run is the same (the same seed); only its retry differs. For each it
records the gradients (the first run's included), the divergences, the worst R-hat, the ESS
of beta^2/2, the gates, the 95 % and 99.7 % limits with their MCSE, and the wall time, into
``docs/figures/divergence_retry.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
REPO = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", default="runs/vip2-2016-17")
    ap.add_argument("--seed", type=int, default=0)
    modes = "restart:0.99,restart:0.97,smaller-step:0.5,smaller-step:0.35"
    ap.add_argument("--modes", default=modes)
    ap.add_argument("--out", default="docs/figures/divergence_retry.json")
    args = ap.parse_args(argv)
    os.chdir(REPO)
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.bayes import sampling
    from bayes_vip.io.config import load_config
    from bayes_vip.io.provenance import write_record
    from bayes_vip.pipeline.devices import compilation_cache
    from bayes_vip.pipeline.sample import bayes_data, signal_upper

    compilation_cache()
    run = Path(args.run)
    cfg = load_config(run)
    s = cfg.sample
    data, classic = bayes_data(run, cfg)
    upper = signal_upper(data, classic, s)
    rows = []
    for mode in args.modes.split(","):
        how, value = mode.split(":")
        sampling.DIVERGENCE_RETRY = how
        if how == "restart":
            sampling.DIVERGENCE_RETRY_TARGET = float(value)
        else:
            sampling.DIVERGENCE_RETRY_STEP = float(value)
        t = time.perf_counter()
        res = sampling.sample_posterior(
            data,
            prior=s.prior,
            upper=upper,
            chains=s.chains,
            warmup=s.warmup,
            samples=s.samples,
            max_draws=s.draw_bound,
            key=jax.random.PRNGKey(args.seed),
            rng=np.random.default_rng(args.seed),
        )
        wall = time.perf_counter() - t
        info, lim = res.info, res.limits
        diag = lim["diagnostics"]
        ul = lim["upper_limits"]["N_X"]
        row = {
            "mode": mode,
            "retries": info["retries"],
            "gradients": info["gradients"],
            "gradients_per_effective_draw": round(info["gradients_per_effective_draw"], 1),
            "step_size_after": float(np.mean(info["step_size"])),
            "draws_per_chain": info["draws_per_chain"],
            "divergences": diag["divergences"],
            "r_hat_max": round(diag["r_hat_max"], 4),
            "ess_bulk_beta2half": round(diag["ess_bulk_beta2half"]),
            "gates_passed": lim["gates"]["passed"],
            "gates_failed": lim["gates"].get("failed", []),
            "ul95_N_X": [round(ul["0.95"]["value"], 2), round(ul["0.95"]["mcse"], 2)],
            "ul99.7_N_X": [round(ul["0.997"]["value"], 2), round(ul["0.997"]["mcse"], 2)],
            "wall_s": round(wall, 1),
        }
        print(row, flush=True)
        rows.append(row)
    write_record(args.out, {"run": run.name, "seed": args.seed, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
