"""Calibration drift recovered by the hierarchical posterior (ADC-level simulated run).

    python docs/scripts/adc_drift_check.py [--run runs/demo] [--inject-eV 15] [--seed 0]

The run's classic per-batch calibration (``bayes-vip calibrate``) starts the model. With
``--inject-eV X`` the classic offset of every second batch is first spoiled by X eV (before
the model's bins, reference calibration and starting point are derived from it), so that the
model has a known miscalibration to undo. After NUTS, for every cell and the energies of
``bayes.drift.REFERENCE_EV``, the posterior energy of the ADC value where the *true*
calibration puts that energy is compared with the truth (central 95 % interval). Prints and
writes ``docs/figures/adc_drift_check.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")

REPO = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=REPO / "runs" / "demo")
    ap.add_argument("--inject-eV", type=float, default=15.0)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "adc_drift_check.json")
    args = ap.parse_args(argv)
    os.environ.setdefault(
        "XLA_FLAGS", f"--xla_force_host_platform_device_count={min(args.chains, 16)}"
    )
    import jax

    jax.config.update("jax_enable_x64", True)
    import arviz as az
    import numpy as np

    from bayes_vip.bayes.data import build_data, default_upper
    from bayes_vip.bayes.drift import calibration_recovery, true_cell_calibration
    from bayes_vip.bayes.sampling import limits, sample_posterior
    from bayes_vip.io.campaign import build_campaign
    from bayes_vip.io.config import default_config
    from bayes_vip.io.manifest import load_manifest
    from bayes_vip.io.provenance import write_record
    from bayes_vip.pipeline.calibrate import ensure_calibration
    from bayes_vip.pipeline.fit import fit

    man = load_manifest(args.run)
    if "truth" not in man.raw:
        print(f"{args.run}: not a simulated run (no [truth])", file=sys.stderr)
        return 2
    cfg = default_config()
    cal = ensure_calibration(args.run, cfg)
    classic = fit(args.run, cfg, figures=False)
    spoiled_cal = cal["batch"].values % 2 == 1  # every second batch, all periods and SDDs
    p = cal["p_refined"].values.copy()
    p[:, :, spoiled_cal, 0] += args.inject_eV
    cal["p_refined"] = (cal["p_refined"].dims, p)
    data = build_data(
        man,
        build_campaign(man),
        classic,
        signal=cfg.signal_line(),
        cal=cal,
        bin_eV=cfg.sample.bin_eV,
    )
    p_true = true_cell_calibration(man, data)
    spoiled = data.batch % 2 == 1
    upper = default_upper(data, classic, "flat-beta")
    m = sample_posterior(
        data,
        upper=upper,
        chains=args.chains,
        warmup=args.warmup,
        samples=args.samples,
        key=jax.random.PRNGKey(args.seed),
        rng=np.random.default_rng(args.seed),
    )
    idata = az.from_numpyro(m, log_likelihood=False)
    rec = calibration_recovery(idata, data, p_true)
    lim = limits(idata, data, "flat-beta", upper)
    rec["run"] = man.name
    rec["inject_eV"] = args.inject_eV
    rec["seed"] = args.seed
    rec["spoiled_cells"] = [int(i) for i in spoiled.nonzero()[0]]
    rec["gates"] = lim["gates"]
    rec["diagnostics"] = lim["diagnostics"]
    write_record(args.out, rec)
    print(
        f"{man.name}: +{args.inject_eV:g} eV on the classic offset of cells {rec['spoiled_cells']}"
    )
    print("| cell (period, SDD, batch) | energy | classic error | posterior error | covered |")
    print("|---|---|---|---|---|")
    for r in rec["cells"]:
        print(
            f"| {r['cell']} ({r['period']}, {r['sdd']}, {r['batch']}) | {r['energy_eV']:g} eV "
            f"| {r['classic_error_eV']:+.1f} eV | {r['posterior_error_eV']:+.1f} "
            f"+- {r['posterior_sd_eV']:.1f} eV | {'yes' if r['covered'] else 'NO'} |"
        )
    print(
        f"covered {rec['covered_fraction']:.0%} of {rec['n']} at {rec['credible_level']:.0%}; "
        f"rms error classic {rec['rms_classic_error_eV']:.1f} eV, posterior "
        f"{rec['rms_posterior_error_eV']:.1f} eV; gates passed: {lim['gates']['passed']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
