"""What each freedom of the classic fit costs: the sensitivity decomposition (docs/classic.md).

Toys of a measured-like simulation (the ``vip2-2016-17`` preset: six SDDs, 81.4 days with
100 A and as long without, the measured run's spectral shape, current-on resolution broader
than current-off as measured) are drawn event by event by ``simulate.simulator`` and
histogrammed through their true calibration, summed over SDDs, cut at 10 keV as the
measured histograms are. Each toy is fitted by step 1 once and then by step 2 in every
``VARIANTS`` model: the default, and the default with one freedom changed (the signal's
line shape, the tail, the energy shift, the fit range, the continuum). Beside them,
``"window"`` counts current on minus current off in 7629-7829 eV (sigma = sqrt(N_on +
N_off)), the ROI subtraction of the published analyses.

Per variant and injected signal, over the toys: the spread of N_X hat (the true sigma),
the median quoted (HESSE) sigma, the bias and the pulls, the coverage of the one-sided 95 %
upper limit N_X hat + 1.645 sigma and of the +-1 sigma interval, and the median expected
CLs 95 % limit of the Gaussian approximation, sigma (Phi^-1(1 - 0.05 Phi(N/sigma)) +
N/sigma) at N = N_X hat, over the signal-free toys. ``choose`` picks the default as the
issue asks: the smallest expected limit among the variants that keep coverage and show no
bias.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from bayes_vip.analysis.conventions import ROI_GROUPS, STEP1_RANGE_EV
from bayes_vip.errors import AnalysisError, InputError
from bayes_vip.io.manifest import load_manifest
from bayes_vip.physics.lines import line_group, pep_signal
from bayes_vip.pipeline.progress import SILENT
from bayes_vip.simulate.presets import preset
from bayes_vip.studies.coverage import _fraction
from bayes_vip.studies.engine import Toy, run_toys, toy_seed

__all__ = [
    "PRESET",
    "VARIANTS",
    "WINDOW_EV",
    "choose",
    "measured_check",
    "sensitivity_spec",
    "sensitivity_toy",
    "sensitivity_toys",
    "summarise",
]

#: The measured-like preset of the toys.
PRESET = "vip2-2016-17"
#: The top of the measured histograms [eV]: the toys are cut there too.
TOP_EV = 10000.0
#: The ROI window of the published analyses (seed 000 sec. 3: 7629-7829 eV).
WINDOW_EV = (7629.0, 7829.0)
#: key -> (label, changes to ``classic.Freedoms``, step-2 range [eV]).
VARIANTS: dict[str, tuple[str, dict[str, Any], tuple[float, float]]] = {
    "default": (
        "default (response line, tail and noise by LR test, shift, 7-10 keV)",
        {},
        (7000.0, TOP_EV),
    ),
    "gaussian": ("Gaussian PEP line (seed 000)", {"signal_shape": "gaussian"}, (7000.0, TOP_EV)),
    "tail_fixed": ("tail from step 1, never refitted", {"tail": False}, (7000.0, TOP_EV)),
    "tail_free": ("tail always refitted", {"tail": True}, (7000.0, TOP_EV)),
    "no_shift": ("no energy-scale shift", {"shift": False}, (7000.0, TOP_EV)),
    "range_7_8.6": ("fit range 7.0-8.6 keV (published fits)", {}, (7000.0, 8600.0)),
    "shared_background": (
        "one continuum level for on and off",
        {"shared_background": True},
        (7000.0, TOP_EV),
    ),
}
#: z of the one-sided 95 % upper limit N + z sigma.
Z95 = 1.6448536269514722


def sensitivity_spec(
    *, injected: tuple[float, ...], toys: int, seed: int, bin_eV: float = 10.0, signal: str = "ka1"
) -> dict[str, Any]:
    """The study's description, checked; no computation."""
    if toys < 1:
        msg = f"must be at least 1, got {toys}"
        raise InputError(msg, field="study.toys")
    if seed < 0:
        msg = f"must be >= 0, got {seed}"
        raise InputError(msg, field="study.seed")
    if not injected or any(not (math.isfinite(k) and k >= 0) for k in injected):
        msg = f"must be finite counts >= 0, got {list(injected)}"
        raise InputError(msg, field="study.injected")
    return {
        "study": "sensitivity",
        "preset": PRESET,
        "signal": signal,
        "statistic": "poisson",
        "bin_eV": float(bin_eV),
        "variants": {k: [v[0], v[1], list(v[2])] for k, v in VARIANTS.items()},
        "window_eV": list(WINDOW_EV),
        "injected": [float(k) for k in injected],
        "toys_per_injected": int(toys),
        "seed": int(seed),
    }


def sensitivity_toys(spec: dict[str, Any]) -> list[Toy]:
    """Every toy; the injected signals take turns, as in the coverage study."""
    ks = spec["injected"]
    return [
        Toy(i, toy_seed(spec["seed"], i), {"injected": float(ks[i % len(ks)])})
        for i in range(spec["toys_per_injected"] * len(ks))
    ]


def _spectra(spec: dict[str, Any], seed: int, injected: float):
    """The toy's summed current-on and current-off spectra: steps 1 and 2 at the spec's bins."""
    import numpy as np

    from bayes_vip.analysis.spectral import Spectra, rebin
    from bayes_vip.simulate.simulator import ENERGY_EDGES, energy_histograms, simulate_campaign

    pre = preset(spec["preset"])
    rng = np.random.default_rng(seed)
    sim = simulate_campaign(pre, rng=rng, signal_counts=injected, signal=spec["signal"])
    h = energy_histograms(sim, rng=rng).sum(axis=1)  # (period, bin)
    on = [i for i, p in enumerate(pre.periods) if p.current_A > 0]
    off = [i for i, p in enumerate(pre.periods) if p.current_A == 0]
    full = np.stack([h[on].sum(axis=0), h[off].sum(axis=0)]).astype(float)
    periods = {"on": [pre.periods[i].name for i in on], "off": [pre.periods[i].name for i in off]}
    k = round(spec["bin_eV"] / float(ENERGY_EDGES[1] - ENERGY_EDGES[0]))

    def cut(lo, hi):
        c, e = rebin(full, ENERGY_EDGES, lo, hi, k)
        return Spectra(edges=e, counts=c, periods=periods, sdd=None)

    window = full[:, (ENERGY_EDGES[:-1] >= WINDOW_EV[0]) & (ENERGY_EDGES[1:] <= WINDOW_EV[1])]
    return sim, cut(STEP1_RANGE_EV[0], TOP_EV), cut, window.sum(axis=1)


def sensitivity_toy(toy: Toy, spec: dict[str, Any]) -> dict[str, Any]:
    """Simulate one toy and fit it in every variant: N_X hat, sigma and the fit's quality."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.analysis import classic

    injected = float(toy.params["injected"])
    sim, s1, cut, window = _spectra(spec, toy.seed, injected)
    row: dict[str, Any] = {
        "realised": int(sim.truth["signal_counts_realised"]),
        "window_N_X": float(window[0] - window[1]),
        "window_sigma": float(math.sqrt(window[0] + window[1])),
        "window_valid": True,
    }
    signal = pep_signal(spec["signal"])
    step1 = classic.fit_step1(s1, spec["statistic"])
    default, default_tail = None, False
    for key, (_label, changes, (lo, hi)) in spec["variants"].items():
        t0 = time.perf_counter()
        if key != "default":  # the default's choices, one freedom changed
            changes = {"noise": default.noise_refitted, "tail": default_tail, **changes}
        s2 = cut(lo, hi)
        groups = tuple(g for g in ROI_GROUPS if lo <= line_group(g).centroid_eV <= hi)
        try:
            fit = classic.fit_step2(
                step1,
                s2,
                signal=signal,
                statistic=spec["statistic"],
                roi_groups=groups,
                freedoms=classic.Freedoms(**changes),
            )
        except AnalysisError as exc:
            if key == "default":
                raise
            row |= {f"{key}_valid": False, f"{key}_error": str(exc)[:200]}
            continue
        r = fit.result
        if key == "default":
            default = fit
            default_tail = "tail_frac" not in fit.jm.fixed
        row |= {
            f"{key}_N_X": float(r.values["N_X"]),
            f"{key}_sigma": float(r.errors["N_X"]),
            f"{key}_valid": bool(r.is_valid),
            f"{key}_chi2_ndf": float(r.fval / r.ndf),
            f"{key}_seconds": time.perf_counter() - t0,
        }
    row["default_noise_refitted"] = bool(default.noise_refitted)
    row["default_tail_refitted"] = bool(default_tail)
    return row


def _cls95(n: float, sigma: float) -> float:
    """The CLs 95 % upper limit of a Gaussian estimate ``n`` +- ``sigma`` of a mean >= 0.

    CLs(mu) = Phi((n - mu) / sigma) / Phi(n / sigma) = 0.05 at mu = sigma (Phi^-1(1 - 0.05
    Phi(n / sigma)) + n / sigma).
    """
    from scipy.stats import norm

    return float(sigma * (norm.isf(0.05 * norm.cdf(n / sigma)) + n / sigma))


def _stats(values: list[float]) -> dict[str, float]:
    import numpy as np

    x = np.asarray(values, float)
    n = len(x)
    if n < 2:
        return {"n": n, "mean": math.nan, "mean_err": math.nan, "sd": math.nan, "sd_err": math.nan}
    sd = float(x.std(ddof=1))
    return {
        "n": n,
        "mean": float(x.mean()),
        "mean_err": sd / math.sqrt(n),
        "sd": sd,
        "sd_err": sd / math.sqrt(2 * (n - 1)),
    }


def summarise(rows: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """Per variant and injected signal: bias, spread, pulls, coverage, expected limit."""
    import numpy as np

    ok = [r for r in rows if r["status"] == "ok"]
    out: dict[str, Any] = {
        "toys_done": len(rows),
        "toys_total": len(spec["injected"]) * spec["toys_per_injected"],
        "errors": len(rows) - len(ok),
        "variants": {},
    }
    keys = [*spec["variants"], "window"]
    for key in keys:
        label = (
            spec["variants"][key][0]
            if key in spec["variants"]
            else ("counting in 7629-7829 eV, on minus off")
        )
        v: dict[str, Any] = {"label": label, "injected": []}
        for s in spec["injected"]:
            at = [r for r in ok if r["injected"] == s]
            good = [r for r in at if r.get(f"{key}_valid") is True and f"{key}_N_X" in r]
            n_hat = np.array([r[f"{key}_N_X"] for r in good], float)
            sig = np.array([r[f"{key}_sigma"] for r in good], float)
            lv: dict[str, Any] = {
                "injected": s,
                "toys": len(at),
                "failed_fits": len(at) - len(good),
                "N_X": _stats(list(n_hat)),
                "bias": _stats(list(n_hat - s))["mean"] if len(good) > 1 else math.nan,
                "sigma_quoted_median": float(np.median(sig)) if len(sig) else math.nan,
                "pull": _stats(list((n_hat - s) / sig)) if len(sig) else _stats([]),
                "coverage_ul95": _fraction(list(n_hat + Z95 * sig >= s)),
                "coverage_1sigma": _fraction(list(np.abs(n_hat - s) <= sig)),
            }
            if s == 0 and len(good):
                lv["expected_cls95_median"] = float(
                    np.median([_cls95(a, b) for a, b in zip(n_hat, sig, strict=True)])
                )
            v["injected"].append(lv)
        out["variants"][key] = v
    paired = {}
    base = [r for r in ok if r["injected"] == 0 and r.get("default_valid")]
    for key in spec["variants"]:
        both = [r for r in base if r.get(f"{key}_valid") is True and f"{key}_N_X" in r]
        if len(both) > 1:
            d = [r[f"{key}_N_X"] - r["default_N_X"] for r in both]
            ratio = [r[f"{key}_sigma"] / r["default_sigma"] for r in both]
            paired[key] = {
                "n": len(both),
                "N_X_minus_default": _stats(d),
                "sigma_ratio_median": float(np.median(ratio)),
            }
    out["paired_with_default_at_zero"] = paired
    out["choice"] = choose(out)
    out["toy_seconds"] = {
        "sum": float(sum(r["seconds"] for r in rows)),
        "median": float(np.median([r["seconds"] for r in ok])) if ok else math.nan,
    }
    return out


def measured_check(run: str | Path, config: Any) -> dict[str, Any]:
    """Every variant fitted to a measured run, and whether its data reject it.

    Step 2 in each ``VARIANTS`` model (the default's decisions, one freedom changed), on
    ``run``'s spectra at ``config``'s bins and line. A variant with fewer free parameters than
    the default on the same range is rejected where it raises the statistic beyond the
    3-sigma point of chi2 with the difference of free parameters (the test ``_decide`` makes
    for the default's own choices); a variant with as many is not testable this way, and one
    on another range cannot be compared.
    """
    from scipy import stats

    from bayes_vip.analysis import classic
    from bayes_vip.analysis.spectral import Spectra
    from bayes_vip.pipeline.inputs import fit_inputs

    man = load_manifest(run)
    s1, s2, _ = fit_inputs(man, config)
    f = config.fit
    step1 = classic.fit_step1(s1, f.statistic)
    out: dict[str, Any] = {"run": man.name}
    default = None
    for key, (_label, changes, (lo, hi)) in VARIANTS.items():
        if default is not None:
            tail = "tail_frac" not in default.jm.fixed
            changes = {"noise": default.noise_refitted, "tail": tail, **changes}
        keep = (s2.centres >= lo) & (s2.centres < hi)
        idx = np.flatnonzero(keep)
        sp = Spectra(
            edges=s2.edges[idx[0] : idx[-1] + 2],
            counts=s2.counts[:, keep],
            periods=s2.periods,
            sdd=s2.sdd,
        )
        groups = tuple(g for g in ROI_GROUPS if lo <= line_group(g).centroid_eV <= hi)
        try:
            fit = classic.fit_step2(
                step1,
                sp,
                signal=config.signal_line(),
                statistic=f.statistic,
                roi_groups=groups,
                freedoms=classic.Freedoms(**{"signal_shape": f.signal_shape, **changes}),
            )
        except AnalysisError as exc:
            if key == "default":
                raise
            out[key] = {"error": str(exc)[:200], "test": "no valid fit to the measured data"}
            continue
        r = fit.result
        if key == "default":
            default = fit
        d = default.result
        row: dict[str, Any] = {
            "N_X": r.values["N_X"],
            "sigma_N_X": r.errors["N_X"],
            "statistic": r.fval,
            "ndf": r.ndf,
            "free": r.n_free,
            "range_eV": list(r.range_eV),
        }
        if r.range_eV != d.range_eV:
            row["test"] = "another range: not comparable"
        elif r.n_free < d.n_free:
            dof = d.n_free - r.n_free
            delta = r.fval - d.fval
            threshold = float(stats.chi2.isf(0.0027, dof))
            row |= {"delta_statistic": delta, "dof": dof, "threshold": threshold}
            row["rejected"] = bool(delta > threshold)
        else:
            row["test"] = "as many free parameters as the default: not testable"
        out[key] = row
    return out


def choose(
    summary: dict[str, Any], max_pull_bias: float = 0.2, measured: dict | None = None
) -> dict[str, Any]:
    """The default the issue asks for: the least expected limit, coverage kept, no bias.

    A variant keeps coverage where, at every injected signal, the Clopper-Pearson 95 %
    interval of its one-sided 95 % limit's coverage reaches 0.95; it shows no bias where,
    at every injected signal, its mean pull is within ``max_pull_bias`` or within two of
    its standard errors of zero. The window count is not a fit and is judged the same way.
    With ``measured`` (``measured_check``), a variant that the measured data reject is
    refused too: the toys share the simulation's assumptions (no energy shift, one
    continuum for on and off), which the data need not.
    """
    verdicts = {}
    for key, v in summary["variants"].items():
        reasons = []
        for lv in v["injected"]:
            cov = lv["coverage_ul95"]
            if cov["n"] and cov["cp95"][1] < 0.95:
                reasons.append(
                    f"under-covers at {lv['injected']:g} counts "
                    f"({100 * cov['fraction']:.1f} % of {cov['n']})"
                )
            p = lv["pull"]
            if p["n"] > 1 and abs(p["mean"]) > max(max_pull_bias, 2 * p["mean_err"]):
                reasons.append(f"biased at {lv['injected']:g} counts (mean pull {p['mean']:+.2f})")
        m = (measured or {}).get(key, {})
        if m.get("rejected"):
            reasons.append(
                f"rejected by the measured data (statistic +{m['delta_statistic']:.1f} for "
                f"{m['dof']} fewer parameters; 3 sigma: {m['threshold']:.1f})"
            )
        zero = [lv for lv in v["injected"] if lv["injected"] == 0]
        expected = zero[0].get("expected_cls95_median", math.nan) if zero else math.nan
        verdicts[key] = {"expected_cls95": expected, "passes": not reasons, "reasons": reasons}
    # the window is not a fit (and counts a part of the line): judged, never chosen
    passing = {
        k: d
        for k, d in verdicts.items()
        if k != "window" and d["passes"] and math.isfinite(d["expected_cls95"])
    }
    best = min(passing, key=lambda k: passing[k]["expected_cls95"]) if passing else None
    return {"chosen": best, "verdicts": verdicts}


def sensitivity_study(
    *,
    out: str | Path,
    injected: tuple[float, ...] = (0.0, 350.0),
    toys: int = 100,
    seed: int = 15,
    scheduler: str | None = None,
    workers: int | None = None,
    progress=None,
    stop_after: int | None = None,
    measured: str | Path | None = None,
    config: Any = None,
) -> dict[str, Any]:
    """Run (or resume) the decomposition into ``out``: ``toys.parquet`` and the summary.

    ``measured``: a measured run whose data each variant must also fit (``measured_check``,
    under ``config``).
    """
    spec = sensitivity_spec(injected=injected, toys=toys, seed=seed)
    store = Path(out) / "toys.parquet"
    t0 = time.perf_counter()
    rows = run_toys(
        sensitivity_toy,
        sensitivity_toys(spec),
        store,
        spec,
        scheduler=scheduler,
        workers=workers,
        progress=progress or SILENT,
        stop_after=stop_after,
    )
    summary = summarise(rows, spec)
    if measured is not None:
        summary["measured"] = measured_check(measured, config)
        summary["choice"] = choose(summary, measured=summary["measured"])
    return {
        **{k: spec[k] for k in ("study", "preset", "signal", "statistic", "bin_eV", "seed")},
        "injected": spec["injected"],
        "toys_per_injected": toys,
        "wall_s_this_session": time.perf_counter() - t0,
        **summary,
        "store": str(store),
    }
