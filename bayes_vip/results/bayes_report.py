"""``bayes-vip sample``: calibrate and fit where needed, run NUTS, write the results.

``RUN/results/``: ``posterior.nc`` (ArviZ InferenceData), ``limits.json`` and figures
``bayes_trace.png``, ``bayes_beta2half.png``, ``bayes_pair.png``, ``bayes_ppc.png``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bayes_vip.errors import InputError
from bayes_vip.io.atomic import atomic_path, write_json

__all__ = ["run_sample", "comparison_rows", "default_upper"]


def _classic(run: Path, man, signal: str, n_int_model: str, progress) -> dict:
    """classic.json of the run for this signal and N_int; runs the fit if needed."""
    from bayes_vip.results.classic_report import run_fit

    path = Path(man.path).parent / "results" / "classic.json"
    if path.is_file():
        c = json.loads(path.read_text())
        from bayes_vip.physics.lines import pep_signal

        if (
            c.get("signal", {}).get("key") == pep_signal(signal).key
            and c.get("conversion", {}).get("n_int_model") == n_int_model
            and c.get("statistic") == "chi2"
            and c.get("spectra", {}).get("sdd") is None
        ):
            return c
    if progress:
        progress("classic fit")
    return run_fit(run, signal=signal, n_int_model=n_int_model)


def default_upper(data, classic: dict, prior: str) -> float:
    """Upper bound of the flat signal prior: 20 classic sigmas above max(N_X, 0)."""
    n_max = max(float(classic["N_X"]), 0.0) + 20.0 * float(classic["sigma_N_X"])
    if prior == "flat-counts":
        return n_max
    return n_max / (data.counts_per_beta2half * 1e-29)


def comparison_rows(classic: dict, lim: dict) -> list[dict]:
    """Classic and Bayesian limits side by side (counts and beta^2/2)."""
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
            }
        )
    return rows


def _figures(idata, data, lim, out: Path) -> list[str]:
    import arviz as az
    import matplotlib.pyplot as plt

    from bayes_vip.results.plots import save

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
    ax.legend(fontsize=8)
    files.append(save(fig, out / "bayes_beta2half.png"))

    pair = ["beta2half_1e29", "efficiency", "fano", "tail_frac", "tail_beta", "shelf_frac"]
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
    return [str(f) for f in files]


def _energy_of_bins(data) -> np.ndarray:
    """Approximate energy of every cell's bin centres (classic calibration for ADC cells)."""
    c = 0.5 * (data.edges[:, 1:] + data.edges[:, :-1])
    if data.level == "energy":
        return c
    p = data.p_std
    return p[:, :1] + p[:, 1:2] * c + p[:, 2:3] * c * c


def _ppc_figure(idata, data, path: Path):
    import matplotlib.pyplot as plt

    from bayes_vip.bayes.data import BIN_EV, ROI_EV
    from bayes_vip.results.plots import save

    obs = np.asarray(idata.observed_data["obs"].values)
    pp = np.asarray(idata.posterior_predictive["obs"].values)
    pp = pp.reshape(-1, pp.shape[-1])
    e = _energy_of_bins(data)[data.mask]
    cell = np.repeat(np.arange(data.n_cell), data.mask.sum(axis=1))
    on = data.current_A[data.period[cell]] > 0
    edges = np.arange(ROI_EV[0], ROI_EV[1] + BIN_EV / 2, BIN_EV)
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
        ax.legend(fontsize=7)
        r = axes[1, j]
        r.axhline(0, color="0.5", lw=0.8)
        r.step(x, (o - med) / np.sqrt(np.maximum(med, 1)), where="mid", color="k", lw=0.8)
        r.set_ylabel("(data - median)/sqrt")
        r.set_xlabel("energy [eV]")
    axes[0, 0].set_ylabel(f"counts / {BIN_EV:g} eV")
    return save(fig, path)


def run_sample(
    run: str | Path,
    *,
    chains: int = 4,
    warmup: int = 300,
    samples: int = 400,
    prior: str = "flat-beta",
    prior_upper: float | None = None,
    signal: str = "ka1",
    n_int_model: str = "rs",
    seed: int = 0,
    progress=None,
    progress_bar: bool = True,
    figures: bool = True,
) -> dict:
    """The hierarchical analysis of ``run``; returns what limits.json holds."""
    from bayes_vip.bayes.data import BIN_EV, ROI_EV, build_data, load_calibration_for
    from bayes_vip.bayes.model import PRIORS
    from bayes_vip.bayes.sampling import limits, sample_posterior, to_inference_data
    from bayes_vip.io.campaign import build_campaign
    from bayes_vip.io.manifest import load_manifest
    from bayes_vip.physics.conversion import N_INT_MODELS
    from bayes_vip.results.classic_report import signal_from_option

    if prior not in PRIORS:
        raise InputError(f"must be one of {list(PRIORS)}, got {prior!r}", field="--prior")
    if n_int_model not in N_INT_MODELS:
        raise InputError(f"unknown N_int model {n_int_model!r}", field="--n-int")
    for name, v, lo in (
        ("--chains", chains, 1),
        ("--warmup", warmup, 10),
        ("--samples", samples, 10),
    ):
        if v < lo:
            raise InputError(f"must be >= {lo}, got {v}", field=name)
    sig = signal_from_option(signal)
    man = load_manifest(run)
    ds = build_campaign(man)
    cal = None
    t0 = time.perf_counter()
    if ds.attrs["level"] == "adc":
        from bayes_vip.calibration.report import calibration_path

        if not calibration_path(man).is_file():
            from bayes_vip.calibration.report import run_calibrate

            if progress:
                progress("calibration")
            run_calibrate(run)
        cal = load_calibration_for(man)
    classic = _classic(Path(run), man, signal, n_int_model, progress)
    data = build_data(man, ds, classic, signal=sig, n_int_model=n_int_model, cal=cal)
    upper = default_upper(data, classic, prior) if prior_upper is None else float(prior_upper)
    classic_est = max(float(classic["N_X"]), 0.0)
    est = (
        classic_est if prior == "flat-counts" else classic_est / (data.counts_per_beta2half * 1e-29)
    )
    if not (np.isfinite(upper) and upper > est):
        raise InputError(
            f"prior upper bound {upper:.4g} excludes the classic estimate "
            f"({est:.4g} {'counts' if prior == 'flat-counts' else 'x 1e-29'})",
            field="--prior-upper",
        )
    if progress:
        progress("NUTS")
    t1 = time.perf_counter()
    mcmc = sample_posterior(
        data,
        prior=prior,
        upper=upper,
        chains=chains,
        warmup=warmup,
        samples=samples,
        seed=seed,
        progress_bar=progress_bar,
    )
    t_nuts = time.perf_counter() - t1 - mcmc.laplace["seconds"]["total"]
    t2 = time.perf_counter()
    idata = to_inference_data(mcmc, data, prior, upper)
    t_pp = time.perf_counter() - t2
    lim = limits(idata, data, prior, upper)
    lim["run"] = man.name
    lim["level"] = data.level
    lim["signal"] = sig.to_dict()
    lim["model"] = {
        "cells": data.n_cell,
        "bins": int(data.mask.sum()),
        "roi_eV": list(ROI_EV),
        "bin_eV": BIN_EV,
        "counts_per_beta2half_nominal": data.counts_per_beta2half,
        "efficiency": [data.efficiency, data.efficiency_rel],
        "chain_method": mcmc.chain_method,
    }
    lim["laplace"] = mcmc.laplace
    lim["seconds"] = {
        "before_nuts": t1 - t0,
        "laplace": mcmc.laplace["seconds"]["total"],
        "nuts": t_nuts,
        "posterior_predictive": t_pp,
    }
    ess_b = lim["diagnostics"]["ess_bulk_beta2half"]
    # NUTS wall time: compilation, warm-up and sampling of all chains
    lim["ess_per_second_beta2half"] = ess_b / t_nuts
    lim["classic"] = {
        "N_X": classic["N_X"],
        "sigma_N_X": classic["sigma_N_X"],
        "upper_limits_counts": classic["upper_limits_counts"],
        "beta2half_upper_limits": classic["conversion"]["beta2half_upper_limits"],
        "n_int_model": classic["conversion"]["n_int_model"],
    }
    lim["comparison"] = comparison_rows(classic, lim)
    out = Path(man.path).parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "posterior.nc") as tmp:
        idata.to_netcdf(str(tmp), engine="h5netcdf")
    if figures:
        import warnings

        from matplotlib import MatplotlibDeprecationWarning

        with warnings.catch_warnings():
            # ArviZ 0.23's plotting calls a matplotlib API deprecated in 3.11 (their chatter)
            warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
            t3 = time.perf_counter()
            lim["figures"] = _figures(idata, data, lim, out)
            lim["seconds"]["figures"] = time.perf_counter() - t3
    lim["seconds"]["total"] = time.perf_counter() - t0
    lim["posterior"] = str(out / "posterior.nc")
    lim["json"] = str(out / "limits.json")
    write_json(out / "limits.json", lim)
    return lim
