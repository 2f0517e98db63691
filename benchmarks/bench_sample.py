"""Speed of the hierarchical analysis (``bayes-vip sample``); prints JSON.

- the demo end to end, as a newcomer runs it: ``bayes-vip sample`` with no arguments in an
  empty directory (simulate, calibrate, classic fit, Laplace, NUTS, figures), JIT included;
- wall time and ESS per second of beta^2/2 on the measured run (``runs/vip2-2016-17``) and
  on a simulated ``vip2-2016`` campaign (energy level), with the configuration's defaults
  (4 chains, 300 warm-up, 1000 draws, extended until the gates pass up to 4000);
- gradient evaluations per second of the log density (compiled, warm), and gradients per
  effective draw of beta^2/2;
- how the wall time to reach the gates grows with the number of (SDD, batch) cells:
  ``vip2-2016`` energy-level campaigns with 6 x k SDDs (12 x k cells, ``--scales``,
  default 1,2,4,8), the same default settings; ``wall_per_cell_s`` is the wall time of
  ``sample`` (classic fit, Laplace, NUTS, extensions; no figures, the classic fit's
  neither) over the cells. ``--seeds 0,1,2`` runs each size once per seed, the first with
  an empty compilation cache, and compares the sizes by their medians.

Run from the repository root:
    python benchmarks/bench_sample.py [--parts demo,measured,simulated,scaling] [--scales 1,2,4,8]
        [--seeds 0,1,2]
Every NUTS run happens in a fresh subprocess (one JAX host device per chain, as the CLI).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bayes_vip.io.provenance import record

REPO = Path(__file__).resolve().parents[1]
MEASURED = REPO / "runs" / "vip2-2016-17"

_CHILD = """
import json, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
from pathlib import Path
run = Path(sys.argv[1])
from bayes_vip.io.config import load_config, with_values
from bayes_vip.pipeline.sample import sample
cfg = load_config(run)
if sys.argv[3] != "-":
    cfg = with_values(cfg, sample={"seed": int(sys.argv[3])})
t = time.perf_counter()
lim = sample(run, cfg, figures=False)
wall = time.perf_counter() - t
smp = lim["sampler"]
out = {"seed": cfg.sample.seed, "wall_s": round(wall, 1),
       "seconds": {k: round(v, 1) for k, v in lim["seconds"].items()},
       "cells": lim["model"]["cells"], "bins": lim["model"]["bins"],
       "parameters": smp["parameters"],
       "wall_per_cell_s": round(wall / lim["model"]["cells"], 2),
       "chains": cfg.sample.chains, "warmup": cfg.sample.warmup,
       "samples": cfg.sample.samples, "draws_per_chain": smp["draws_per_chain"],
       "extensions": smp["extensions"], "gradients": smp["gradients"],
       "gradients_per_effective_draw": round(smp["gradients_per_effective_draw"], 1),
       "divergences": lim["diagnostics"]["divergences"],
       "r_hat_max": round(lim["diagnostics"]["r_hat_max"], 4),
       "chain_method": lim["model"]["chain_method"],
       "ess_bulk_beta2half": round(lim["diagnostics"]["ess_bulk_beta2half"]),
       "ess_per_s_beta2half_nuts": round(lim["ess_per_second_beta2half"], 2),
       "ess_per_s_beta2half_wall": round(lim["diagnostics"]["ess_bulk_beta2half"] / wall, 2),
       "gates_passed": lim["gates"]["passed"], "gates_failed": lim["gates"]["failed"],
       "ul95_beta2half": lim["upper_limits"]["beta2half"]["0.95"]["value"]}
if sys.argv[2] == "grad":
    from bayes_vip.bayes.data import build_data
    from bayes_vip.bayes.sampling import Posterior
    from bayes_vip.io.campaign import build_campaign
    from bayes_vip.io.manifest import load_manifest
    from bayes_vip.physics.lines import pep_signal
    man = load_manifest(run)
    classic = json.loads((run / "results" / "classic.json").read_text())
    d = build_data(man, build_campaign(man), classic, signal=pep_signal("ka1"),
                   bin_eV=cfg.sample.bin_eV)
    post = Posterior(d, "flat-beta", 50.0)
    c = post.inputs()
    f = post.flat0
    jax.block_until_ready(post._vg(f, c))
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < 5.0:
        v, g = post._vg(f, c)
        jax.block_until_ready(g)
        n += 1
    out["grad_evals_per_s"] = round(n / (time.perf_counter() - t))
print(json.dumps(out))
"""


def _child(
    run: Path, grad: bool = False, seed: int | None = None, cache: Path | None = None
) -> dict:
    """``sample`` on ``run`` in a fresh process.

    ``seed`` overrides the run's; ``cache`` is the JAX compilation cache to use (default:
    the user's).
    """
    from bayes_vip.io.config import load_config

    chains = load_config(run).sample.chains  # one host device per chain, as the CLI asks
    env = {
        **os.environ,
        "JAX_ENABLE_X64": "1",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={chains}",
    }
    if cache is not None:
        env["BAYES_VIP_CACHE"] = str(cache)
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(run),
            "grad" if grad else "-",
            "-" if seed is None else str(seed),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _simulated(tmp: Path, n_sdd: int) -> Path:
    import numpy as np

    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign

    run = tmp / f"vip2-2016-{n_sdd}sdd"
    sim = simulate_campaign(preset("vip2-2016", n_sdd=n_sdd), rng=np.random.default_rng(16))
    write_energy_campaign(sim, run, rng=np.random.default_rng(16))
    return run


def _median(xs: list[float]) -> float:
    import statistics

    return float(statistics.median(xs))


def _scaling(tmp: Path, scales: list[int], seeds: list[int] | None) -> dict:
    """The ``scaling`` part: each size once (``seeds`` None), or once per seed.

    With seeds, every run starts from a fresh copy of the simulated run (so each refits the
    classic fit), the first seed with an empty compilation cache (a newcomer's first run of
    that layout: "cold"), the others with the cache that run filled ("warm": a user's later
    runs). The summary compares the sizes by the median wall time per cell over every run,
    and gives the cold and warm runs' medians too.
    """
    rows, summary = [], {}
    for k in scales:
        pristine = _simulated(tmp, 6 * k)
        if seeds is None:
            r = _child(pristine, grad=True)
            r["scale"] = f"{k}x"
            rows.append(r)
            print(json.dumps(r), flush=True)
            continue
        cache = tmp / f"jax-cache-{k}x"
        for i, seed in enumerate(seeds):
            run = tmp / f"{pristine.name}-seed{seed}"
            shutil.copytree(pristine, run)
            r = _child(run, grad=(i == len(seeds) - 1), seed=seed, cache=cache)
            r["scale"] = f"{k}x"
            r["cache"] = "cold" if i == 0 else "warm"
            rows.append(r)
            print(json.dumps(r), flush=True)
            shutil.rmtree(run)
    if seeds is None:
        per_cell = [r["wall_per_cell_s"] for r in rows]
        summary = {"wall_per_cell_max_over_min": round(max(per_cell) / min(per_cell), 2)}
    else:
        by = {}
        for cache in ("all", "cold", "warm"):
            runs = {
                f"{k}x": [r for r in rows if r["scale"] == f"{k}x" and cache in ("all", r["cache"])]
                for k in scales
            }
            runs = {k: v for k, v in runs.items() if v}
            if not runs:
                continue
            med = {k: round(_median([r["wall_per_cell_s"] for r in v]), 2) for k, v in runs.items()}
            by[cache] = {
                "runs_per_size": len(next(iter(runs.values()))),
                "median_wall_per_cell_s": med,
                "max_over_min": round(max(med.values()) / min(med.values()), 2),
                "median_gradients_per_effective_draw": {
                    k: round(_median([r["gradients_per_effective_draw"] for r in v]), 1)
                    for k, v in runs.items()
                },
            }
        summary = {"seeds": seeds, **by}
        # the sizes compare by the median over every seed: at 7aa85f7 the compilation cache
        # did not shorten the time before NUTS (12.1 s cold, 12.6 and 13.5 s warm at 1x), and
        # with few seeds a warm-only median is a mean of two
        summary["wall_per_cell_max_over_min"] = by["all"]["max_over_min"]
    summary["all_gates_passed"] = all(r["gates_passed"] for r in rows)
    return {"cells_scaling": rows, "cells_scaling_summary": summary}


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="demo,measured,simulated,scaling")
    ap.add_argument("--scales", default="1,2,4,8", help="multiples of the 6-SDD layout")
    ap.add_argument(
        "--seeds",
        default=None,
        help="scaling: run each size with these chain seeds, the first with an empty "
        "compilation cache, the others with the cache it filled (default: the run's seed, "
        "the user's cache)",
    )
    args = ap.parse_args()
    seeds = None if args.seeds is None else [int(k) for k in args.seeds.split(",")]
    parts = set(args.parts.split(","))
    scales = [int(k) for k in args.scales.split(",")]
    out: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, CPU only"
    }
    if "demo" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            exe = shutil.which("bayes-vip") or str(Path(sys.executable).parent / "bayes-vip")
            env = {
                **os.environ,
                "BAYES_VIP_PEAKFINDER": str(REPO / "models" / "peakfinder"),
                # an empty compilation cache: a newcomer's first run compiles everything
                "BAYES_VIP_CACHE": str(Path(tmp) / "jax-cache"),
            }
            t = time.perf_counter()
            r = subprocess.run(
                [exe, "sample", "--json"], cwd=tmp, capture_output=True, text=True, env=env
            )
            wall = time.perf_counter() - t
            if r.returncode not in (0, 3):
                raise RuntimeError(r.stderr[-3000:])
            res = json.loads(r.stdout.strip().splitlines()[-1])
            out["demo_end_to_end"] = {
                "command": "bayes-vip sample (no arguments, empty directory, empty JAX cache)",
                "wall_s": round(wall, 1),
                "exit_code": r.returncode,
                "gates_passed": res["gates"]["passed"],
                "seconds": {k: round(v, 1) for k, v in res["seconds"].items()},
            }
        print(json.dumps(out), flush=True)
    if "measured" in parts:
        out["measured_vip2_2016_17"] = _child(MEASURED, grad=True)
        print(json.dumps(out), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if "simulated" in parts:
            out["simulated_vip2_2016"] = _child(_simulated(Path(tmp), 6))
            print(json.dumps(out), flush=True)
        if "scaling" in parts:
            out.update(_scaling(Path(tmp), scales, seeds))
    print(json.dumps(record(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
