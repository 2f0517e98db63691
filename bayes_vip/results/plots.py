"""Figure helpers shared by the results modules (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bayes_vip.io.atomic import atomic_path

__all__ = ["brazil", "save"]


def save(fig, path: Path) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


def brazil(
    rows: list[tuple[str, dict[str, float], float | None]],
    *,
    xlabel: str,
    title: str,
    label: str,
    path: Path,
) -> Path:
    """A "Brazil" figure of upper limits: one row per limit, top to bottom.

    Each row is ``(name, bands, observed)``: ``bands`` maps "-2", "-1", "median", "+1", "+2"
    to the expected limit there (the +-1 sigma band green, +-2 sigma yellow, the median
    dashed), or is None (a row without expected limits); ``observed`` (a black dot) may be
    None.
    """
    import mplhep as hep

    with plt.style.context(hep.style.ROOT):
        fig, ax = plt.subplots(figsize=(12, 2.2 + 0.8 * max(len(rows), 1)))
        labelled: set[str] = set()

        def once(name: str) -> str | None:
            new = name not in labelled
            labelled.add(name)
            return name if new else None

        for i, (_, b, observed) in enumerate(rows):
            y = len(rows) - 1 - i
            span = [y - 0.35, y + 0.35]
            if b is not None:
                for k, colour in (("2", "#fdd835"), ("1", "#43a047")):
                    band = once(f"expected $\\pm {k}\\sigma$")
                    ax.fill_betweenx(span, b["-" + k], b["+" + k], color=colour, label=band)
                ax.plot([b["median"]] * 2, span, "k--", label=once("expected median"))
            if observed is not None:
                ax.plot(observed, y, "ko", label=once("observed"))
        ax.set_yticks(range(len(rows) - 1, -1, -1), [name for name, _, _ in rows])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel(xlabel)
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=11,
            title=title.replace(": ", ":\n", 1),
            title_fontsize=11,
        )
        fig.tight_layout(rect=(0, 0, 1, 0.93))
        hep.label.exp_text("VIP-2", label, ax=ax, loc=0)
        return save(fig, path)
