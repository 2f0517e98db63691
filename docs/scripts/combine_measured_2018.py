"""The measured 2016-17 run combined with a simulated vip2-2018 campaign (docs/combination.md).

    python docs/scripts/combine_measured_2018.py [--seed 2018] [--out docs/figures]

Simulates the `vip2-2018` preset (32 SDDs, 39 + 39 days) at energy level with no PEP signal
into runs/sim-vip2-2018-energy, puts its efficiency in the measured run's group (`vip2-mc`,
5 % of 10 % shared: the same Monte Carlo of the setup), then runs, as a user would,

    bayes-vip fit runs/vip2-2016-17 runs/sim-vip2-2018-energy
    bayes-vip sample runs/vip2-2016-17 runs/sim-vip2-2018-energy

(each run is first analysed alone where its results are missing). Writes
docs/figures/combined_measured_2018.json (every run's limits and the combined ones, the
gates, the timings) and copies the combined profile and posterior figures beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")
REPO = Path(__file__).resolve().parents[2]
MEASURED = Path("runs/vip2-2016-17")
SIMULATED = Path("runs/sim-vip2-2018-energy")
GROUP = 'group = "vip2-mc"\nshared_rel = 0.05\n'


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=2018)
    ap.add_argument("--out", type=Path, default=Path("docs/figures"))
    args = ap.parse_args(argv)
    os.chdir(REPO)  # relative paths in every record
    from bayes_vip.cli import main as cli
    from bayes_vip.io.manifest import load_manifest
    from bayes_vip.io.provenance import write_record
    from bayes_vip.pipeline.combine import default_out

    t0 = time.perf_counter()
    if not (SIMULATED / "run.toml").is_file():
        argv_sim = ["simulate", "--preset", "vip2-2018", "--level", "energy", "--signal-counts",
                    "0", "--seed", str(args.seed), "--out", str(SIMULATED)]  # fmt: skip
        if cli(argv_sim) != 0:
            return 1
        toml = SIMULATED / "run.toml"
        text = toml.read_text()
        head, sep, tail = text.partition("[efficiency]\n")
        block, rest = tail.split("\n\n", 1) if "\n\n" in tail else (tail, "")
        toml.write_text(head + sep + block + "\n" + GROUP + "\n" + rest)
    t_sim = time.perf_counter() - t0
    runs = [str(MEASURED), str(SIMULATED)]
    t1 = time.perf_counter()
    if cli(["fit", *runs, "--json"]) != 0:
        return 1
    t_fit = time.perf_counter() - t1
    t2 = time.perf_counter()
    rc = cli(["sample", *runs, "--json"])
    t_sample = time.perf_counter() - t2
    folder = default_out([load_manifest(r) for r in runs])
    lim = json.loads((folder / "results" / "limits.json").read_text())
    classic = json.loads((folder / "results" / "classic.json").read_text())
    rec = {
        "what": "measured vip2-2016-17 combined with a simulated vip2-2018 (no signal)",
        "simulation": {
            "preset": "vip2-2018",
            "level": "energy",
            "seed": args.seed,
            "signal_counts": 0,
        },
        "sample_exit_code": rc,
        "runs": lim["runs"],
        "combined": {
            "beta2half_upper_limits": {
                q: v for q, v in lim["upper_limits"]["beta2half"].items() if isinstance(v, dict)
            },
            "gates": lim["gates"],
            "diagnostics": lim["diagnostics"],
            "model": lim["model"],
            "parameters": lim["sampler"]["parameters"],
            "gradients_per_effective_draw": lim["sampler"]["gradients_per_effective_draw"],
            "seconds": lim["seconds"],
        },
        "classic": {
            "runs": classic["runs"],
            "beta2half_hat": classic["beta2half_hat"],
            "sigma_beta2half": classic["sigma_beta2half"],
            "beta2half_upper_limits": classic["conversion"]["beta2half_upper_limits"],
        },
        "seconds": {"simulate": t_sim, "fit": t_fit, "sample": t_sample},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    copies = {
        "combined_profile.png": "combined_profile_measured_2018.png",
        "bayes_beta2half.png": "combined_beta2half_measured_2018.png",
    }
    for name, target in copies.items():
        shutil.copyfile(folder / "results" / name, args.out / target)
    write_record(args.out / "combined_measured_2018.json", rec)
    print(json.dumps({k: rec[k] for k in ("runs", "seconds")}, indent=1, default=str))
    return 0 if rc == 0 else rc


if __name__ == "__main__":
    sys.exit(main())
