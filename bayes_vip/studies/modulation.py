"""Layouts of the current in time compared on toys: two long periods, weekly, 50 s switching.

Issue 17 (part 1), seed 001 sec. 4: with the current switched on and off often, slow drifts
of the detector fall equally on both currents. The study simulates campaigns of one total
time and one known background drift (``Preset.background_drift``: every background rate
changes linearly on the run clock) in several layouts of the current (``Preset.cycle_s``:
turns of that many seconds; half the run's time is one long turn), each toy at energy level
through the true calibration, and analyses each with the classic fit of ``bayes-vip fit``
(its inputs, steps and profile limits), with both step-2 backgrounds (``fit.background``):

- ``separate``: each spectrum its own line intensities and continuum (seed 000);
- ``shared``: one background rate for both currents, scaled by live time.

Per layout, background and injected signal: the bias of N_X and its pull, the coverage of
the 95 % profile-likelihood upper limit (Clopper-Pearson intervals), and the median limit
(the expected limit at zero signal). ``docs/modulation.md`` has the figures and what they
say; ``docs/scripts/modulation_study.py`` runs it.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bayes_vip.errors import InputError
from bayes_vip.io.config import BACKGROUNDS, load_config
from bayes_vip.io.manifest import load_manifest
from bayes_vip.physics.constants import SECONDS_PER_DAY
from bayes_vip.pipeline.devices import compilation_cache
from bayes_vip.pipeline.progress import SILENT, Progress
from bayes_vip.simulate.presets import (
    OPTIONAL_SETTINGS,
    preset,
    preset_from_settings,
    preset_settings,
)
from bayes_vip.studies.coverage import _fraction
from bayes_vip.studies.engine import Toy, check_store, read_store, run_toys, toy_seed

__all__ = [
    "LAYOUTS",
    "layout_preset",
    "modulation_spec",
    "modulation_study",
    "modulation_summary",
    "modulation_toy",
    "modulation_toys",
    "reference_sigma",
    "summarise",
]

#: The layouts of the current compared, by the length of a turn [s] (None: half the run,
#: i.e. two long periods).
LAYOUTS: dict[str, float | None] = {
    "two-periods": None,
    "weekly": 7 * SECONDS_PER_DAY,
    "50s": 50.0,
}


def layout_preset(settings: dict[str, Any], cycle_s: float | None, drift: float):
    """The study's preset with one layout (``cycle_s``; None: two long periods) and drift."""
    base = preset_from_settings(settings)
    if cycle_s is None:
        cycle_s = base.periods[0].days * SECONDS_PER_DAY
    return replace(base, cycle_s=float(cycle_s), background_drift=float(drift))


def modulation_spec(
    *,
    base: str = "vip2-switched",
    n_sdd: int | None = None,
    layouts: tuple[str, ...] = tuple(LAYOUTS),
    drift: float = 0.2,
    multiples: tuple[float, ...] = (0.0, 2.0),
    toys: int = 40,
    seed: int = 17,
    signal: str = "ka1",
    backgrounds: tuple[str, ...] = BACKGROUNDS,
) -> dict[str, Any]:
    """The study's description (kept in its store): layout, drift, signals, toys, seed."""
    unknown = [x for x in layouts if x not in LAYOUTS]
    if unknown:
        msg = f"unknown layout(s) {unknown}; choose from {list(LAYOUTS)}"
        raise InputError(msg, field="study.layouts")
    if not (math.isfinite(drift) and abs(drift) < 2):
        msg = f"must be a relative change between -2 and 2, got {drift}"
        raise InputError(msg, field="study.drift")
    if toys < 1:
        msg = f"must be >= 1, got {toys}"
        raise InputError(msg, field="study.toys")
    bad = [b for b in backgrounds if b not in BACKGROUNDS]
    if bad:
        msg = f"unknown background(s) {bad}; choose from {list(BACKGROUNDS)}"
        raise InputError(msg, field="fit.background")
    pre = preset(base) if n_sdd is None else preset(base, n_sdd=int(n_sdd))
    settings = preset_settings(pre)
    for k in OPTIONAL_SETTINGS:  # the layout and the drift are the study's (layout_preset)
        settings.pop(k, None)
    return {
        "study": "modulation",
        "preset": base,
        "settings": settings,
        "layouts": list(layouts),
        "drift": float(drift),
        "multiples": [float(m) for m in multiples],
        "toys_per_cell": int(toys),
        "seed": int(seed),
        "signal": signal,
        "backgrounds": list(backgrounds),
    }


def _simulate(spec: dict[str, Any], layout: str, seed: int, injected: float, out: Path):
    import numpy as np

    from bayes_vip.simulate.simulator import simulate_campaign, write_energy_campaign

    pre = layout_preset(spec["settings"], LAYOUTS[layout], spec["drift"])
    sim = simulate_campaign(
        pre, rng=np.random.default_rng(seed), signal_counts=injected, signal=spec["signal"]
    )
    write_energy_campaign(sim, out, signal=spec["signal"], rng=np.random.default_rng(seed))
    return sim


def _fit_rows(run: Path, backgrounds) -> dict[str, Any]:
    """The classic fit of ``bayes-vip fit`` with each background: N_X, sigma, profile limits.

    The run is read as ``fit`` reads it (``pipeline.inputs.fit_inputs``); step 1, which the
    backgrounds share, runs once; step 2 runs with ``Freedoms(background=...)`` (the
    production default otherwise); the profile-likelihood limits are ``fit``'s (the CLs
    limits and the expected bands, which the study does not use, are left out).
    """
    from bayes_vip.analysis import classic
    from bayes_vip.analysis.asymptotic import frequentist_limits
    from bayes_vip.pipeline.inputs import fit_inputs

    man = load_manifest(run)
    cfg = load_config(run)
    s1, s2, _ = fit_inputs(man, cfg)
    f = cfg.fit
    step1 = classic.fit_step1(s1, f.statistic)
    row: dict[str, Any] = {}
    for bg in backgrounds:
        fr = classic.Freedoms(signal_shape=f.signal_shape, background=bg)
        st2 = classic.fit_step2(
            step1, s2, signal=cfg.signal_line(), statistic=f.statistic, freedoms=fr
        )
        r2 = st2.result
        prof = classic._ClassicProfile(st2.fitter, r2)
        lim = frequentist_limits(prof, st2.fitter.counts, (0.9, 0.95), (0.0,))["profile"]
        row |= {
            f"{bg}_N_X": float(r2.values["N_X"]),
            f"{bg}_sigma_N_X": float(r2.errors["N_X"]),
            f"{bg}_ul90": float(lim["0.9"]),
            f"{bg}_ul95": float(lim["0.95"]),
        }
    return row


def modulation_toy(toy: Toy, spec: dict[str, Any]) -> dict[str, Any]:
    """Simulate toy ``toy`` in its layout and fit it with each background of the study."""
    import jax

    jax.config.update("jax_enable_x64", True)
    compilation_cache()
    with tempfile.TemporaryDirectory(prefix="bayes-vip-mod-") as tmp:
        run = Path(tmp) / f"toy-{toy.index}"
        sim = _simulate(spec, toy.params["layout"], toy.seed, toy.params["injected"], run)
        row: dict[str, Any] = {
            "realised": int(sim.truth["signal_counts_realised"]),
            "intervals": int(sim.schedule.start_s.size),
        }
        row |= _fit_rows(run, spec["backgrounds"])
    return row


def reference_sigma(spec: dict[str, Any]) -> float:
    """sigma(N_X) of a signal-free toy of the first layout, separate backgrounds.

    The unit of the injected signals.
    """
    toy = Toy(-1, toy_seed(spec["seed"], 10**6), {"layout": spec["layouts"][0], "injected": 0.0})
    one = {**spec, "backgrounds": ["separate"]}
    return float(modulation_toy(toy, one)["separate_sigma_N_X"])


def modulation_toys(spec: dict[str, Any]) -> list[Toy]:
    """Every toy of the study, the layouts and the injected multiples taking turns.

    Toy ``i`` has layout ``i mod L`` and multiple ``(i // L) mod M``, so that a study
    stopped early is balanced.
    """
    lays, ks = spec["layouts"], spec["multiples"]
    n = len(lays) * len(ks)
    sigma = spec["reference_sigma_N_X"]
    return [
        Toy(
            i,
            toy_seed(spec["seed"], i),
            {"layout": lays[i % len(lays)], "multiple": k, "injected": k * sigma},
        )
        for i in range(spec["toys_per_cell"] * n)
        for k in [ks[(i // len(lays)) % len(ks)]]
    ]


def _mean_se(values) -> tuple[float, float]:
    import numpy as np

    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return (math.nan, math.nan)
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return (float(v.mean()), se)


def summarise(rows: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """Per layout, background and multiple: bias and pull of N_X, coverage, median limit."""
    import numpy as np

    ok = [r for r in rows if r["status"] == "ok"]
    cells: list[dict[str, Any]] = []
    for lay in spec["layouts"]:
        for bg in spec["backgrounds"]:
            for k in spec["multiples"]:
                sel = [r for r in ok if r["layout"] == lay and r["multiple"] == k]
                if not sel:
                    continue
                inj = np.array([r["injected"] for r in sel])
                n_x = np.array([r[f"{bg}_N_X"] for r in sel])
                sig = np.array([r[f"{bg}_sigma_N_X"] for r in sel])
                ul = np.array([r[f"{bg}_ul95"] for r in sel])
                bias, bias_se = _mean_se(n_x - inj)
                pull, pull_se = _mean_se((n_x - inj) / sig)
                cells.append(
                    {
                        "layout": lay,
                        "background": bg,
                        "multiple": k,
                        "injected": float(inj.mean()),
                        "toys": len(sel),
                        "bias_N_X": bias,
                        "bias_N_X_se": bias_se,
                        "pull_mean": pull,
                        "pull_mean_se": pull_se,
                        "pull_sd": float(np.std((n_x - inj) / sig, ddof=1))
                        if len(sel) > 1
                        else math.nan,
                        "sigma_N_X_median": float(np.median(sig)),
                        "coverage_ul95": _fraction((ul >= inj).tolist()),
                        "ul95_median": float(np.median(ul)),
                    }
                )
    return {
        "toys": len(rows),
        "failed": len(rows) - len(ok),
        "errors": sorted({r["error"] for r in rows if r["status"] != "ok"})[:5],
        "cells": cells,
    }


def modulation_study(
    spec: dict[str, Any],
    out: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress = SILENT,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) the study into ``out``: ``toys.parquet`` and the summary it returns."""
    out = Path(out)
    store = out / "toys.parquet"
    have = check_store(store, spec, ignore=("reference_sigma_N_X",))
    if have is not None:
        spec = {**spec, "reference_sigma_N_X": have["reference_sigma_N_X"]}
    else:
        progress.stage("reference toy: sigma(N_X) without signal")
        spec = {**spec, "reference_sigma_N_X": reference_sigma(spec)}
    out.mkdir(parents=True, exist_ok=True)
    rows = run_toys(
        modulation_toy,
        modulation_toys(spec),
        store,
        spec,
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        stop_after=stop_after,
    )
    return {"spec": spec, **summarise(rows, spec)}


def modulation_summary(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """The summary of the toys that the store in ``out`` holds, running none."""
    store = Path(out) / "toys.parquet"
    have = check_store(store, spec, ignore=("reference_sigma_N_X",))
    if have is None:
        msg = "no study store here; run the study first"
        raise InputError(msg, file=store)
    spec = {**spec, "reference_sigma_N_X": have["reference_sigma_N_X"]}
    return {"spec": spec, **summarise(read_store(store, spec), spec)}
