"""Figures of the analyses (matplotlib, Agg backend), written atomically as PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayes_vip.analysis.spectral import SPECTRA, JointModel, Spectra  # noqa: E402
from bayes_vip.io.atomic import atomic_path  # noqa: E402

__all__ = ["plot_joint_fit", "save"]

_LABEL = {"on": "current on", "off": "current off"}


def save(fig, path: Path) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


def plot_joint_fit(
    spectra: Spectra,
    jm: JointModel,
    x,
    title: str,
    path: Path,
    *,
    xlim: tuple[float, float] | None = None,
    logy: bool = True,
    mark: dict[str, float] | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> Path:
    """Both spectra with the total fit, its components, and the residuals (data - fit)/sqrt(fit).

    ``mark``: vertical lines (label -> energy). ``extra``: additional curves for the
    current-on panel (label -> expected counts per bin), e.g. the PEP line at its limit.
    """
    import jax.numpy as jnp

    edges = jnp.asarray(spectra.edges)
    mu = np.asarray(jm.expected(jnp.asarray(x), edges))
    comps = jm.components(jnp.asarray(x), edges)
    c = spectra.centres
    sel = np.ones_like(c, dtype=bool) if xlim is None else (c >= xlim[0]) & (c <= xlim[1])
    fig, axes = plt.subplots(4, 1, figsize=(11, 11), height_ratios=[3, 1, 3, 1], sharex=True)
    for j, s in enumerate(SPECTRA):
        ax, axr = axes[2 * j], axes[2 * j + 1]
        n = spectra.counts[j]
        ax.errorbar(
            c[sel],
            n[sel],
            yerr=np.sqrt(np.maximum(n[sel], 1)),
            fmt=".",
            ms=2,
            color="k",
            lw=0.5,
            label=f"data, {_LABEL[s]}",
        )
        ax.plot(c[sel], mu[j][sel], color="C3", lw=1.2, label="fit")
        for k, (name, comp) in enumerate(comps.items()):
            if np.max(comp[j][sel], initial=0.0) <= 0:
                continue
            ax.plot(c[sel], comp[j][sel], lw=0.8, ls="--", color=f"C{k % 10}", label=name)
        if extra and s == "on":
            for name, curve in extra.items():
                ax.plot(c[sel], curve[sel], lw=1.2, color="m", label=name)
        for name, e in (mark or {}).items():
            ax.axvline(e, color="grey", lw=0.6, ls=":")
            ax.text(
                e,
                0.97,
                name,
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                transform=ax.get_xaxis_transform(),
            )
        if logy:
            ax.set_yscale("log")
            ax.set_ylim(max(0.5, 0.3 * np.min(mu[j][sel])), 3 * np.max(n[sel]))
        ax.set_ylabel(f"counts / {np.diff(spectra.edges)[0]:g} eV")
        ax.legend(fontsize=7, ncol=3, loc="upper right")
        res = (n - mu[j]) / np.sqrt(np.maximum(mu[j], 1e-9))
        axr.plot(c[sel], res[sel], ".", ms=2, color="k")
        axr.axhline(0, color="C3", lw=0.8)
        axr.set_ylabel("(data-fit)/sqrt(fit)", fontsize=8)
        axr.set_ylim(-5, 5)
    axes[-1].set_xlabel("energy [eV]")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)
