"""The two prior sets of the hierarchical model, side by side on the same runs.

    python docs/scripts/prior_sets.py [--runs demo,measured]

For each run, ``bayes-vip sample RUN --priors empirical-bayes --json`` and then ``--priors
external`` (the same seed and defaults, one after the other; the calibration and the classic
fit are made by the first and reused by the second). ``demo`` is the demo preset simulated
with seed 0 into a temporary directory (ADC level, as ``bayes-vip sample`` with no run makes
it); ``measured`` is ``runs/vip2-2016-17``. Writes the gates, the diagnostics, the limits,
the prior centres and the times to ``docs/figures/prior_sets.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETS = ("empirical-bayes", "external")


def _cli(*args: str) -> tuple[int, dict, float]:
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "bayes_vip.cli", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 3):
        sys.exit(f"bayes-vip {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return p.returncode, json.loads(p.stdout), wall


def _row(rc: int, lim: dict, wall: float) -> dict:
    d, s = lim["diagnostics"], lim["sampler"]
    ul = lim["upper_limits"]
    return {
        "exit_code": rc,
        "wall_s": wall,
        "seconds": lim["seconds"],
        "gates_passed": lim["gates"]["passed"],
        "gates_failed": lim["gates"].get("failed", []),
        "draws_per_chain": s["draws_per_chain"],
        "gradients_per_effective_draw": s["gradients_per_effective_draw"],
        "ess_bulk_beta2half": d["ess_bulk_beta2half"],
        "ess_bulk_min": [d["ess_bulk_min"], d["ess_bulk_min_site"]],
        "r_hat_max": [d["r_hat_max"], d["r_hat_max_site"]],
        "divergences": d["divergences"],
        "limits_N_X": {k: ul["N_X"][k]["value"] for k in ("0.9", "0.95", "0.997")},
        "limits_N_X_mcse": {k: ul["N_X"][k]["mcse"] for k in ("0.9", "0.95", "0.997")},
        "limits_beta2half": {k: ul["beta2half"][k]["value"] for k in ("0.9", "0.95", "0.997")},
        "posterior_median_N_X": ul["N_X"]["median"],
        "bayes_factor_10": lim.get("bayes_factor", {}).get("BF_10_signal_vs_no_signal"),
        "priors": {k: v for k, v in lim["priors"].items() if k != "lines_below"},
        "lines_below_chi2_ndf": (
            lim["priors"]["lines_below"]["fval"] / lim["priors"]["lines_below"]["ndf"]
            if "lines_below" in lim["priors"]
            else None
        ),
        "classic_N_X": [lim["classic"]["N_X"], lim["classic"]["sigma_N_X"]],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="demo,measured")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from bayes_vip.io.provenance import write_record

    out: dict = {"machine": "x86_64, 2 cores, CPU only", "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"demo": Path(tmp) / "demo", "measured": REPO / "runs" / "vip2-2016-17"}
        for name in args.runs.split(","):
            run = paths[name]
            if name == "demo":
                _cli("simulate", "--preset", "demo", "--seed", "0", "--out", str(run))
            out["runs"][name] = {}
            for priors in SETS:
                rc, lim, wall = _cli("sample", str(run), "--priors", priors)
                out["runs"][name][priors] = row = _row(rc, lim, wall)
                print(
                    f"{name} {priors}: exit {rc}, {wall:.0f} s, gates "
                    f"{'passed' if row['gates_passed'] else row['gates_failed']}, "
                    f"UL95 {row['limits_N_X']['0.95']:.1f} counts, "
                    f"{row['gradients_per_effective_draw']:.0f} gradients per effective draw",
                    flush=True,
                )
    write_record(REPO / "docs" / "figures" / "prior_sets.json", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
