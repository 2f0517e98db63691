"""Figure: simulated against measured spectra (docs/figures/sim_vs_measured.png).

Simulates a campaign with the measured run's layout (6 SDDs, 81 d 10 h with 100 A and
without), maps every simulated event to energy through its cell's true calibration, and
overlays the six-SDD sums on the measured ones, with the ratio below.

Run from the repository root:  python docs/scripts/plot_sim_vs_measured.py
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("JAX_ENABLE_X64", "1")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from bayes_vip.io.campaign import edges, load_campaign
from bayes_vip.simulate.presets import PeriodSpec, preset
from bayes_vip.simulate.simulator import simulate_campaign

DAYS = 7034400.0 / 86400.0  # 81 d 10 h, as the measured run
OUT = "docs/figures/sim_vs_measured.png"


def cu_fwhm(counts: np.ndarray, bin_edges: np.ndarray) -> tuple[float, float]:
    """FWHM [eV] of the Gaussian core at Cu Ka1 from a local fit of 7.2-9.6 keV.

    Lines Ni Ka, Cu Ka, Cu Kb with the preset's tail, a linear continuum, free noise at the
    preset's Fano factor (a single width parameter, as a local fit can determine).
    """
    import jax
    import jax.numpy as jnp
    from iminuit import Minuit

    from bayes_vip.physics.response import FWHM_PER_SIGMA, fwhm_at
    from bayes_vip.physics.spectrum import SpectrumModel
    from bayes_vip.simulate.presets import MEASURED_2016_17 as M

    sel = (bin_edges[:-1] >= 7200) & (bin_edges[1:] <= 9600)
    c = jnp.asarray(counts[sel], dtype=float)
    ed = jnp.asarray(np.append(bin_edges[:-1][sel], bin_edges[1:][sel][-1]))
    model = SpectrumModel(groups=("Ni Ka", "Cu Ka", "Cu Kb"))
    fixed = {
        "fano": M["fano"],
        "tail_frac": M["tail_frac"],
        "tail_beta": M["tail_beta"],
        "escape_frac": 0.0,
        "shelf_frac": 0.0,
        "exp_level": 0.0,
        "exp_len": 100.0,
    }

    def nll(x):
        p = {**fixed, "rates": x[:3], "noise": x[3], "level": x[4], "slope": x[5]}
        mu = jnp.maximum(model.expected_counts(ed, p, 1.0), 1e-300)
        return jnp.sum(mu - c * jnp.log(mu))

    f, g = jax.jit(nll), jax.jit(jax.grad(nll))
    tot = float(c.sum())
    m = Minuit(
        lambda x: float(f(jnp.asarray(x))),
        [0.02 * tot, 0.6 * tot, 0.1 * tot, 40.0, tot / 5000, 0.0],
        grad=lambda x: np.asarray(g(jnp.asarray(x))),
    )
    m.errordef = Minuit.LIKELIHOOD
    m.limits = [(0, None)] * 3 + [(1, 200), (0, None), (-1, 1)]
    m.migrad()
    m.hesse()
    fw = float(fwhm_at(8047.8, m.values[3], M["fano"]))
    k = float(FWHM_PER_SIGMA)
    dfw = k * k * m.values[3] * m.errors[3] / fw  # dFWHM/dnoise = k^2 noise / FWHM
    return fw, dfw


def main() -> int:
    ds = load_campaign("runs/vip2-2016-17")
    pre = preset(
        "vip2-2016",
        periods=(
            PeriodSpec("current-on", 100.0, DAYS, 7.0),
            PeriodSpec("current-off", 0.0, DAYS, 7.0),
        ),
    )
    sim = simulate_campaign(pre, rng=np.random.default_rng(2016))
    e_sim = sim.calibrated_energy(rng=np.random.default_rng(1))
    e = edges(ds)
    bins = np.arange(1000.0, 10000.0 + 1, 10.0)
    centres = 0.5 * (bins[1:] + bins[:-1])
    fig, axes = plt.subplots(3, 2, figsize=(14, 10), height_ratios=[3, 3, 1.3], sharex="col")
    for ip, period in enumerate(("current-on", "current-off")):
        meas = ds["counts"].sel(period=period).sum(("sdd", "batch")).values
        meas = np.add.reduceat(meas, np.searchsorted(e, bins[:-1]))
        simh, _ = np.histogram(e_sim[sim.period == ip], bins=bins)
        for col, (lo, hi) in enumerate(((1000, 10000), (6700, 10000))):
            ax = axes[ip, col]
            m = (centres > lo) & (centres < hi)
            ax.step(centres[m], meas[m], where="mid", label=f"measured, {period}", lw=1)
            ax.step(centres[m], simh[m], where="mid", label="simulated", lw=1, alpha=0.8)
            ax.set_yscale("log")
            ax.set_ylabel("counts / 10 eV")
            ax.legend(loc="upper right", fontsize=8)
            if ip == 0:
                ax.set_title("1-10 keV" if col == 0 else "7-10 keV (region of interest)")
        for col, (lo, hi) in enumerate(((1000, 10000), (6700, 10000))):
            m = (centres > lo) & (centres < hi)
            axes[2, col].plot(centres[m], (simh / np.maximum(meas, 1))[m], lw=0.7, label=period)
        fw_meas = cu_fwhm(meas, bins)
        fw_sim = cu_fwhm(simh.astype(float), bins)
        tot = (e_sim[sim.period == ip] >= 1000) & (e_sim[sim.period == ip] < 10000)
        print(
            f"{period}: counts 1-10 keV measured {meas.sum():.0f} simulated {tot.sum()}; "
            f"Cu Ka FWHM measured {fw_meas[0]:.1f} +- {fw_meas[1]:.1f} eV, "
            f"simulated {fw_sim[0]:.1f} +- {fw_sim[1]:.1f} eV"
        )
    for ax in axes[2]:
        ax.axhline(1.0, color="k", lw=0.5)
        ax.set_ylim(0.5, 1.5)
        ax.set_xlabel("energy [eV]")
        ax.set_ylabel("sim / measured")
        ax.legend(fontsize=8)
    fig.suptitle(
        "bayes_vip simulator (vip2-2016 layout, 81.4 + 81.4 days) vs measured "
        "VIP-2 2016-17, six-SDD sums"
    )
    fig.tight_layout()
    fig.savefig(OUT, dpi=90)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
