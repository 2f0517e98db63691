"""Wall time of the classic two-step fit (with the profile-likelihood scan); prints JSON.

Runs on the measured run (runs/vip2-2016-17) and on the vip2-2018 preset simulated at energy
level (32 SDDs summed). Each is timed twice in one process: "cold" includes JAX
compilation, "warm" reuses the compiled model.

Run from the repository root:  python benchmarks/bench_fit.py
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("JAX_ENABLE_X64", "1")

import numpy as np

from bayes_vip.analysis import classic
from bayes_vip.analysis.spectral import spectra_from_campaign
from bayes_vip.io.campaign import load_campaign
from bayes_vip.io.provenance import record
from bayes_vip.physics.lines import pep_signal
from bayes_vip.simulate.presets import preset
from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign


def _time_fit(ds, statistic: str) -> dict:
    hi = min(11000.0, float(ds["channel_hi"].values[-1]))
    s1 = spectra_from_campaign(ds, 3500, hi, 10)
    s2 = spectra_from_campaign(ds, 7000, hi, 10)
    out = {}
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        r = classic.fit_two_step(s1, s2, signal=pep_signal("ka1"), statistic=statistic)
        out[f"{label}_s"] = round(time.perf_counter() - t0, 2)
    out.update(
        N_X=round(r.n_x, 1),
        sigma_N_X=round(r.sigma_n_x, 1),
        step2_chi2_ndf=round(r.step2.fval / r.step2.ndf, 3),
        valid=r.step2.is_valid,
    )
    return out


def main() -> int:
    results = {}
    ds = load_campaign("runs/vip2-2016-17")
    results["vip2-2016-17 (measured)"] = {s: _time_fit(ds, s) for s in ("chi2", "poisson")}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sim = simulate_campaign(preset("vip2-2018"), rng=np.random.default_rng(1))
        write_energy_campaign(sim, tmp, rng=np.random.default_rng(1))
        prep = time.perf_counter() - t0
        ds = load_campaign(tmp)
        results["vip2-2018 (simulated, energy level)"] = {
            "simulate_s": round(prep, 1),
            **{s: _time_fit(ds, s) for s in ("chi2", "poisson")},
        }
    out = {
        "benchmark": "classic two-step fit incl. profile scan",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    print(json.dumps(record(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
