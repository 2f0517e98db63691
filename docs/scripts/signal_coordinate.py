"""The signal's unconstrained coordinate: numpyro's logit map against the softplus map.

    python docs/scripts/signal_coordinate.py [RUN] [--seeds 0,1,2,3]

For each seed, runs ``sampling.sample_posterior`` on the run (default ``runs/vip2-2016-17``,
flat-beta, the defaults: 4 chains, 300 warm-up, 1000 draws, no extension) once with each map
of the signal site (``model.SIGNAL_SOFTPLUS``), one after the other in this process, and
writes the gradients per effective draw of beta^2/2, its bulk ESS, the adapted step, the
divergences, the gates and the limits to ``docs/figures/signal_coordinate.json``. The two
maps give the same model (``test_the_signals_coordinate_does_not_change_the_model``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from bayes_vip.bayes import model  # noqa: E402
from bayes_vip.bayes.data import build_data, default_upper  # noqa: E402
from bayes_vip.bayes.sampling import sample_posterior  # noqa: E402
from bayes_vip.io.campaign import build_campaign  # noqa: E402
from bayes_vip.io.config import load_config  # noqa: E402
from bayes_vip.io.manifest import load_manifest  # noqa: E402
from bayes_vip.io.provenance import REPO, write_record  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", default=str(REPO / "runs" / "vip2-2016-17"))
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--out", default=str(REPO / "docs" / "figures" / "signal_coordinate.json"))
    args = ap.parse_args()
    run = Path(args.run)
    cfg, man = load_config(run), load_manifest(run)
    classic = json.loads((run / "results" / "classic.json").read_text())
    d = build_data(
        man, build_campaign(man), classic, signal=cfg.signal_line(), bin_eV=cfg.sample.bin_eV
    )
    upper = default_upper(d, classic, "flat-beta")
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for soft in (False, True):
            model.SIGNAL_SOFTPLUS = soft
            t = time.perf_counter()
            res = sample_posterior(
                d,
                prior="flat-beta",
                upper=upper,
                key=jax.random.PRNGKey(seed),
                rng=np.random.default_rng(seed),
            )
            info, dg = res.info, res.limits["diagnostics"]
            ul = res.limits["upper_limits"]["beta2half"]
            row = {
                "seed": seed,
                "signal_map": "softplus" if soft else "logit",
                "wall_s": round(time.perf_counter() - t, 1),
                "gradients": info["gradients"],
                "gradients_per_effective_draw": round(info["gradients_per_effective_draw"], 1),
                "ess_bulk_beta2half": round(dg["ess_bulk_beta2half"]),
                "step_size": round(info["step_size"][0], 4),
                "divergences": dg["divergences"],
                "warmup_divergences": info["warmup_divergences"],
                "r_hat_max": round(dg["r_hat_max"], 4),
                "gates_failed": res.limits["gates"]["failed"],
                "ul95_beta2half_1e29": round(ul["0.95"]["value"] / 1e-29, 4),
                "ul997_beta2half_1e29": round(ul["0.997"]["value"] / 1e-29, 4),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for name in ("logit", "softplus"):
        r = [x for x in rows if x["signal_map"] == name]
        summary[name] = {
            "median_gradients_per_effective_draw": float(
                np.median([x["gradients_per_effective_draw"] for x in r])
            ),
            "median_ess_bulk_beta2half": float(np.median([x["ess_bulk_beta2half"] for x in r])),
            "runs_with_divergences": sum(x["divergences"] > 0 for x in r),
            "runs": len(r),
        }
    out = {"machine": "x86_64, 2 cores, CPU", "rows": rows, "summary": summary}
    write_record(Path(args.out), out)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
