"""Cost of one production-path toy (``bayes-vip study coverage``), with and without compiling.

Runs ``--toys`` coverage toys of the demo layout (energy level, no injected signal) one
after the other in one process, as one Dask worker runs them: each toy is simulated,
calibrated, fitted (``bayes-vip fit``) and sampled (``bayes-vip sample``, default settings).
The persistent compilation cache starts empty. For each toy it records the wall time, NUTS's
time, XLA's compilations and their seconds, and the persistent cache's hits.

With ``--baseline REV`` the same measurement first runs on commit ``REV`` (a temporary git
worktree), then on the working tree, in this one run, so that the two are compared on the
same machine under the same load.

Run from the repository root:
    python benchmarks/bench_toys.py [--toys 4] [--baseline REV] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from bayes_vip.io.provenance import record, write_json

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import json, os, sys, tempfile, time
from collections import defaultdict
from pathlib import Path
import jax
jax.config.update("jax_enable_x64", True)
acc, cnt = defaultdict(float), defaultdict(int)
def on_duration(event, seconds, **kw):
    acc[event] += seconds
    cnt[event] += 1
def on_event(event, **kw):
    cnt[event] += 1
jax.monitoring.register_event_duration_secs_listener(on_duration)
jax.monitoring.register_event_listener(on_event)
from bayes_vip.io.config import load_config
from bayes_vip.pipeline.simulate import SimulationRequest, simulate
from bayes_vip.studies.coverage import coverage_spec, coverage_toy
from bayes_vip.studies.engine import Toy, toy_seed
run = Path(tempfile.mkdtemp()) / "demo-energy"
simulate(SimulationRequest.validated("demo", seed=2026, level="energy"), run)
spec = coverage_spec(run, load_config(run), multiples=(0.0,), toys=1, seed=14)
spec["reference"] = {"sigma_N_X": 0.0}
rows = []
for i in range(int(sys.argv[1])):
    acc.clear(); cnt.clear()
    t = time.perf_counter()
    row = coverage_toy(Toy(i, toy_seed(14, i), {"multiple": 0.0, "injected": 0.0}), spec)
    rows.append({
        "toy": i,
        "wall_s": round(time.perf_counter() - t, 2),
        "nuts_s": round(row["bayes_seconds_nuts"], 2),
        "gates_passed": row["bayes_gates_passed"],
        "compilations": cnt["/jax/core/compile/backend_compile_duration"],
        "compile_s": round(acc["/jax/core/compile/backend_compile_duration"], 2),
        "trace_s": round(acc["/jax/core/compile/jaxpr_trace_duration"], 2),
        "cache_hits": cnt["/jax/compilation_cache/cache_hits"],
        "compile_s_saved_by_cache": round(acc["/jax/compilation_cache/compile_time_saved_sec"], 2),
    })
    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
print(json.dumps(rows))
"""


def measure(source: Path, toys: int) -> list[dict]:
    """Run the toys with the package at ``source``, in a fresh process and an empty cache."""
    with tempfile.TemporaryDirectory(prefix="bench-toys-cache-") as cache:
        env = {
            **os.environ,
            "PYTHONPATH": str(source),
            "BAYES_VIP_CACHE": cache,
            "JAX_ENABLE_X64": "1",
        }
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(toys)],
            cwd=tempfile.gettempdir(),  # not the repository: the package comes from PYTHONPATH
            env=env,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(rows: list[dict]) -> dict:
    """The first toy (compiles) and the mean of the later ones (a worker's steady state)."""
    later = rows[1:] or rows
    return {
        "first_toy_wall_s": rows[0]["wall_s"],
        "later_toys_mean_wall_s": round(sum(r["wall_s"] for r in later) / len(later), 2),
        "later_toys_mean_compilations": sum(r["compilations"] for r in later) / len(later),
        "later_toys_mean_compile_s": round(sum(r["compile_s"] for r in later) / len(later), 2),
    }


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, check=True, stdout=subprocess.PIPE, text=True
    ).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toys", type=int, default=4)
    ap.add_argument("--baseline", default=None, help="a commit to measure first")
    ap.add_argument("--out", default=None, help="also write the JSON to this file")
    args = ap.parse_args(argv)
    out: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, CPU only",
        "toys": args.toys,
        "layout": "demo preset, energy level, no injected signal, default configuration",
    }
    if args.baseline:
        rev = _git("rev-parse", args.baseline)
        with tempfile.TemporaryDirectory(prefix="bench-toys-") as tmp:
            tree = Path(tmp) / "baseline"
            _git("worktree", "add", "--detach", "-q", str(tree), rev)
            try:
                rows = measure(tree, args.toys)
            finally:
                _git("worktree", "remove", "--force", str(tree))
        out["baseline"] = {"commit": rev, "rows": rows, **summary(rows)}
    rows = measure(REPO, args.toys)
    out["current"] = {"rows": rows, **summary(rows)}
    if args.baseline:
        b, c = out["baseline"], out["current"]
        out["speed_up_later_toys"] = round(
            b["later_toys_mean_wall_s"] / c["later_toys_mean_wall_s"], 2
        )
    rec = record(out)
    print(json.dumps(rec, indent=1))
    if args.out:
        write_json(args.out, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
