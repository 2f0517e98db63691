"""Development trials of the whitened sampler on one run (issue 13; numbers in docs/bayes.md).

    TA=0.9 python docs/scripts/sampler_trials.py RUN [CHAINS WARMUP SAMPLES MAX_DRAWS]

Builds the run's model from its classic.json, runs ``sampling.sample_posterior`` and prints
the gradients, step sizes, divergences, diagnostics, gates and limits as JSON, then the
quantiles of the global nuisances and the per-cell noise posteriors.
"""
import os, sys, json, time
os.environ.setdefault("JAX_ENABLE_X64", "1")
chains = int(sys.argv[2]) if len(sys.argv) > 2 else 4
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={chains}")
import jax, numpy as np
jax.config.update("jax_enable_x64", True)
from pathlib import Path
from bayes_vip.io.config import load_config
from bayes_vip.io.manifest import load_manifest
from bayes_vip.io.campaign import build_campaign
from bayes_vip.bayes.data import build_data, default_upper
from bayes_vip.bayes.sampling import sample_posterior
run = Path(sys.argv[1])
warm = int(sys.argv[3]) if len(sys.argv) > 3 else 300
samples = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
cfg = load_config(run)
man = load_manifest(run)
classic = json.loads((run / "results" / "classic.json").read_text())
t = time.perf_counter()
d = build_data(man, build_campaign(man), classic, signal=cfg.signal_line(), bin_eV=cfg.sample.bin_eV)
up = default_upper(d, classic, "flat-beta")
print("build", time.perf_counter() - t, "cells", d.n_cell, flush=True)
t = time.perf_counter()
res = sample_posterior(d, prior="flat-beta", upper=up, chains=chains, warmup=warm, samples=samples,
    max_draws=int(sys.argv[5]) if len(sys.argv) > 5 else samples, target_accept=float(os.environ.get("TA", "0.8")), key=jax.random.PRNGKey(0), rng=np.random.default_rng(0),
    progress=lambda a, b, c: print(a, b, round(time.perf_counter() - t, 1), flush=True) if a % 200 == 0 else None)
wall = time.perf_counter() - t
info = res.info; dg = res.limits["diagnostics"]
print(json.dumps({"wall": wall, "sec": info["seconds"], "grads": info["gradients"], "warm_grads": info["warmup_gradients"],
  "gpe": info["gradients_per_effective_draw"], "step": info["step_size"], "warm_div": info["warmup_divergences"],
  "diag": dg, "gates": res.limits["gates"]["failed"],
  "ul": {k: v for k, v in res.limits["upper_limits"]["beta2half"].items() if k in ("0.95", "0.997")}}, indent=1, default=str))
po = res.idata.posterior
for v in ("tail_frac", "tail_beta", "shelf_frac", "fano", "beta2half_1e29", "efficiency"):
    x = po[v].values
    print(v, np.round(np.quantile(x, [0.001, 0.05, 0.5, 0.95, 0.999]), 4), "per-chain median", np.round(np.median(x, axis=1), 4))
lap = None
ln = np.log(po["noise"].values)
print("log_noise posterior sd per cell", np.round(ln.std(axis=(0, 1)), 4).tolist())
print("log_noise medians", np.round(np.median(ln, axis=(0, 1)), 3).tolist())
print("extensions", res.info["extensions"], "draws", res.info["draws_per_chain"])
res.idata.to_netcdf("/tmp/dev.nc")
