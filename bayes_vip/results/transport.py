"""Figures of the seed-001 transport model.

Figs. 2 and 3 of the seed, and the X-ray yield versus current.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayes_vip.physics import transport as tr
from bayes_vip.results.plots import save

__all__ = [
    "FIG_CONNECTOR_M",
    "FIG_D_SCALE",
    "FIG_RESERVOIR_RATIO",
    "fig_pdf",
    "fig_signal",
    "fig_yield",
    "transport_figures",
    "yield_vs_current",
]

#: Figure 2 of seed 001: reservoir volume / target volume, connector length, and the
#: diffusion constant scaled by 1/100 "to obtain clearer figures".
FIG_RESERVOIR_RATIO = 2.3e6
FIG_CONNECTOR_M = 0.01
FIG_D_SCALE = 0.01


def _reservoir(t: tr.Target, cu: tr.Copper, current: float, d_scale: float = FIG_D_SCALE):
    from dataclasses import replace

    tt = replace(t, current_A=current)
    x_max = -FIG_CONNECTOR_M
    x_min = x_max - FIG_RESERVOIR_RATIO * t.length_m
    return {
        "x_min": x_min,
        "x_max": x_max,
        "v_d": tr.drift_velocity(tt, cu),
        "D": tr.diffusion_constant(cu) * d_scale,
    }


def fig_pdf(t: tr.Target, cu: tr.Copper, path: Path) -> Path:
    """Seed 001 fig. 2: pdf of a new electron vs x, with and without current."""
    import matplotlib.pyplot as plt

    x = np.linspace(-0.05, t.length_m + 0.08, 800)
    panels = [
        (40.0 if t.name == "VIP" else t.current_A, np.arange(100, 1001, 100.0)),
        (0.0, np.arange(100, 1001, 100.0)),
        (0.0, np.arange(1000, 10001, 1000.0)),
    ]
    fig, axes = plt.subplots(3, 1, figsize=(9, 10))
    for ax, (cur, times) in zip(axes, panels, strict=True):
        res = _reservoir(t, cu, cur)
        for k, ti in enumerate(times):
            g = 0.15 + 0.7 * k / max(len(times) - 1, 1)
            ax.plot(x * 100, tr.reservoir_density(x, ti, **res), color=str(1 - g), lw=1)
            if k in (0, len(times) - 1):
                i = np.argmin(
                    np.abs(
                        tr.reservoir_density(x, ti, **res)
                        - 0.5 * tr.reservoir_density(np.array([-0.04]), ti, **res)[0]
                    )
                )
                ax.text(
                    x[i] * 100, tr.reservoir_density(x[i], ti, **res), f"{ti:.0f} s", fontsize=7
                )
        for edge in (0.0, t.length_m * 100):
            ax.axvline(edge, color="red", lw=1)
        ax.set_ylabel("pdf [1/m]")
        ax.set_title(
            f"{t.name}, I = {cur:g} A, t = {times[0]:.0f}-{times[-1]:.0f} s "
            f"(D/100, reservoir {FIG_RESERVOIR_RATIO:.1e} x target, 1 cm connector)",
            fontsize=9,
        )
    axes[-1].set_xlabel("x [cm] (target between the red bars)")
    fig.tight_layout()
    return save(fig, path)


def fig_signal(t: tr.Target, cu: tr.Copper, path: Path, currents=(0, 10, 40, 100)) -> Path:
    """Seed 001 fig. 3: the probability that a new electron is in the target.

    It is eq. 24 integrated over the target, and carries the time dependence of the X-ray rate
    (eq. 26).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 8))
    for ax, tmax in zip(axes, (2000.0, 2e5), strict=True):
        ts = np.linspace(tmax / 2000, tmax, 2000)
        for cur in currents:
            r = _reservoir(t, cu, float(cur))
            y = tr.reservoir_target_integral(ts, t.length_m, **r) / (2 * (r["x_max"] - r["x_min"]))
            ax.plot(ts, y, label=f"I = {cur} A")
        ax.set_xlabel("time after connecting the reservoir [s]")
        ax.set_ylabel("P(new electron in target)")
        ax.set_title(
            f"{t.name}: {'short' if tmax < 1e4 else 'long'} times (D/100, as fig. 2)", fontsize=9
        )
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return save(fig, path)


def yield_vs_current(t: tr.Target, cu: tr.Copper, dt_M: float, currents) -> np.ndarray:
    """Total X-rays in dt_M (eq. 27) per unit beta^2/2 * r * nu, for each current."""
    out = []
    for cur in currents:
        r = _reservoir(t, cu, float(cur), d_scale=1.0)
        out.append(
            tr.xray_total(
                dt_M,
                1.0,
                n=tr.electron_density(cu),
                area=t.cross_section_m2,
                L=t.length_m,
                r=1.0,
                nu=1.0,
                **r,
            )
        )
    return np.array(out)


def fig_yield(t: tr.Target, cu: tr.Copper, path: Path, dts=(10.0, 100.0, 3600.0)):
    """Expected X-ray yield vs current for finite measurement times (true D)."""
    import matplotlib.pyplot as plt

    currents = np.concatenate([[0.0], np.geomspace(0.1, 1000.0, 40)])
    fig, ax = plt.subplots(figsize=(8, 5))
    table = {}
    for dt in dts:
        y = yield_vs_current(t, cu, dt, currents)
        table[f"{dt:g}"] = y.tolist()
        ax.plot(currents[1:], y[1:] / y[-1], marker=".", label=f"dt_M = {dt:g} s")
        ax.axhline(y[0] / y[-1], ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("current [A]")
    ax.set_ylabel("X-rays in dt_M / value at 1000 A (dotted: 0 A)")
    ax.set_title(
        f"{t.name}: expected yield vs current (eq. 27, true D, reservoir of fig. 2)", fontsize=9
    )
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    save(fig, path)
    return {"currents_A": currents.tolist(), "yield_per_beta2half_r_nu": table}


def transport_figures(t: tr.Target, cu: tr.Copper, out_dir: Path, experiment: str) -> dict:
    """Seed 001 figs. 2 and 3 and the yield versus current; the files and the yield table."""
    out: dict = {
        "figures": {
            "fig2_pdf": str(fig_pdf(t, cu, out_dir / f"transport_fig2_{experiment}.png")),
            "fig3_signal": str(fig_signal(t, cu, out_dir / f"transport_fig3_{experiment}.png")),
        }
    }
    out["yield_vs_current"] = fig_yield(t, cu, out_dir / f"transport_yield_{experiment}.png")
    out["figures"]["yield"] = str(out_dir / f"transport_yield_{experiment}.png")
    return out
