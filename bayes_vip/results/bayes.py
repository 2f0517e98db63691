"""The hierarchical analysis's result: ``limits.json``, a comparison table and figures.

The table compares the classic and Bayesian results; the figures are ``bayes_trace.png``,
``bayes_beta2half.png``, ``bayes_pair.png``, ``bayes_ppc.png`` and ``limits_brazil.png``
(every method's observed limit against its expected bands).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bayes_vip.analysis.conventions import MODEL_ROI_EV
from bayes_vip.bayes.model import BayesData, slope_floor
from bayes_vip.results.console import expected_band
from bayes_vip.results.plots import brazil, save

__all__ = [
    "bayes_figures",
    "comparison_rows",
    "expected_bands",
    "limits_brazil",
    "limits_record",
    "line_position",
]


def bayes_band(bands: dict | None, level: str) -> list[float] | None:
    """``[-1 sigma, median, +1 sigma]`` of the Bayesian limit at ``level`` in a bands study.

    ``bands`` is a ``bands.json`` (``bayes-vip study bands``); None where there is none or it
    has no Bayesian limits.
    """
    b = expected_bands({}, f"bayes {level}", bands)
    return None if b is None else [b["-1"], b["median"], b["+1"]]


_EDGES = ("-2", "-1", "median", "+1", "+2")


def expected_bands(classic: dict, limit: str, bands: dict | None = None) -> dict | None:
    """Every band edge (-2 ... +2 sigma) of the expected limit ``limit`` [counts], or None.

    ``limit`` is a key of ``classic.json``'s ``upper_limits_counts`` ("CLs 0.95", "3sigma
    ...") or ``"bayes 0.95"``. The CLs and profile limits' bands are asymptotic (Asimov,
    ``classic.json``); the 3-sigma limit 3 sigma(N_X) does not depend on the data at first
    order, so its expected value is 3 sigma_A at every edge; the Bayesian limits' bands come
    from a bands study (``bands``), where there is one.
    """
    method, _, level = limit.partition(" ")
    if method == "bayes":
        got = (bands or {}).get("limits", {}).get(f"bayes_ul{100 * float(level):g}")
        if not got or got["counts"].get("n", 0) == 0:
            return None
        return {k: got["counts"][k]["value"] for k in _EDGES}
    exp = classic.get("expected_limits", {})
    if method == "3sigma":
        s = exp.get("sigma_A_counts")
        return None if s is None else dict.fromkeys(_EDGES, 3.0 * s)
    got = exp.get("counts", {}).get({"CLs": "cls", "profile": "profile"}.get(method, ""), {})
    b = got.get(level)
    return None if b is None else {k: b["+0" if k == "median" else k] for k in _EDGES}


def comparison_rows(classic: dict, lim: dict, bands: dict | None = None) -> list[dict]:
    """Classic and Bayesian limits side by side (counts and beta^2/2).

    The classic rows carry their asymptotic expected bands; the Bayesian rows carry those of
    a bands study of the run (``bands``, its ``bands.json``) where one is given.
    """
    rows = []
    cb = classic["conversion"]["beta2half_upper_limits"]
    for k, v in classic["upper_limits_counts"].items():
        rows.append(
            {
                "method": f"classic {k}",
                "N_X": v,
                "beta2half": cb[k],
                "mcse_N_X": None,
                "mcse_beta2half": None,
                "expected_N_X": expected_band(classic, k),
                "expected_bands_N_X": expected_bands(classic, k),
            }
        )
    for q, v in lim["upper_limits"]["N_X"].items():
        if not isinstance(v, dict):
            continue
        b = lim["upper_limits"]["beta2half"][q]
        rows.append(
            {
                "method": f"Bayesian {float(q):.1%} credible ({lim['prior']})",
                "N_X": v["value"],
                "mcse_N_X": v["mcse"],
                "beta2half": b["value"],
                "mcse_beta2half": b["mcse"],
                "expected_N_X": bayes_band(bands, q),
                "expected_bands_N_X": expected_bands(classic, f"bayes {q}", bands),
                "level": float(q),
            }
        )
    return rows


def bayes_figures(idata, data: BayesData, lim: dict, out: Path) -> list[str]:
    """Trace, beta^2/2 posterior, pair and posterior-predictive figures; the files written."""
    from matplotlib import MatplotlibDeprecationWarning

    with warnings.catch_warnings():
        # ArviZ 0.23's plotting calls a matplotlib API deprecated in 3.11 (their chatter)
        warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
        return _figures(idata, data, lim, out)


def _figures(idata, data: BayesData, lim: dict, out: Path) -> list[str]:
    import arviz as az

    files = []
    scale = ["offset", "gain"] if data.level == "energy" else ["cal_m0", "cal_m1", "cal_c2"]
    key = ["beta2half_1e29", "N_X", "efficiency", "fano", "noise_mu", "tail_frac", *scale]
    axes = az.plot_trace(idata, var_names=key, compact=True, figsize=(10, 2.0 * len(key)))
    files.append(save(axes.ravel()[0].figure, out / "bayes_trace.png"))

    fig, ax = plt.subplots(figsize=(6.5, 4))
    b = idata.posterior["beta2half_1e29"].values.ravel() * 1e-29
    ax.hist(b, bins=80, density=True, color="0.6")
    for q, v in lim["upper_limits"]["beta2half"].items():
        if isinstance(v, dict):
            ax.axvline(v["value"], ls="--", label=f"{float(q):.1%}: {v['value']:.3g}")
    ax.set_xlabel(r"$\beta^2/2$")
    ax.set_ylabel("posterior density")
    ax.set_title(f"beta^2/2 ({lim['prior']} prior, N_int {data.n_int_model})")
    ax.legend(fontsize=8, loc="upper right")
    files.append(save(fig, out / "bayes_beta2half.png"))

    pair = ["beta2half_1e29", "efficiency", "fano", "tail_frac", "tail_beta", "shelf_frac"]
    if data.run is not None:  # several runs: the shape sites are per run; the shared ones
        pair = ["beta2half_1e29", "efficiency", "fano"]
    axes = az.plot_pair(
        idata,
        var_names=pair,
        kind="scatter",
        marginals=True,
        scatter_kwargs={"alpha": 0.2, "s": 2},
        figsize=(9, 9),
    )
    files.append(save(np.asarray(axes).ravel()[0].figure, out / "bayes_pair.png"))
    files.append(_ppc_figure(idata, data, out / "bayes_ppc.png"))
    files.append(limits_brazil(lim, out / "limits_brazil.png"))
    if "background_drift" in idata.posterior:
        files.append(_drift_figure(idata, data, out / "bayes_background_drift.png"))
    return [str(f) for f in files]


def _drift_figure(idata, data: BayesData, path: Path) -> Path:
    """A shared background's factor per drift block: median, 68 % and 95 % intervals."""
    d = idata.posterior["background_drift"].values.reshape(-1, data.n_drift)
    q = np.quantile(d, [0.025, 0.16, 0.5, 0.84, 0.975], axis=0)
    k = np.arange(data.n_drift)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.fill_between(k, q[0], q[4], step="mid", color="0.85", label="95 %")
    ax.fill_between(k, q[1], q[3], step="mid", color="0.6", label="68 %")
    ax.step(k, q[2], where="mid", color="k", label="median")
    ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
    ax.set_xlabel("drift block on the run clock")
    ax.set_ylabel("background factor")
    ax.set_title("shared background: its drift over the run")
    ax.legend(fontsize=8, loc="upper right")
    return save(fig, path)


def _short(row: dict) -> str:
    """A comparison row's method in a few words: "CLs 95 %", "Bayes 95 %", "3 sigma"."""
    m = row["method"]
    if m.startswith("Bayesian"):
        return f"Bayes {100 * row['level']:g} %"
    method, _, level = m.removeprefix("classic ").partition(" ")
    if method == "3sigma":
        return "3 $\\sigma(N_X)$"
    return f"{method} {100 * float(level):g} %"


def limits_brazil(lim: dict, path: Path) -> Path:
    """Every method's observed upper limit on N_X against its expected bands, one figure.

    From ``lim["comparison"]``: the classic 3-sigma, profile-likelihood and CLs limits
    (asymptotic bands) and the Bayesian credible limits (bands where a bands study of the
    run exists; the observed limit alone otherwise).
    """
    rows = [(_short(r), r.get("expected_bands_N_X"), r["N_X"]) for r in lim["comparison"]]
    bayes = "with bands from toys" if lim.get("expected_from") else "no bands study"
    return brazil(
        rows,
        xlabel="upper limit on $N_X$ [counts]",
        title=f"{lim['run']}: classic bands asymptotic; Bayes ({lim['prior']}) {bayes}",
        label="limits",
        path=path,
    )


def _energy_of_bins(data) -> np.ndarray:
    """Approximate energy of every cell's bin centres (classic calibration for ADC cells)."""
    c = 0.5 * (data.edges[:, 1:] + data.edges[:, :-1])
    if data.level == "energy":
        return c
    p = data.p_std
    return p[:, :1] + p[:, 1:2] * c + p[:, 2:3] * c * c


def _ppc_figure(idata, data: BayesData, path: Path) -> Path:
    obs = np.asarray(idata.observed_data["obs"].values)
    pp = np.asarray(idata.posterior_predictive["obs"].values)
    pp = pp.reshape(-1, pp.shape[-1])
    e = _energy_of_bins(data)[data.mask]
    cell = np.repeat(np.arange(data.n_cell), data.mask.sum(axis=1))
    on = data.current_A[data.period[cell]] > 0
    edges = np.arange(MODEL_ROI_EV[0], MODEL_ROI_EV[1] + data.bin_eV / 2, data.bin_eV)
    x = 0.5 * (edges[1:] + edges[:-1])
    fig, axes = plt.subplots(
        2, 2, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for j, (sel, label) in enumerate(((on, "current on"), (~on, "current off"))):
        idx = np.clip(np.searchsorted(edges, e[sel]) - 1, 0, len(x) - 1)
        o = np.bincount(idx, weights=obs[sel], minlength=len(x))
        sims = np.stack([np.bincount(idx, weights=r[sel], minlength=len(x)) for r in pp])
        lo, med, hi = np.percentile(sims, [5, 50, 95], axis=0)
        ax = axes[0, j]
        ax.fill_between(x, lo, hi, step="mid", alpha=0.35, label="posterior predictive 5-95 %")
        ax.step(x, med, where="mid", lw=1, label="posterior predictive median")
        ax.errorbar(x, o, yerr=np.sqrt(np.maximum(o, 1)), fmt=".", ms=2, color="k", label="data")
        ax.set_yscale("log")
        ax.set_title(label)
        ax.legend(fontsize=7, loc="upper right")
        r = axes[1, j]
        r.axhline(0, color="0.5", lw=0.8)
        r.step(x, (o - med) / np.sqrt(np.maximum(med, 1)), where="mid", color="k", lw=0.8)
        r.set_ylabel("(data - median)/sqrt")
        r.set_xlabel("energy [eV]")
    axes[0, 0].set_ylabel(f"counts / {data.bin_eV:g} eV")
    return save(fig, path)


def limits_record(
    lim: dict[str, Any],
    *,
    run_name: str,
    data: BayesData,
    signal: dict[str, Any],
    classic: dict[str, Any],
    sampler: dict[str, Any],
    seconds: dict[str, float],
    config: dict[str, Any],
    bands: dict | None = None,
) -> dict[str, Any]:
    """What ``limits.json`` holds.

    The limits and gates of ``sampling.limits`` (``lim``) with the run, the model's layout,
    timings, the classic result and the configuration; ``bands``: a bands study of the run
    whose configuration matches (its expected Bayesian limits go into the comparison).
    """
    lim["run"] = run_name
    lim["level"] = data.level
    lim["signal"] = signal
    lim["model"] = {
        "cells": data.n_cell,
        "bins": int(data.mask.sum()),
        "roi_eV": list(MODEL_ROI_EV),
        "bin_eV": data.bin_eV,
        "counts_per_beta2half_nominal": data.counts_per_beta2half,
        # one run: [value, relative uncertainty]; several: each run's (bayes.combine)
        "efficiency": [
            np.asarray(data.efficiency).tolist(),
            np.asarray(data.efficiency_rel).tolist(),
        ],
        "chain_method": sampler["chain_method"],
        "background": "separate" if data.drift_block is None else "shared",
        "drift_blocks": data.n_drift,
    }
    lim["sampler"] = {k: v for k, v in sampler.items() if k not in ("laplace", "seconds")}
    lim["laplace"] = sampler["laplace"]
    lim["seconds"] = seconds
    ess_b = lim["diagnostics"]["ess_bulk_beta2half"]
    # NUTS wall time: compilation, warm-up and sampling of all chains
    lim["ess_per_second_beta2half"] = ess_b / seconds["nuts"]
    lim["classic"] = {
        "N_X": classic["N_X"],
        "sigma_N_X": classic["sigma_N_X"],
        "upper_limits_counts": classic["upper_limits_counts"],
        "beta2half_upper_limits": classic["conversion"]["beta2half_upper_limits"],
        "n_int_model": classic["conversion"]["n_int_model"],
    }
    if "scan" in classic:  # made by `bayes-vip fit --scan`
        lim["classic"]["scan"] = classic["scan"]
    lim["comparison"] = comparison_rows(classic, lim, bands)
    if bands:
        lim["expected_from"] = {
            "study": "bayes-vip study bands",
            "toys": bands.get("toys_done"),
            "seed": bands.get("seed"),
        }
    lim["priors"] = prior_summary(data)
    lim["config"] = config
    return lim


def line_position(idata, data: BayesData) -> dict[str, Any] | None:
    """The PEP line's position where the model has it latent (``BayesData.line_sd_eV``).

    Its prior (nominal energy and sd) and the posterior of the shift from the nominal energy
    [eV]: mean, sd and the central 90 % interval. None where the line is fixed.
    """
    if data.line_sd_eV <= 0:
        return None
    d = np.asarray(idata.posterior["line_shift"].values).ravel()
    lo, hi = np.quantile(d, [0.05, 0.95])
    return {
        "nominal_eV": [float(e) for e in data.signal.energies],
        "prior_sd_eV": data.line_sd_eV,
        "shift_mean_eV": float(d.mean()),
        "shift_sd_eV": float(d.std(ddof=1)),
        "shift_central_90_eV": [float(lo), float(hi)],
    }


def prior_summary(data: BayesData) -> dict[str, Any]:
    """The prior set and the centres of the response priors, for ``limits.json``."""
    pri = data.prior
    out: dict[str, Any] = {"set": pri.get("set", "empirical-bayes")}
    for k in ("fano", "tail_beta", "shelf_frac", "slope", "slope_sd"):
        if k in pri:  # several runs: one value per run (tail, shelf) or per SDD (slope)
            v = np.asarray(pri[k], float)
            out[k] = float(v) if v.ndim == 0 else v.tolist()
    floor = slope_floor(data)
    if floor is not None:  # the slope prior is truncated where the continuum is 0
        out["slope_min_per_keV"] = floor
    if "noise_p" in pri:
        out["noise_eV"] = dict(zip(data.period_names, map(float, pri["noise_p"]), strict=True))
    if "below" in pri:
        out["lines_below"] = pri["below"]
    return out
