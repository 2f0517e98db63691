"""Wall time and peak memory of simulating (and writing) each preset; prints JSON.

Each preset runs in a fresh process so that its peak resident memory (ru_maxrss) is its
own. Run:  python benchmarks/bench_simulate.py [--presets demo vip2-2016 vip2-2018]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time

from bayes_vip.io.provenance import record


def _one(name: str, queue) -> None:
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    import resource

    import numpy as np

    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_campaign

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sim = simulate_campaign(preset(name), rng=np.random.default_rng(1), signal_counts=100.0)
        t1 = time.perf_counter()
        write_campaign(sim, tmp)
        t2 = time.perf_counter()
        size = os.path.getsize(os.path.join(tmp, "events.parquet"))
    queue.put(
        {
            "preset": name,
            "events": int(sim.adc.size),
            "simulate_s": round(t1 - t0, 3),
            "write_s": round(t2 - t1, 3),
            "total_s": round(t2 - t0, 3),
            "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "parquet_MiB": round(size / 2**20, 1),
        }
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presets", nargs="+", default=["demo", "vip2-2016", "vip2-2018"])
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    results = []
    for name in args.presets:
        q = ctx.Queue()
        p = ctx.Process(target=_one, args=(name, q))
        p.start()
        results.append(q.get())
        p.join()
    out = {
        "benchmark": "simulate",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "results": results,
    }
    print(json.dumps(record(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
