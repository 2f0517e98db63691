"""Frequentist limits from toys on the toy engine: CLs, profile, expected bands, Feldman-Cousins.

``bayes-vip study frequentist RUN`` runs the classic fit of RUN once, then toys of it: at
each mu of a grid (0 to ``reach`` classic sigmas in ``points`` steps) ``toys`` data sets
drawn from the step-2 model with N_X = mu and the nuisances at their fit to the run's data
there, and ``toys`` background-only ones (``analysis.toys``). Each toy is a Dask task
(``studies.engine``); a worker builds the run's fit once and keeps it. The toys are stored
in ``toys.parquet`` (the study resumes) and the limits go to ``frequentist.json``, beside the
asymptotic ones of ``classic.json`` for comparison.

A study's profile comes from a *builder*: a module-level function named in the spec
(``"module:function"``) and its JSON arguments, which every worker calls once; the classic
fit's is ``classic_profile``. The tests build small Poisson models the same way.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from bayes_vip.analysis.conventions import CLS
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import write_json
from bayes_vip.io.config import load_config
from bayes_vip.io.manifest import load_manifest
from bayes_vip.io.outputs import FREQUENTIST_DIR, results_dir
from bayes_vip.pipeline.progress import SILENT
from bayes_vip.studies.coverage import _flatten
from bayes_vip.studies.engine import Toy, run_toys, toy_seed

__all__ = [
    "classic_profile",
    "frequentist_spec",
    "frequentist_study",
    "frequentist_toy",
    "frequentist_toys",
    "profile_of",
    "summarise",
]

#: Profiles built in this process, by builder and arguments (a worker builds each once).
_BUILT: dict[str, Any] = {}


def profile_of(spec: dict[str, Any]):
    """The study's profile: ``spec["builder"](**spec["args"])``, built once per process."""
    key = json.dumps([spec["builder"], spec["args"]], sort_keys=True)
    if key not in _BUILT:
        module, _, name = spec["builder"].partition(":")
        _BUILT.clear()  # one study at a time per worker
        _BUILT[key] = getattr(importlib.import_module(module), name)(**spec["args"])
    return _BUILT[key]


def classic_profile(run: str, config: dict[str, Any]):
    """The two-step fit of ``run`` under ``config`` (a ``to_dict``) as a ``Profile`` in N_X."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.analysis import classic
    from bayes_vip.pipeline.inputs import fit_inputs

    cfg = load_config(overrides=_flatten({k: v for k, v in config.items() if k != "sources"}))
    man = load_manifest(run)
    s1, s2, _ = fit_inputs(man, cfg)
    f = cfg.fit
    step1 = classic.fit_step1(s1, f.statistic)
    step2 = classic.fit_step2(
        step1,
        s2,
        signal=cfg.signal_line(),
        statistic=f.statistic,
        freedoms=classic.Freedoms(signal_shape=f.signal_shape),
    )
    return classic._ClassicProfile(step2.fitter, step2.result)


def frequentist_spec(
    *,
    builder: str,
    args: dict[str, Any],
    scale: float,
    toys: int,
    seed: int,
    reach: float = 4.0,
    points: int = 17,
    levels: tuple[float, ...] = CLS,
) -> dict[str, Any]:
    """The study's description, checked: the grid is ``points`` values from 0 to ``reach``
    times ``scale`` (the signal's error in the best fit).
    """  # noqa: D205
    if toys < 2:
        msg = f"must be at least 2, got {toys}"
        raise InputError(msg, field="study.toys")
    if seed < 0:
        msg = f"must be >= 0, got {seed}"
        raise InputError(msg, field="study.seed")
    if points < 3:
        msg = f"must be at least 3, got {points}"
        raise InputError(msg, field="study.points")
    if not (math.isfinite(reach) and reach > 0):
        msg = f"must be a positive number of sigmas, got {reach}"
        raise InputError(msg, field="study.reach")
    if not (math.isfinite(scale) and scale > 0):
        msg = f"the signal's error in the best fit must be positive, got {scale}"
        raise InputError(msg, field="study.scale")
    grid = np.linspace(0.0, reach * scale, points)
    return {
        "study": "frequentist",
        "builder": builder,
        "args": args,
        "grid": [float(x) for x in grid],
        "toys_per_mu": int(toys),
        "seed": int(seed),
        "levels": [float(c) for c in levels],
    }


def frequentist_toys(spec: dict[str, Any]) -> list[Toy]:
    """Background-only toys (k = -1) and toys at every grid mu, taking turns."""
    n, kinds = spec["toys_per_mu"], [-1, *range(len(spec["grid"]))]
    return [
        Toy(i, toy_seed(spec["seed"], i), {"k": kinds[i % len(kinds)]})
        for i in range(n * len(kinds))
    ]


def frequentist_toy(toy: Toy, spec: dict[str, Any]) -> dict[str, Any]:
    """One toy: background-only (its q~ at every grid mu) or at one grid mu (q~ and t)."""
    from bayes_vip.analysis import toys

    prof = profile_of(spec)
    k = int(toy.params["k"])
    rng = np.random.default_rng(toy.seed)
    grid = spec["grid"]
    if k < 0:
        data = toys.draw(prof, 0.0, rng)
        g = toys.grid_statistics(prof, grid, data)
        return {"k": k, **{f"q{j}": v for j, v in enumerate(g["q"])}}
    data = toys.draw(prof, grid[k], rng)
    q, t = toys.toy_statistics(prof, grid[k], data)
    return {"k": k, "q": q, "t": t}


def summarise(rows: list[dict[str, Any]], spec: dict[str, Any], observed: dict) -> dict:
    """The limits from the toys that ran (``analysis.toys.limits_from_toys``)."""
    from bayes_vip.analysis.toys import limits_from_toys

    ok = [r for r in rows if r["status"] == "ok"]
    n = len(spec["grid"])
    b_q = np.array([[r[f"q{j}"] for j in range(n)] for r in ok if r["k"] < 0]).reshape(-1, n)
    sb = {
        k: {
            "q": np.array([r["q"] for r in ok if r["k"] == k]),
            "t": np.array([r["t"] for r in ok if r["k"] == k]),
        }
        for k in range(n)
    }
    out = limits_from_toys(spec["grid"], observed, sb, b_q, spec["levels"])
    out["toys_done"] = len(rows)
    out["toys_failed"] = len(rows) - len(ok)
    out["error_messages"] = sorted({r["error"] for r in rows if r["status"] != "ok"})[:5]
    out["toy_seconds"] = float(sum(r["seconds"] for r in rows))
    return out


def run_study(
    spec: dict[str, Any],
    out: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress=None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) the toys of ``spec`` into ``out/toys.parquet``; the limits."""
    from bayes_vip.analysis.toys import grid_statistics

    prof = profile_of(spec)
    observed = grid_statistics(prof, spec["grid"], prof.observed)
    t0 = time.perf_counter()
    rows = run_toys(
        frequentist_toy,
        frequentist_toys(spec),
        Path(out) / "toys.parquet",
        spec,
        scheduler=scheduler,
        workers=workers,
        progress=progress or SILENT,
        stop_after=stop_after,
    )
    res = summarise(rows, spec, observed)
    res["observed"] = observed
    res["wall_s_this_session"] = time.perf_counter() - t0
    return res


def frequentist_study(
    run: str | Path,
    config: Any,
    *,
    out: str | Path | None = None,
    toys: int = 200,
    seed: int = 0,
    points: int = 17,
    reach: float = 4.0,
    scheduler: str | None = None,
    workers: int | None = None,
    progress=None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """The classic fit's limits from toys (``bayes-vip study frequentist``), into ``out``.

    Writes ``toys.parquet``, ``frequentist.json`` and ``frequentist.png`` (default out:
    ``RUN/results/study-frequentist``); the record holds the asymptotic limits of the same
    fit beside the toys' ones.
    """
    from bayes_vip.analysis.asymptotic import frequentist_limits
    from bayes_vip.studies.figures import frequentist_figure

    progress = progress or SILENT
    man = load_manifest(run)
    args = {"run": str(man.path), "config": config.to_dict()}
    builder = f"{__name__}:classic_profile"
    frequentist_spec(
        builder=builder, args=args, scale=1.0, toys=toys, seed=seed, reach=reach, points=points
    )  # fmt: skip  (the options, before the fit)
    progress.stage("classic fit of the run (the toys' model)")
    prof = profile_of({"builder": builder, "args": args})
    spec = frequentist_spec(
        builder=builder, args=args, scale=prof.scale, toys=toys, seed=seed, reach=reach,
        points=points,
    )  # fmt: skip
    out = Path(out) if out is not None else results_dir(man) / FREQUENTIST_DIR
    res = run_study(
        spec, out, scheduler=scheduler, workers=workers, progress=progress, stop_after=stop_after
    )
    progress.stage("asymptotic limits of the same fit")
    asym = frequentist_limits(prof, prof.observed, tuple(spec["levels"]))
    record = {
        "study": "frequentist",
        "run": man.name,
        "config": config.to_dict(),
        "seed": seed,
        "sigma_N_X": prof.scale,
        **res,
        "asymptotic": {
            "cls": asym["cls"],
            "profile": asym["profile"],
            "expected_cls": asym["expected"]["cls"],
            "expected_profile": asym["expected"]["profile"],
        },
        "method": (
            "toys of the step-2 model with the nuisances at their fit to the data at each N_X "
            "(profile construction); q~_mu for CLs and the profile limit (CLs+b), the "
            "unified t_mu for Feldman-Cousins (analysis.toys)"
        ),
        "store": str(out / "toys.parquet"),
    }
    out.mkdir(parents=True, exist_ok=True)
    record["figure"] = str(frequentist_figure(record, out / "frequentist.png"))
    record["json"] = str(out / "frequentist.json")
    write_json(out / "frequentist.json", record)
    return record
