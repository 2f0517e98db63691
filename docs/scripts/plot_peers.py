"""Figure: the project's sampler beside its peers (docs/figures/bench_peers.png).

Reads the JSON that ``python benchmarks/bench_peers.py`` printed (saved as
``docs/figures/bench_peers.json``) and draws, per sampler, the effective draws of beta^2/2
per second, and the 95 % and 99.7 % quantiles of beta^2/2 with their Monte Carlo standard
errors. Samplers that miss a gate (R-hat > 1.01, tail ESS < 400 or a divergence) are drawn
hollow.

Run from the repository root:  python docs/scripts/plot_peers.py
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SRC = "docs/figures/bench_peers.json"
OUT = "docs/figures/bench_peers.png"


def main() -> int:
    with open(SRC) as f:
        res = json.load(f)
    names = list(res["samplers"])
    s = [res["samplers"][n] for n in names]
    ok = [
        r["r_hat_max"] <= 1.01 and r["ess_tail_beta2half"] >= 400 and r["divergences"] == 0
        for r in s
    ]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    y = range(len(names))
    for i, (r, good) in enumerate(zip(s, ok, strict=True)):
        a.barh(i, r["ess_per_s_beta2half"], color="C0" if good else "none", edgecolor="C0")
        a.text(r["ess_per_s_beta2half"], i, f" {r['ess_per_s_beta2half']:.1f}", va="center")
    a.set_yticks(list(y), names)
    a.invert_yaxis()
    a.set_xlabel("bulk ESS of beta^2/2 per second (wall)")
    a.set_title("speed (hollow: a gate fails)", fontsize=10)
    for j, (p, c) in enumerate((("0.95", "C1"), ("0.997", "C2"))):
        for i, (r, good) in enumerate(zip(s, ok, strict=True)):
            q = r["quantiles_beta2half_1e29"][p]
            b.errorbar(
                q["value"],
                i + 0.12 * (2 * j - 1),
                xerr=q["mcse"],
                fmt="o",
                color=c,
                mfc=c if good else "white",
                label=f"{float(p):.1%} quantile" if i == 0 else None,
            )
    b.set_yticks(list(y), names)
    b.invert_yaxis()
    b.set_xlabel("beta^2/2 [1e-29]  (error bar: MCSE)")
    b.set_title(f"limits, measured run ({res['posterior']['parameters']} parameters)", fontsize=10)
    b.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    prov = res["provenance"]
    fig.suptitle(f"{prov['command']} at {prov['commit'][:7]}; {res['machine']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
