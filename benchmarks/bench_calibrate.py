"""Speed and memory of the calibration; prints JSON.

- wall time and peak memory (ru_maxrss of a fresh subprocess) to calibrate the vip2-2018
  preset (32 SDDs x 40 two-day batches), standard only and standard + refinement;
- CNN inference time per spectrum (batched, warm);
- training time: read from the shipped model's metadata (``bayes-vip train-peakfinder``
  measures and records it), or measured with ``--train``.

Run from the repository root:  python benchmarks/bench_calibrate.py [--train]
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bayes_vip.io.provenance import record

os.environ.setdefault("JAX_ENABLE_X64", "1")

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "runs" / "sim-vip2-2018"

_CHILD = """
import json, os, resource, sys, time, warnings
os.environ["JAX_ENABLE_X64"] = "1"
import jax
jax.config.update("jax_enable_x64", True)
from bayes_vip.calibration.calibrate import CalibrationWarning, calibrate
from bayes_vip.io.campaign import load_campaign
warnings.simplefilter("ignore", CalibrationWarning)
ds = load_campaign(sys.argv[1])
t = time.perf_counter()
cal = calibrate(ds, refine=sys.argv[2] == "refined")
print(json.dumps({"wall_s": round(time.perf_counter() - t, 1),
                  "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                  "cells": int((cal["status"].values == 0).sum())}))
"""


def main() -> int:
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.calibration.synthetic import draw_spectra
    from bayes_vip.calibration.train import load_model, predict_adc

    if not (RUN / "run.toml").is_file():
        from bayes_vip.simulate.presets import preset
        from bayes_vip.simulate.simulator import simulate_campaign, write_campaign

        write_campaign(simulate_campaign(preset("vip2-2018"), rng=np.random.default_rng(2018)), RUN)
    out: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"}
    for mode in ("standard", "refined"):
        r = subprocess.run(
            [sys.executable, "-c", _CHILD, str(RUN), mode],
            capture_output=True,
            text=True,
            check=True,
        )
        out[f"vip2-2018 {mode}"] = json.loads(r.stdout.strip().splitlines()[-1])
    model, meta = load_model()
    d = draw_spectra(2048, (6e4, 6e4), rng=np.random.default_rng(0))
    predict_adc(model, d["x"])  # compile
    t = time.perf_counter()
    predict_adc(model, d["x"])
    out["cnn_inference_us_per_spectrum"] = round((time.perf_counter() - t) / 2048 * 1e6, 1)
    rec = meta.get("record", {})
    out["training_s (shipped model, from its metadata)"] = round(
        rec.get("total_seconds", float("nan")), 1
    )
    if "--train" in sys.argv:
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bayes_vip.cli",
                "train-peakfinder",
                "--out",
                str(REPO / "runs" / "bench-peakfinder"),
                "--json",
            ],
            check=True,
            capture_output=True,
        )
        out["training_s (measured now, with metrics)"] = round(time.perf_counter() - t, 1)
    print(json.dumps(record(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
