"""Figures of the toy studies (mplhep's HEP style)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayes_vip.results.plots import save

__all__ = ["coverage_figure"]


def coverage_figure(summary: dict[str, Any], spec: dict[str, Any], path: Path) -> Path:
    """Coverage of the 95 % limits against the injected signal, with Clopper-Pearson bars.

    The band marks 95 +- 2 %, the target of issue 14; the zero-signal point is left out
    (every limit lies above a true zero).
    """
    import matplotlib.pyplot as plt
    import mplhep as hep

    series = [("classic_profile", "classic profile likelihood", "o", -0.06)]
    if "bayes" in spec["methods"]:
        series += [
            ("bayes_all", "Bayesian, all toys", "s", 0.0),
            ("bayes_gates_passed", "Bayesian, toys passing the gates", "^", 0.06),
        ]
    with plt.style.context(hep.style.ROOT):
        fig, ax = plt.subplots(figsize=(8, 6))
        ax.axhspan(0.93, 0.97, color="0.85", label="95 $\\pm$ 2 %")
        ax.axhline(0.95, color="0.4", lw=1)
        for key, label, marker, dx in series:
            xs, ys, lo, hi = [], [], [], []
            for lv in summary["multiples"]:
                c = lv["coverage"]["95"][key]
                if lv["multiple"] == 0 or c["n"] == 0:
                    continue
                xs.append(lv["multiple"] + dx)
                ys.append(c["fraction"])
                lo.append(c["fraction"] - c["cp95"][0])
                hi.append(c["cp95"][1] - c["fraction"])
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], fmt=marker, capsize=3, label=label)
        n = spec["toys_per_multiple"]
        ax.set_xlabel("injected signal [classic $\\sigma(N_X)$]")
        ax.set_ylabel("P(95 % upper limit $\\geq$ truth)")
        ax.set_ylim(min(0.8, ax.get_ylim()[0]), 1.005)
        ax.legend(
            loc="lower left",
            fontsize=13,
            title=f"{spec['run']} layout, {spec['level']} level, {n} toys per point",
            title_fontsize=13,
        )
        hep.label.exp_text("VIP-2", "toy study", ax=ax, loc=0)
        return save(fig, path)
