"""Expected limits: the median and the +-1 and +-2 sigma bands, from background-only toys.

``bayes-vip study bands RUN`` simulates toys of a simulated run's layout with no signal and
analyses each one as a user analyses a run (``studies.coverage.coverage_toy``: its own
calibration, classic fit, priors, starts and NUTS run with the gates). The expected limit
of a method is the distribution of its limit over those toys. Its median is the expected
sensitivity; the quantiles at Phi(+-1) and Phi(+-2) are the bands that a "Brazil" figure
draws. The run's own limits, where it has them (``results/classic.json`` and
``results/limits.json``), are placed among the toys' limits as a percentile.

Each band edge comes with a 68 % interval from the order statistics: the toys' limits are a
sample, and with ``n`` toys the rank of the ``q`` quantile is Binomial(n, q).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bayes_vip.io.atomic import write_json
from bayes_vip.io.config import AnalysisConfig
from bayes_vip.io.manifest import load_manifest
from bayes_vip.io.outputs import BANDS_DIR, read_json, results_dir
from bayes_vip.pipeline.progress import SILENT, Progress
from bayes_vip.studies.coverage import (
    LEVELS,
    METHODS,
    coverage_spec,
    production_toys,
    study_record,
)

__all__ = ["BANDS", "band_quantiles", "bands_spec", "bands_study", "summarise_bands"]

#: The band edges: standard-normal probabilities at -2, -1, 0, +1 and +2 sigma.
BANDS = {
    "-2": 0.5 * math.erfc(2 / math.sqrt(2)),
    "-1": 0.5 * math.erfc(1 / math.sqrt(2)),
    "median": 0.5,
    "+1": 0.5 * math.erfc(-1 / math.sqrt(2)),
    "+2": 0.5 * math.erfc(-2 / math.sqrt(2)),
}


def band_quantiles(values: list[float]) -> dict[str, Any]:
    """Each band edge of ``values`` with a 68 % order-statistic interval, and ``n``.

    The ``q`` quantile is the sample's value at rank ``q (n - 1)`` (linear interpolation);
    its interval runs between the order statistics at the 16 % and 84 % points of
    Binomial(n, q) (clipped to the sample).
    """
    import numpy as np
    from scipy.stats import binom

    x = np.sort(np.asarray(values, float))
    n = len(x)
    out: dict[str, Any] = {"n": n}
    for name, q in BANDS.items():
        if n == 0:
            out[name] = {"value": math.nan, "interval68": [math.nan, math.nan]}
            continue
        lo = int(np.clip(binom.ppf(0.16, n, q) - 1, 0, n - 1))
        hi = int(np.clip(binom.ppf(0.84, n, q), 0, n - 1))
        out[name] = {
            "value": float(np.quantile(x, q)),
            "interval68": [float(x[lo]), float(x[hi])],
        }
    return out


def _percentile(values: list[float], observed: float) -> float:
    """The fraction of ``values`` at or below ``observed``."""
    if not values or not math.isfinite(observed):
        return math.nan
    return sum(v <= observed for v in values) / len(values)


def _observed(run: str | Path) -> dict[str, float]:
    """The run's own limits on N_X, where its results hold them (classic and Bayesian)."""
    res = results_dir(load_manifest(run))
    obs: dict[str, float] = {}
    if (res / "classic.json").is_file():
        lim = read_json(res / "classic.json")["upper_limits_counts"]
        for cl in LEVELS:
            obs[f"classic_ul{100 * cl:g}"] = float(lim[f"profile {cl:g}"])
    if (res / "limits.json").is_file():
        ul = read_json(res / "limits.json")["upper_limits"]["N_X"]
        for cl in LEVELS:
            obs[f"bayes_ul{100 * cl:g}"] = float(ul[f"{cl:g}"]["value"])
    return obs


def summarise_bands(
    rows: list[dict[str, Any]], spec: dict[str, Any], observed: dict[str, float]
) -> dict[str, Any]:
    """The bands of every limit (classic profile and Bayesian, 90 / 95 / 99.7 %) in counts.

    Over every toy whose analysis ran, and for the Bayesian limits also over the toys that
    passed the gates; with ``beta2half`` bands where the reference fit gives the conversion,
    and the observed limits' percentiles.
    """
    ok = [r for r in rows if r["status"] == "ok"]
    k_b = spec["reference"].get("counts_per_beta2half")
    out: dict[str, Any] = {
        "toys_done": len(rows),
        "toys_total": spec["toys_per_multiple"],
        "errors": len(rows) - len(ok),
        "error_messages": sorted({r["error"] for r in rows if r["status"] != "ok"})[:5],
        "limits": {},
    }
    if "bayes" in spec["methods"]:
        out["gates_passed"] = sum(bool(r["bayes_gates_passed"]) for r in ok)
    for method in spec["methods"]:
        for cl in LEVELS:
            col = f"{method}_ul{100 * cl:g}"
            vals = [float(r[col]) for r in ok]
            entry: dict[str, Any] = {"counts": band_quantiles(vals)}
            if method == "bayes":
                passed = [float(r[col]) for r in ok if r["bayes_gates_passed"]]
                entry["counts_gates_passed"] = band_quantiles(passed)
            if k_b:
                entry["beta2half"] = band_quantiles([v / k_b for v in vals])
            if col in observed:
                entry["observed_counts"] = observed[col]
                entry["observed_percentile"] = _percentile(vals, observed[col])
            out["limits"][col] = entry
    return out


def bands_spec(
    run: str | Path,
    config: AnalysisConfig,
    *,
    toys: int,
    seed: int,
    methods: tuple[str, ...] = METHODS,
) -> dict[str, Any]:
    """The study's description, checked (``coverage_spec`` with no signal); no computation."""
    spec = coverage_spec(run, config, multiples=(0.0,), toys=toys, seed=seed, methods=methods)
    spec["study"] = "bands"
    return spec


def bands_study(
    run: str | Path,
    config: AnalysisConfig,
    *,
    out: str | Path | None = None,
    toys: int = 400,
    seed: int = 0,
    methods: tuple[str, ...] = METHODS,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress = SILENT,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """The expected-limit bands of ``run``'s layout, into ``out``.

    Writes ``toys.parquet``, ``bands.json`` and ``bands.png`` into ``out`` (default
    ``RUN/results/study-bands``); resumes like every study.
    """
    from bayes_vip.studies.figures import bands_figure

    spec = bands_spec(run, config, toys=toys, seed=seed, methods=methods)
    out = Path(out) if out is not None else Path(run) / "results" / BANDS_DIR
    store = out / "toys.parquet"
    rows, wall = production_toys(
        spec,
        store,
        reference_stage="the reference toy's classic fit (the conversion to beta^2/2)",
        what=f"{toys} background-only toys",
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        stop_after=stop_after,
    )
    summary = summarise_bands(rows, spec, _observed(run))
    seconds = float(sum(r["seconds"] for r in rows))
    record = {
        **study_record(spec, scheduler=scheduler, workers=workers, wall=wall),
        **summary,
        "toys_per_s_per_worker": len(rows) / max(seconds, 1e-9),
        "store": str(store),
    }
    out.mkdir(parents=True, exist_ok=True)
    record["figure"] = str(bands_figure(summary, spec, out / "bands.png"))
    record["json"] = str(out / "bands.json")
    write_json(out / "bands.json", record)
    return record
