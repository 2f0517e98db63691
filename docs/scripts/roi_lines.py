"""Which lines does the 7-11 keV model need? Likelihood-ratio scan on the measured run.

Runs the classic two-step fit with the base lines (Ni Ka, Cu Ka, Cu Kb) and with one
candidate added at a time, and prints JSON: the step-2 statistic, its decrease, the number
of added parameters (one intensity per spectrum), and the candidate's fitted intensities.

Run from the repository root:  python docs/scripts/roi_lines.py [--statistic chi2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("JAX_ENABLE_X64", "1")

from bayes_vip.analysis import classic
from bayes_vip.analysis.spectral import spectra_from_campaign
from bayes_vip.io.campaign import load_campaign
from bayes_vip.io.provenance import record
from bayes_vip.physics.lines import pep_signal

BASE = ("Ni Ka", "Cu Ka", "Cu Kb")
CANDIDATES = ("Fe Kb", "Ni Kb", "Zn Ka", "Zn Kb")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--statistic", default="chi2")
    args = ap.parse_args()
    ds = load_campaign("runs/vip2-2016-17")
    s1 = spectra_from_campaign(ds, 3500, 10000, 10)
    s2 = spectra_from_campaign(ds, 7000, 10000, 10)

    def fit(groups):
        return classic.fit_two_step(
            s1,
            s2,
            signal=pep_signal("ka1"),
            statistic=args.statistic,
            roi_groups=groups,
            profile=False,
        )

    base = fit(BASE)
    out = {
        "statistic": args.statistic,
        "base": {"lines": BASE, "step2": base.step2.fval, "ndf": base.step2.ndf},
        "candidates": {},
    }
    for c in CANDIDATES:
        r = fit((*BASE, c))
        out["candidates"][c] = {
            "step2": r.step2.fval,
            "delta": base.step2.fval - r.step2.fval,
            "added_parameters": 2,
            "intensity_on": [r.step2.values.get(f"on.{c}"), r.step2.errors.get(f"on.{c}")],
            "intensity_off": [r.step2.values.get(f"off.{c}"), r.step2.errors.get(f"off.{c}")],
        }
    print(json.dumps(record(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
