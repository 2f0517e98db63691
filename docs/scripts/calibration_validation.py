"""Validate the calibration on the vip2-2018 preset (32 SDDs, 39 + 39 days, 2-day batches).

    python docs/scripts/calibration_validation.py [--seed 2018] [--out runs/sim-vip2-2018]

Measures, and prints as JSON (also written to docs/figures/calibration_validation.json):

1. the Cu Ka FWHM (seed 002 eq. 4 on the sum of all batches) with the true calibration,
   the 2-day standard calibration, the refined ones (Cu only; Cu + Ti + Mn), and the
   monthly (720 h) standard calibration;
2. an injected miscalibration: +15 eV on p0 of every 7th calibrated batch of the standard
   result, then refinement; the energy error at Cu Ka of those batches before and after,
   and their centroid-shift pulls against the others';
3. wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def _cu_energy(p, a):
    return p[..., 0] + p[..., 1] * a + p[..., 2] * a * a


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=2018)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "sim-vip2-2018")
    ap.add_argument("--inject-eV", type=float, default=15.0)
    args = ap.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.calibration.calibrate import CalibrationWarning, calibrate
    from bayes_vip.calibration.cu_ka import fit_cu_ka, summed_energy_spectrum
    from bayes_vip.calibration.refine import refine
    from bayes_vip.io.campaign import load_campaign
    from bayes_vip.io.manifest import load_manifest
    from bayes_vip.io.provenance import write_record
    from bayes_vip.physics.lines import line_group
    from bayes_vip.physics.response import energy_to_adc
    from bayes_vip.simulate.presets import preset
    from bayes_vip.simulate.simulator import simulate_campaign, write_campaign

    warnings.simplefilter("ignore", CalibrationWarning)
    if not (args.out / "run.toml").is_file():
        write_campaign(
            simulate_campaign(preset("vip2-2018"), rng=np.random.default_rng(args.seed)), args.out
        )
    man = load_manifest(args.out)
    ds = load_campaign(args.out)
    counts = ds["counts"].values
    p_true = np.asarray(man.raw["truth"]["calibration"])
    res: dict = {
        "run": str(args.out),
        "seed": args.seed,
        "cells": int((ds["live_time_s"].values > 0).sum()),
    }

    t = time.perf_counter()
    cal = calibrate(ds, refine=False)
    res["seconds_standard"] = time.perf_counter() - t
    ok = cal["status"].values == 0
    res["excluded"] = int((cal["status"].values == 1).sum())
    p_std = cal["p_standard"].values

    def fwhm(p, c=counts, mask=ok):
        h, e = summed_energy_spectrum(c, p, mask, rng=np.random.default_rng(0))
        r = fit_cu_ka(h, e)
        return {k: r[k] for k in ("position_eV", "fwhm_eV", "chi2_ndf")}

    table = {"true calibration": fwhm(p_true), "standard, 2-day batches": fwhm(p_std)}
    e_cu = line_group("Cu Ka").energies[0]
    a_cu = np.asarray(energy_to_adc(e_cu, p_true))
    idx = np.argwhere(ok)
    ps_index = np.unique(idx[:, 0] * ds.sizes["sdd"] + idx[:, 1], return_inverse=True)[1]
    err = {"standard": _cu_energy(p_std, a_cu)[ok] - e_cu}
    for lines in ("cu", "all"):
        t = time.perf_counter()
        r = refine(counts[ok], p_std[ok], ps_index, lines=lines)
        res[f"seconds_refine_{lines}"] = time.perf_counter() - t
        p = p_std.copy()
        p[ok] = r.p
        table[f"refined ({lines}), 2-day batches"] = fwhm(p)
        err[f"refined_{lines}"] = _cu_energy(p, a_cu)[ok] - e_cu

    t = time.perf_counter()
    monthly = calibrate(ds, batch_hours=720.0, refine=False)
    res["seconds_standard_monthly"] = time.perf_counter() - t
    from bayes_vip.calibration.calibrate import regroup_batches

    cm = regroup_batches(ds, 720.0)["counts"].values
    table["standard, monthly batches"] = fwhm(
        monthly["p_standard"].values, cm, monthly["status"].values == 0
    )
    res["cu_ka_table"] = table
    res["cu_energy_error_eV_rms"] = {k: float(np.sqrt(np.mean(v**2))) for k, v in err.items()}
    true_fwhm = table["true calibration"]["fwhm_eV"][0]
    res["fwhm_minus_true_eV"] = {k: v["fwhm_eV"][0] - true_fwhm for k, v in table.items()}

    # injected miscalibration
    sel = np.zeros(int(ok.sum()), dtype=bool)
    sel[::7] = True
    p_inj = p_std[ok].copy()
    p_inj[sel, 0] += args.inject_eV
    a_ok = a_cu[ok]
    inj = {"n_injected": int(sel.sum()), "offset_eV": args.inject_eV}
    before = _cu_energy(p_inj, a_ok) - e_cu
    inj["cu_error_before_eV"] = {
        "injected_mean": float(before[sel].mean()),
        "others_mean": float(before[~sel].mean()),
    }
    for lines in ("cu", "all"):
        r = refine(counts[ok], p_inj, ps_index, lines=lines)
        after = _cu_energy(r.p, a_ok) - e_cu
        shift = r.anchor_shift_eV[:, 2] / r.anchor_err_eV[:, 2]
        inj[lines] = {
            "cu_error_after_injected_mean_eV": float(after[sel].mean()),
            "cu_error_after_injected_sd_eV": float(after[sel].std()),
            "cu_error_after_others_mean_eV": float(after[~sel].mean()),
            "cu_anchor_shift_pull_injected_mean": float(shift[sel].mean()),
            "cu_anchor_shift_pull_others_mean": float(shift[~sel].mean()),
            "flagged_at_2sigma": {
                "injected": float(np.mean(shift[sel] < -2)),
                "others": float(np.mean(shift[~sel] < -2)),
            },
            "ti_anchor_shift_injected_mean_eV": float(r.anchor_shift_eV[sel, 0].mean()),
        }
    res["injection"] = inj
    print(json.dumps(res, indent=1))
    write_record(REPO / "docs" / "figures" / "calibration_validation.json", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
