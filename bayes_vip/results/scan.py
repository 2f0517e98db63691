"""The energy scan's figure: limits against the line's energy, and the local significance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayes_vip.physics.lines import pep_signal
from bayes_vip.results.plots import save

__all__ = ["scan_figure"]


def scan_figure(record: dict[str, Any], path: Path) -> Path:
    """Observed CLs and profile limits on N_X with the expected CLs bands (top), Z (bottom)."""
    import matplotlib.pyplot as plt
    import mplhep as hep

    pts = [p for p in record["points"] if p["valid"]]
    e = [p["energy_eV"] for p in pts]
    band = {k: [p["expected_cls"][k] for p in pts] for k in ("-2", "-1", "+0", "+1", "+2")}
    level = 100 * record["level"]
    with plt.style.context(hep.style.ROOT):
        fig, (ax, az) = plt.subplots(
            2, 1, figsize=(10, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        ax.fill_between(
            e, band["-2"], band["+2"], color="#fdd835", label="expected $\\pm 2\\sigma$"
        )
        ax.fill_between(
            e, band["-1"], band["+1"], color="#43a047", label="expected $\\pm 1\\sigma$"
        )
        ax.plot(e, band["+0"], "k--", label="expected median (CLs)")
        ax.plot(e, [p["cls"] for p in pts], "k-", lw=2, label=f"observed CLs {level:g} %")
        ax.plot(
            e,
            [p["profile"] for p in pts],
            "-",
            color="#1e88e5",
            label=f"observed profile {level:g} %",
        )
        for ln in pep_signal("doublet").lines:
            for a in (ax, az):
                a.axvline(ln.energy_eV, color="grey", lw=1, ls=":")
        ax.set_ylabel("upper limit on $N_X$ [counts]")
        ax.set_ylim(0, 1.3 * max(band["+2"]))
        ax.legend(fontsize=11, loc="upper left", ncol=2)
        az.plot(e, [p["z_local"] for p in pts], "k-")
        az.set_ylabel("local Z")
        az.set_xlabel("energy of the line [eV] (dotted: PEP Ka1, Ka2)")
        lee = record["largest_excess"]
        az.set_ylim(0, max(3.0, 1.2 * lee["z_local"]))
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        hep.label.exp_text("VIP-2", f"{record['run']}, {record['statistic']}", ax=ax, loc=0)
        return save(fig, path)
