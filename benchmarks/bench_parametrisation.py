"""What a parametrisation of the hierarchical model buys NUTS, on the measured run.

The same model (the same posterior density) sampled in two coordinate systems: the SDD
offsets of the line peaks (``centroid_offsets=False``), or of the line centroids
(``model.CENTROID_OFFSETS``, an option, off by default). For each, and each seed, the
project's sampler runs the default chains, warm-up and draws (4 x (300 + 1000)) with no
extension, and the script prints the gradients, the wall time, the bulk and tail ESS of
``beta2half_1e29`` and of ``tail_frac``, the smallest bulk and tail ESS of any site, the
worst R-hat, the divergences, and which gates pass. The pair is run one seed after the
other, in one process, so that their times compare.

Run from the repository root:
    python benchmarks/bench_parametrisation.py [--seeds 0,1,2] [--run runs/vip2-2016-17]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAINS = 4
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={CHAINS}")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

from bayes_vip.io.provenance import record  # noqa: E402


def _data(run: Path):
    from bayes_vip.bayes.data import default_upper
    from bayes_vip.io.config import load_config
    from bayes_vip.pipeline.sample import bayes_data

    cfg = load_config(run)
    data, classic = bayes_data(run, cfg)
    return cfg, data, default_upper(data, classic, "flat-beta")


def _one(cfg, data, upper, post, seed: int) -> dict:
    import arviz as az

    from bayes_vip.bayes.sampling import sample_posterior

    s = cfg.sample
    t = time.perf_counter()
    res = sample_posterior(
        data,
        prior="flat-beta",
        upper=upper,
        chains=CHAINS,
        warmup=s.warmup,
        samples=s.samples,
        max_draws=s.samples,
        key=jax.random.PRNGKey(seed),
        rng=np.random.default_rng(seed),
        post=post,
        predictive_draws=0,
    )
    wall = time.perf_counter() - t
    p = res.idata.posterior
    bulk, tail, rhat = az.ess(p, method="bulk"), az.ess(p, method="tail"), az.rhat(p)

    def worst(ds, fn):
        return min(((fn(ds[k].values), k) for k in ds.data_vars), key=lambda x: x[0])

    low_b = worst(bulk, lambda v: float(np.nanmin(v)))
    low_t = worst(tail, lambda v: float(np.nanmin(v)))
    hi_r = max((float(np.nanmax(rhat[k].values)), k) for k in rhat.data_vars)
    ess_b = float(bulk["beta2half_1e29"])
    return {
        "seed": seed,
        "wall_s": round(wall, 1),
        "gradients": res.info["gradients"],
        "gradients_per_effective_draw": round(res.info["gradients"] / ess_b, 1),
        "ess_bulk_beta2half": round(ess_b),
        "ess_tail_beta2half": round(float(tail["beta2half_1e29"])),
        "ess_bulk_tail_frac": round(float(bulk["tail_frac"])),
        "ess_tail_tail_frac": round(float(tail["tail_frac"])),
        "ess_bulk_min": [round(low_b[0]), low_b[1]],
        "ess_tail_min": [round(low_t[0]), low_t[1]],
        "r_hat_max": [round(hi_r[0], 4), hi_r[1]],
        "divergences": res.limits["diagnostics"]["divergences"],
        "gates_passed": res.limits["gates"]["passed"],
        "gates_failed": res.limits["gates"]["failed"],
        "ul95_beta2half_1e29": round(float(np.quantile(p["beta2half_1e29"].values, 0.95)), 4),
    }


def main() -> int:
    from bayes_vip.bayes.sampling import Posterior

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(REPO / "runs" / "vip2-2016-17"))
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    seeds = [int(x) for x in args.seeds.split(",")]
    cfg, data, upper = _data(Path(args.run))
    variants = {"peak offsets": False, "centroid offsets": True}
    posts = {
        k: Posterior(data, "flat-beta", upper, centroid_offsets=v) for k, v in variants.items()
    }
    runs: dict[str, list] = {k: [] for k in variants}
    for seed in seeds:
        for name, post in posts.items():
            r = _one(cfg, data, upper, post, seed)
            runs[name].append(r)
            print(json.dumps({"variant": name, **r}), flush=True)
    summary = {
        name: {
            "median_wall_s": float(np.median([r["wall_s"] for r in rs])),
            "median_gradients_per_effective_draw": float(
                np.median([r["gradients_per_effective_draw"] for r in rs])
            ),
            "median_ess_bulk_tail_frac": float(np.median([r["ess_bulk_tail_frac"] for r in rs])),
            "median_ess_bulk_min": float(np.median([r["ess_bulk_min"][0] for r in rs])),
            "gates_passed": sum(r["gates_passed"] for r in rs),
            "runs": len(rs),
        }
        for name, rs in runs.items()
    }
    out = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, CPU only",
        "run": Path(args.run).name,
        "settings": f"{CHAINS} chains, {cfg.sample.warmup} warm-up, {cfg.sample.samples} draws, "
        "no extension",
        "summary": summary,
        "runs": runs,
    }
    print(json.dumps(record(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
