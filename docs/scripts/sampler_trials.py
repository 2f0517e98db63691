"""Trials of the whitened sampler on one run (issue 13; the numbers in docs/bayes.md).

    TA=0.95 python docs/scripts/sampler_trials.py RUN [CHAINS WARMUP SAMPLES MAX_DRAWS]

Builds the run's model from its ``results/classic.json``, runs
``sampling.sample_posterior`` and prints the gradients, step sizes, divergences,
diagnostics, gates and limits as JSON, then quantiles of the global nuisances and the
per-cell noise posteriors.
"""

import json
import os
import sys
import time
from pathlib import Path

CHAINS = int(sys.argv[2]) if len(sys.argv) > 2 else 4
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={CHAINS}")

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from bayes_vip.bayes.data import build_data, default_upper  # noqa: E402
from bayes_vip.bayes.sampling import sample_posterior  # noqa: E402
from bayes_vip.io.campaign import build_campaign  # noqa: E402
from bayes_vip.io.config import load_config  # noqa: E402
from bayes_vip.io.manifest import load_manifest  # noqa: E402


def main() -> None:
    run = Path(sys.argv[1])
    warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    samples = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    max_draws = int(sys.argv[5]) if len(sys.argv) > 5 else samples
    cfg, man = load_config(run), load_manifest(run)
    classic = json.loads((run / "results" / "classic.json").read_text())
    d = build_data(
        man, build_campaign(man), classic, signal=cfg.signal_line(), bin_eV=cfg.sample.bin_eV
    )
    upper = default_upper(d, classic, "flat-beta")
    t = time.perf_counter()

    def progress(done, total, _info):
        if done % 200 == 0:
            print(done, total, round(time.perf_counter() - t, 1), flush=True)

    res = sample_posterior(
        d,
        prior="flat-beta",
        upper=upper,
        chains=CHAINS,
        warmup=warmup,
        samples=samples,
        max_draws=max_draws,
        target_accept=float(os.environ.get("TA", "0.95")),
        key=jax.random.PRNGKey(0),
        rng=np.random.default_rng(0),
        progress=progress,
    )
    info, dg = res.info, res.limits["diagnostics"]
    ul = res.limits["upper_limits"]["beta2half"]
    keys = ("gradients", "warmup_gradients", "gradients_per_effective_draw", "step_size")
    out = {
        "wall": time.perf_counter() - t,
        "seconds": info["seconds"],
        **{k: info[k] for k in keys},
        "warmup_divergences": info["warmup_divergences"],
        "diagnostics": dg,
        "gates_failed": res.limits["gates"]["failed"],
        "extensions": info["extensions"],
        "ul": {k: v for k, v in ul.items() if k in ("0.95", "0.997")},
    }
    print(json.dumps(out, indent=1, default=str))
    po = res.idata.posterior
    for v in ("tail_frac", "tail_beta", "shelf_frac", "fano", "beta2half_1e29", "efficiency"):
        x = po[v].values
        q = np.round(np.quantile(x, [0.001, 0.05, 0.5, 0.95, 0.999]), 4)
        print(v, q, "per-chain median", np.round(np.median(x, axis=1), 4))
    ln = np.log(po["noise"].values)
    print("log_noise posterior sd per cell", np.round(ln.std(axis=(0, 1)), 4).tolist())
    print("log_noise medians", np.round(np.median(ln, axis=(0, 1)), 3).tolist())


if __name__ == "__main__":
    main()
