"""The default sampler over many seeds on one run (docs/bayes.md, "Seeds").

    python docs/scripts/sampler_seeds.py [RUN] [--seeds 0,1,...,9] [--softplus]
        [--retry-target 0.99] [--gibbs] [--out FILE]

Runs ``sampling.sample_posterior`` on RUN (default: the measured 2016-17 run) as
``bayes-vip sample RUN --seed SEED`` does (the same data, bound, key and starting points,
the default 4 x (300 + 1000) draws, extended and retried as the gates ask), once per seed,
in one process (the sampler compiles once). For each seed it records the gradients, the
gradients per effective draw of beta^2/2, the step size, the divergences and retries, the
worst R-hat, the gates, the 95 % and 99.7 % limits with their MCSE, and NUTS's wall time;
then the spread over the seeds. Output: ``docs/figures/sampler_seeds.json``.

``--softplus`` samples the signal through the softplus map (``model.SIGNAL_SOFTPLUS``)
instead of the logit. ``--retry-target`` sets the target acceptance of the one retry (new
starts, a new warm-up) after divergent transitions (``sampling.DIVERGENCE_RETRY_TARGET``).
``--gibbs`` adds the Gibbs step of the signal after every transition
(``sampling.GIBBS_SIGNAL``).
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
    ap.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--softplus", action="store_true", help="the signal's softplus map")
    ap.add_argument("--retry-target", type=float, default=None)
    ap.add_argument(
        "--gibbs", action="store_true", help="the signal's Gibbs step (sampling.GIBBS_SIGNAL)"
    )
    ap.add_argument("--out", default="docs/figures/sampler_seeds.json")
    args = ap.parse_args(argv)
    os.chdir(REPO)
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.bayes import model, sampling
    from bayes_vip.io.config import load_config
    from bayes_vip.io.provenance import write_record
    from bayes_vip.pipeline.devices import compilation_cache
    from bayes_vip.pipeline.sample import bayes_data, sampler_settings, signal_upper

    compilation_cache()
    if args.softplus:
        model.SIGNAL_SOFTPLUS = True
    if args.gibbs:
        sampling.GIBBS_SIGNAL = True
    if args.retry_target is not None:
        if not 0 < args.retry_target < 1:
            ap.error(f"--retry-target: a probability in (0, 1), got {args.retry_target}")
        sampling.DIVERGENCE_RETRY_TARGET = args.retry_target
    run = Path(args.run)
    cfg = load_config(run)
    s = cfg.sample
    data, classic = bayes_data(run, cfg)
    upper = signal_upper(data, classic, s)
    rows = []
    seeds = [int(x) for x in args.seeds.split(",")]
    for seed in seeds:
        t = time.perf_counter()
        res = sampling.sample_posterior(
            data,
            upper=upper,
            **sampler_settings(s),
            key=jax.random.PRNGKey(seed),
            rng=np.random.default_rng(seed),
        )
        wall = time.perf_counter() - t
        info, lim = res.info, res.limits
        diag = lim["diagnostics"]
        ul = lim["upper_limits"]["N_X"]
        row = {
            "seed": seed,
            "retries": len(info["retries"]),
            "retried_after": [r["failed"] for r in info["retries"]],
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
    g = np.array([r["gradients_per_effective_draw"] for r in rows])
    ul = np.array([r["ul95_N_X"] for r in rows])
    summary = {
        "seeds": len(rows),
        "gates_passed": sum(r["gates_passed"] for r in rows),
        "with_retry": sum(r["retries"] > 0 for r in rows),
        "divergences": sum(r["divergences"] for r in rows),
        "gradients_per_effective_draw_median": float(np.median(g)),
        "gradients_per_effective_draw_range": [float(g.min()), float(g.max())],
        "ul95_N_X_sd_over_seeds": round(float(ul[:, 0].std(ddof=1)), 2) if len(rows) > 1 else None,
        "ul95_N_X_mcse_median": float(np.median(ul[:, 1])),
        "nuts_wall_s_median": float(np.median([r["wall_s"] for r in rows])),
    }
    settings = {
        "signal_map": "softplus" if model.SIGNAL_SOFTPLUS else "logit",
        "retry_target": sampling.DIVERGENCE_RETRY_TARGET,
        "gibbs_signal": sampling.GIBBS_SIGNAL,
    }
    print(settings, summary)
    write_record(
        args.out,
        {"run": run.name, "seeds": seeds, "settings": settings, "rows": rows, "summary": summary},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
