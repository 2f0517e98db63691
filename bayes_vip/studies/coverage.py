"""Coverage of the limits, with every toy analysed as a user analyses a run.

A study copies the layout of a simulated run (its ``[simulation]`` preset, signal line and
level). A signal-free reference toy's classic fit gives sigma(N_X); the injected signals are
multiples of it. Each toy is then, on a Dask worker (``studies.engine``):

1. simulated from the preset with its own seed and the injected expected counts;
2. written as a run (ADC events, or energy histograms through the true calibration);
3. analysed by the production path: ``calibrate`` (ADC level), ``fit`` (its own classic fit,
   which centres its own priors and starts), then ``sample`` with the configuration's
   chains, draws, extensions and gates;
4. reduced to a row: the classic profile-likelihood limits and significance, the Bayesian
   limits, Bayes factor and diagnostics, and whether the gates passed.

``summarise`` turns the rows into coverage figures with Clopper-Pearson intervals, over all
toys and over the toys that passed the gates, the false-detection rate at zero signal and
the median limits.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bayes_vip.errors import InputError
from bayes_vip.io.atomic import write_json
from bayes_vip.io.config import AnalysisConfig, load_config, with_values
from bayes_vip.io.manifest import load_manifest
from bayes_vip.pipeline.devices import compilation_cache
from bayes_vip.pipeline.progress import SILENT, Progress
from bayes_vip.simulate.presets import preset_from_settings
from bayes_vip.studies.engine import Toy, check_store, run_toys, toy_seed

__all__ = [
    "LEVELS",
    "METHODS",
    "coverage_spec",
    "coverage_toy",
    "coverage_toys",
    "production_toys",
    "reference_sigma",
    "study_record",
    "summarise",
]

#: The credibility / confidence levels whose limits are checked.
LEVELS = (0.9, 0.95, 0.997)
#: Methods a study can run: the classic fit alone, or the classic fit and the NUTS analysis.
METHODS = ("classic", "bayes")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def toy_config(spec: dict[str, Any], seed: int) -> AnalysisConfig:
    """The analysis configuration of a toy: the study's, with the toy's seed for the chains."""
    cfg = load_config(overrides=_flatten(spec["config"]))
    return with_values(cfg, sample={"seed": seed})


def _simulate_toy(spec: dict[str, Any], seed: int, injected: float, out: Path) -> Any:
    """Simulate and write toy ``seed`` with ``injected`` expected signal counts into ``out``."""
    import numpy as np

    from bayes_vip.simulate.simulator import (
        simulate_campaign,
        write_campaign,
        write_energy_campaign,
    )

    pre = preset_from_settings(spec["settings"])
    sim = simulate_campaign(
        pre, rng=np.random.default_rng(seed), signal_counts=injected, signal=spec["signal"]
    )
    if spec["level"] == "adc":
        write_campaign(sim, out, signal=spec["signal"])
    else:
        write_energy_campaign(sim, out, signal=spec["signal"], rng=np.random.default_rng(seed))
    return sim


def _classic_row(classic: dict[str, Any]) -> dict[str, Any]:
    lim = classic["upper_limits_counts"]
    n, s = float(classic["N_X"]), float(classic["sigma_N_X"])
    row = {
        "classic_N_X": n,
        "classic_sigma_N_X": s,
        "classic_significance": n / s if s > 0 else math.nan,
    }
    for cl in LEVELS:
        row[f"classic_ul{_tag(cl)}"] = float(lim[f"profile {cl:g}"])
    return row


def _tag(cl: float) -> str:
    """``0.95 -> "95"``, ``0.997 -> "99.7"``: column names of the levels."""
    return f"{100 * cl:g}"


def _bayes_row(lim: dict[str, Any]) -> dict[str, Any]:
    ul = lim["upper_limits"]["N_X"]
    diag = lim["diagnostics"]
    bf = lim.get("bayes_factor", {})
    row: dict[str, Any] = {
        "bayes_gates_passed": bool(lim["gates"]["passed"]),
        "bayes_gates_failed": "; ".join(lim["gates"].get("failed", [])),
        "bayes_r_hat_max": float(diag["r_hat_max"]),
        "bayes_ess_bulk_min": float(diag["ess_bulk_min"]),
        "bayes_ess_tail_min": float(diag["ess_tail_min"]),
        "bayes_divergences": int(diag["divergences"]),
        "bayes_draws_per_chain": int(lim["sampler"]["draws_per_chain"]),
        # chains restarted from a healthy one in warm-up, runs dropped for a retry
        "bayes_warmup_restarts": len(lim["sampler"].get("warmup_restarts", [])),
        "bayes_retries": len(lim["sampler"].get("retries", [])),
        "bayes_BF_10": float(bf.get("BF_10_signal_vs_no_signal", math.nan)),
        "bayes_BF_10_mcse": float(bf.get("BF_01_mcse", math.nan))
        * float(bf.get("BF_10_signal_vs_no_signal", math.nan)) ** 2,
        "bayes_median": float(ul["median"]),
        "bayes_central90_lo": float(ul["central_90"][0]),
        "bayes_central90_hi": float(ul["central_90"][1]),
        "bayes_seconds_nuts": float(lim["seconds"]["nuts"]),
    }
    for cl in LEVELS:
        row[f"bayes_ul{_tag(cl)}"] = float(ul[f"{cl:g}"]["value"])
        row[f"bayes_ul{_tag(cl)}_mcse"] = float(ul[f"{cl:g}"]["mcse"])
    return row


def coverage_toy(toy: Toy, spec: dict[str, Any]) -> dict[str, Any]:
    """Simulate toy ``toy`` and analyse it as ``bayes-vip fit`` and ``sample`` would."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.pipeline.calibrate import ensure_calibration
    from bayes_vip.pipeline.fit import fit
    from bayes_vip.pipeline.sample import sample

    compilation_cache()
    cfg = toy_config(spec, toy.seed)
    injected = float(toy.params["injected"])
    with tempfile.TemporaryDirectory(prefix="bayes-vip-toy-") as tmp:
        run = Path(tmp) / f"toy-{toy.index}"
        sim = _simulate_toy(spec, toy.seed, injected, run)
        row: dict[str, Any] = {"realised": int(sim.truth["signal_counts_realised"])}
        ensure_calibration(run, cfg)
        row |= _classic_row(fit(run, cfg, figures=False))
        if "bayes" in spec["methods"]:
            row |= _bayes_row(sample(run, cfg, figures=False))
    return row


def coverage_spec(
    run: str | Path,
    config: AnalysisConfig,
    *,
    multiples: tuple[float, ...],
    toys: int,
    seed: int,
    methods: tuple[str, ...] = METHODS,
) -> dict[str, Any]:
    """The study's description, checked; no computation.

    ``run`` must be a simulated run (its ``[simulation]`` table names the preset).
    """
    man = load_manifest(run)
    if man.kind != "simulated" or "settings" not in man.simulation:
        msg = (
            "toy studies copy a simulated run's layout, and this run has no "
            "[simulation.settings]; make one with `bayes-vip simulate`"
        )
        raise InputError(msg, file=man.path, field="simulation.settings")
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        msg = f"must be some of {list(METHODS)}, got {list(methods)}"
        raise InputError(msg, field="study.methods")
    if seed < 0:
        msg = f"must be >= 0, got {seed}"
        raise InputError(msg, field="study.seed")
    if toys < 1:
        msg = f"must be at least 1, got {toys}"
        raise InputError(msg, field="study.toys")
    if not multiples or any(not (math.isfinite(k) and k >= 0) for k in multiples):
        msg = f"must be finite multiples >= 0 of sigma(N_X), got {list(multiples)}"
        raise InputError(msg, field="study.multiples")
    cfg = config.to_dict()
    # the toys are analysed for the line they were simulated with
    cfg["signal"] = man.simulation.get("signal", cfg["signal"])
    return {
        "study": "coverage",
        "run": man.name,
        "preset": man.simulation.get("preset"),
        "settings": man.simulation["settings"],
        "signal": man.simulation.get("signal", "ka1"),
        "level": man.level,
        "config": cfg,
        "methods": list(methods),
        "multiples": [float(k) for k in multiples],
        "toys_per_multiple": int(toys),
        "seed": int(seed),
    }


def reference_sigma(spec: dict[str, Any]) -> dict[str, Any]:
    """The classic fit of the study's signal-free reference toy: its seed and sigma(N_X)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.pipeline.calibrate import ensure_calibration
    from bayes_vip.pipeline.fit import fit

    seed = toy_seed(spec["seed"], 0, stream=1)
    cfg = toy_config(spec, seed)
    with tempfile.TemporaryDirectory(prefix="bayes-vip-toy-") as tmp:
        run = Path(tmp) / "reference"
        _simulate_toy(spec, seed, 0.0, run)
        ensure_calibration(run, cfg)
        classic = fit(run, cfg, figures=False)
    return {
        "seed": seed,
        "sigma_N_X": float(classic["sigma_N_X"]),
        "N_X": float(classic["N_X"]),
        "counts_per_beta2half": float(classic["conversion"]["counts_per_beta2half"]),
    }


def coverage_toys(spec: dict[str, Any]) -> list[Toy]:
    """Every toy of the study: ``toys_per_multiple`` for each multiple.

    The multiples take turns (toy ``i`` injects multiple ``i mod m``), so that a study
    stopped part-way has about as many toys at every injected signal.
    """
    sigma = spec["reference"]["sigma_N_X"]
    ks = spec["multiples"]
    return [
        Toy(i, toy_seed(spec["seed"], i), {"multiple": float(k), "injected": float(k) * sigma})
        for i in range(spec["toys_per_multiple"] * len(ks))
        for k in [ks[i % len(ks)]]
    ]


def clopper_pearson(k: int, n: int, cl: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) ``cl`` interval of a binomial fraction ``k / n``."""
    from scipy.stats import beta

    if n == 0:
        return (math.nan, math.nan)
    a = (1 - cl) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return (lo, hi)


def _fraction(flags: list[bool]) -> dict[str, Any]:
    k, n = int(sum(flags)), len(flags)
    lo, hi = clopper_pearson(k, n)
    return {"k": k, "n": n, "fraction": k / n if n else math.nan, "cp95": [lo, hi]}


def _median(values: list[float]) -> float:
    import numpy as np

    return float(np.median(values)) if values else math.nan


def summarise(rows: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """Coverage per injected multiple, with Clopper-Pearson 95 % intervals.

    For each limit: the fraction of toys whose limit lies at or above the injected expected
    counts, over every toy whose analysis ran (``all``) and, for the Bayesian limits, over
    the toys that passed the gates (``gates_passed``). At zero signal every limit is above
    the truth, so there the false-detection rates are reported instead: a classic excess of
    3 sigma, and BF_10 > 10.
    """
    bayes = "bayes" in spec["methods"]
    out: dict[str, Any] = {"multiples": []}
    for k in spec["multiples"]:
        at = [r for r in rows if r["multiple"] == k]
        ok = [r for r in at if r["status"] == "ok"]
        truth = k * spec["reference"]["sigma_N_X"]
        lv: dict[str, Any] = {
            "multiple": k,
            "injected_counts": truth,
            "toys": len(at),
            "errors": len(at) - len(ok),
            "error_messages": sorted({r["error"] for r in at if r["status"] != "ok"})[:5],
            "coverage": {},
        }
        passed = [r for r in ok if r.get("bayes_gates_passed")] if bayes else []
        if bayes:
            lv["gates_passed"] = _fraction([bool(r["bayes_gates_passed"]) for r in ok])
        for cl in LEVELS:
            t = _tag(cl)
            c = {"classic_profile": _fraction([r[f"classic_ul{t}"] >= truth for r in ok])}
            if bayes:
                c["bayes_all"] = _fraction([r[f"bayes_ul{t}"] >= truth for r in ok])
                c["bayes_gates_passed"] = _fraction([r[f"bayes_ul{t}"] >= truth for r in passed])
            lv["coverage"][t] = c
        lv["median_ul95"] = {"classic_profile": _median([r["classic_ul95"] for r in ok])}
        if bayes:
            lv["median_ul95"]["bayes"] = _median([r["bayes_ul95"] for r in ok])
        if k == 0:
            lv["false_detection"] = {
                "classic_3sigma": _fraction([r["classic_significance"] > 3 for r in ok])
            }
            if bayes:
                lv["false_detection"]["bayes_BF10_gt_10"] = _fraction(
                    [r["bayes_BF_10"] > 10 for r in ok]
                )
        out["multiples"].append(lv)
    zero = [lv for lv in out["multiples"] if lv["multiple"] == 0]
    if zero:
        out["expected_sensitivity_ul95_counts"] = zero[0]["median_ul95"]
    done = [r for r in rows if r["status"] == "ok"]
    out["toys_done"] = len(rows)
    out["toys_total"] = len(spec["multiples"]) * spec["toys_per_multiple"]
    out["toy_seconds"] = {
        "sum": float(sum(r["seconds"] for r in rows)),
        "median": _median([r["seconds"] for r in done]),
    }
    return out


def production_toys(
    spec: dict[str, Any],
    store: Path,
    *,
    reference_stage: str,
    what: str,
    scheduler: str | None,
    workers: int | None,
    progress: Progress,
    stop_after: int | None,
) -> tuple[list[dict[str, Any]], float]:
    """Run the toys of a coverage-type study (coverage, bands) into ``store``.

    The reference toy's fit comes from the store when it holds the study, or is made first
    (``reference_sigma``, announced as ``reference_stage``). Then every toy that the store
    lacks runs on Dask (``coverage_toy``). Returns every row and the wall time [s].
    """
    have = check_store(store, spec, ignore=("reference",))
    if have is not None:
        spec["reference"] = have["reference"]
    t0 = time.perf_counter()
    if "reference" not in spec:
        progress.stage(reference_stage)
        spec["reference"] = reference_sigma(spec)
    where = "scheduler " + scheduler if scheduler else "local cluster"
    progress.stage(f"{what} on Dask ({where})")
    rows = run_toys(
        coverage_toy,
        coverage_toys(spec),
        store,
        spec,
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        stop_after=stop_after,
    )
    return rows, time.perf_counter() - t0


def study_record(
    spec: dict[str, Any], *, scheduler: str | None, workers: int | None, wall: float
) -> dict[str, Any]:
    """The head of every coverage-type study's JSON: the study, its layout, where it ran."""
    return {
        "study": spec["study"],
        "run": spec["run"],
        "preset": spec["preset"],
        "level": spec["level"],
        "signal": spec["signal"],
        "methods": spec["methods"],
        "seed": spec["seed"],
        "reference": spec["reference"],
        "config": spec["config"],
        "scheduler": scheduler or "local",
        "workers": workers or (None if scheduler else os.cpu_count()),
        "wall_s_this_session": wall,
    }


def coverage_study(
    run: str | Path,
    config: AnalysisConfig,
    *,
    out: str | Path | None = None,
    multiples: tuple[float, ...] = (0, 1, 2, 3, 5),
    toys: int = 400,
    seed: int = 0,
    methods: tuple[str, ...] = METHODS,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress = SILENT,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """The coverage study of ``run``'s layout, into ``out``.

    Writes ``toys.parquet``, ``coverage.json`` and ``coverage.png`` into ``out`` (default
    ``RUN/results/study-coverage``). Started again with the same options on the same
    ``out``, it resumes: the toys already in ``toys.parquet`` are kept and not run again.
    """
    from bayes_vip.studies.figures import coverage_figure

    spec = coverage_spec(run, config, multiples=multiples, toys=toys, seed=seed, methods=methods)
    out = Path(out) if out is not None else Path(run) / "results" / "study-coverage"
    store = out / "toys.parquet"
    rows, wall = production_toys(
        spec,
        store,
        reference_stage="the reference toy's classic fit (sigma of N_X)",
        what=f"{len(spec['multiples']) * toys} toys",
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        stop_after=stop_after,
    )
    summary = summarise(rows, spec)
    record = {
        **study_record(spec, scheduler=scheduler, workers=workers, wall=wall),
        "toys_per_multiple": toys,
        **summary,
        "store": str(store),
    }
    # a worker runs one toy at a time: toys over the summed toy time is the rate per worker
    record["toys_per_s_per_worker"] = len(rows) / max(summary["toy_seconds"]["sum"], 1e-9)
    out.mkdir(parents=True, exist_ok=True)
    record["figure"] = str(coverage_figure(summary, spec, out / "coverage.png"))
    record["json"] = str(out / "coverage.json")
    write_json(out / "coverage.json", record)
    return record
