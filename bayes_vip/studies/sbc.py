"""Simulation-based calibration (SBC) of the hierarchical model and its production sampler.

Talts, Betancourt, Simpson, Vehtari & Gelman 2018, "Validating Bayesian inference
algorithms with simulation-based calibration", arXiv:1804.06788: if every simulation's data
are drawn from the model at parameters drawn from its prior, the rank of the true value
among independent posterior draws is uniform on ``0..L``, for every quantity, exactly when
the sampler draws from the right posterior. A study, on Dask workers (``studies.engine``):

- **the model:** the layout of a simulated run (its preset and level). A signal-free
  reference toy (the study's stream 1) is simulated, calibrated and fitted classically once
  per worker; its ``BayesData`` fixes the bins, the exposure and every prior centre
  (``data.init``). The priors are then held fixed for every simulation: SBC calibrates the
  model as written. (The production analysis centres some priors on each run's own classic
  fit, an empirical-Bayes step that SBC with fixed priors does not cover;
  ``docs/validation.md``.)
- **each simulation:** the latents drawn from the prior (a trace of ``vip_model`` without
  observations: that draw is the truth); the counts of every bin drawn from the model there
  (Poisson), and at ADC level the calibration lines' measured energies (Gaussian); then the
  production sampler (``sample_posterior``: Laplace, whitened NUTS, the configuration's
  chains, warm-up, draws, extensions and gates);
- **ranks:** of beta^2/2, the Fano factor, the first noise, the first energy offset and the
  first calibration (gain) constant, among ``L`` draws thinned evenly from the pooled chains;
- **a negative control:** ``fano_shift`` draws the data with the Fano factor ``1 +
  fano_shift`` times the truth while the fit's model keeps it, a deliberately
  mis-specified fit that must fail.

``summarise`` gives, for every quantity, the rank histogram with a chi-square test of
uniformity and the ECDF of the fractional ranks against simultaneous 95 % bands (Säilynoja,
Bürkner & Vehtari 2022, "Graphical test for discrete uniformity and its applications in
goodness-of-fit evaluation and multiple sample comparison", Stat. Comput. 32, 32), through
ArviZ's ``ecdf_confidence_band``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bayes_vip.errors import InputError
from bayes_vip.io.atomic import write_json
from bayes_vip.io.config import AnalysisConfig
from bayes_vip.io.manifest import load_manifest
from bayes_vip.pipeline.devices import compilation_cache
from bayes_vip.pipeline.progress import SILENT, Progress
from bayes_vip.studies.coverage import _simulate_toy, toy_config
from bayes_vip.studies.engine import Toy, check_store, jsonable, run_toys, toy_seed

__all__ = [
    "RANKED",
    "ranks_of",
    "sbc_simulation",
    "sbc_spec",
    "sbc_study",
    "summarise",
]

#: The ranked quantities at each level: (site, index into the site's value). At energy
#: level the first SDD's offset and gain; at ADC level the first cell's calibration
#: corrections (``cal_c0``: offset at E_REF [eV]; ``cal_c1``: gain [eV/keV]).
_RANKED_BOTH = (("beta2half_1e29", ()), ("fano", ()), ("noise", (0, 0)))
RANKED: dict[str, tuple[tuple[str, tuple[int, ...]], ...]] = {
    "energy": (*_RANKED_BOTH, ("offset", (0,)), ("gain", (0,))),
    "adc": (*_RANKED_BOTH, ("cal_c0", (0,)), ("cal_c1", (0,))),
}
#: The simultaneous coverage of the ECDF bands, and the chi-square test's level.
BAND_PROB = 0.95
CHI2_ALPHA = 0.01


def quantity_name(site: str, index: tuple[int, ...]) -> str:
    """``("noise", (0, 0)) -> "noise[0,0]"``; a scalar site keeps its name."""
    return site if not index else f"{site}[{','.join(str(i) for i in index)}]"


def sbc_spec(
    run: str | Path,
    config: AnalysisConfig,
    *,
    sims: int,
    seed: int,
    rank_draws: int = 99,
    fano_shift: float = 0.0,
) -> dict[str, Any]:
    """The study's description, checked; no computation.

    ``run`` must be a simulated run (its ``[simulation]`` table names the preset).
    ``rank_draws``: the ``L`` posterior draws each rank counts among (ranks 0..L).
    """
    man = load_manifest(run)
    if man.kind != "simulated" or "settings" not in man.simulation:
        msg = (
            "SBC copies a simulated run's layout, and this run has no [simulation.settings]; "
            "make one with `bayes-vip simulate`"
        )
        raise InputError(msg, file=man.path, field="simulation.settings")
    if seed < 0:
        msg = f"must be >= 0, got {seed}"
        raise InputError(msg, field="study.seed")
    if sims < 1:
        msg = f"must be at least 1, got {sims}"
        raise InputError(msg, field="study.sims")
    if not 9 <= rank_draws <= 10_000:
        msg = f"must be between 9 and 10000, got {rank_draws}"
        raise InputError(msg, field="study.rank_draws")
    if not (math.isfinite(fano_shift) and -0.5 < fano_shift < 1.0):
        msg = f"must be a relative shift in (-0.5, 1), got {fano_shift}"
        raise InputError(msg, field="study.fano_shift")
    cfg = config.to_dict()
    cfg["signal"] = man.simulation.get("signal", cfg["signal"])
    s = config.sample
    draws = s.samples * s.chains
    if draws < rank_draws:
        msg = f"{s.chains} chains x {s.samples} draws is fewer than the {rank_draws} ranked draws"
        raise InputError(msg, field="sample.samples")
    return {
        "study": "sbc",
        "run": man.name,
        "preset": man.simulation.get("preset"),
        "settings": man.simulation["settings"],
        "signal": man.simulation.get("signal", "ka1"),
        "level": man.level,
        "config": cfg,
        "sims": int(sims),
        "seed": int(seed),
        "rank_draws": int(rank_draws),
        "fano_shift": float(fano_shift),
        # ADC level: each simulation's mode search starts from the calibration that its own
        # calibration lines give (``Posterior.calibration_start``); a store made before,
        # whose simulations started from the reference's calibration, is another study
        **({"start": "own calibration lines"} if man.level == "adc" else {}),
    }


def layout_key(spec: dict[str, Any]) -> str:
    """What the reference layout depends on: the preset, level, line, configuration, seed."""
    keep = ("settings", "level", "signal", "config", "seed")
    return json.dumps(jsonable({k: spec[k] for k in keep}), sort_keys=True)


@functools.lru_cache(maxsize=2)
def _layout(key: str) -> tuple[Any, float, Any]:
    """The reference toy's ``BayesData``, the signal prior's upper bound, a ``Posterior``.

    Cached per worker process: every simulation of a study shares them (the ``Posterior``,
    compiled once, serves every simulation, at both levels).
    """
    import jax

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.bayes.sampling import Posterior
    from bayes_vip.pipeline.sample import bayes_data, signal_upper

    spec = json.loads(key)
    seed = toy_seed(spec["seed"], 0, stream=1)
    cfg = toy_config(spec, seed)
    with tempfile.TemporaryDirectory(prefix="bayes-vip-sbc-") as tmp:
        run = Path(tmp) / "reference"
        _simulate_toy(spec, seed, 0.0, run)
        data, classic = bayes_data(run, cfg, figures=False)
    upper = signal_upper(data, classic, cfg.sample)
    return data, float(upper), Posterior(data, cfg.sample.prior, upper)


def draw_from_prior(data: Any, prior: str, upper: float, key: Any, *, fano_shift: float = 0.0):
    """A truth from the prior and data from the model there.

    Returns ``(truth, counts, line_eV)``: every latent and deterministic site's value;
    the counts (n_cell, n_bin), zero outside the likelihood's bins; at ADC level the
    calibration lines' measured energies (n_cell, K), else None. With ``fano_shift`` the
    data are drawn with the Fano factor ``1 + fano_shift`` times the truth.
    """
    import jax
    from numpyro import handlers

    from bayes_vip.bayes.model import vip_model

    model = functools.partial(vip_model, data, prior, upper, observe=False)
    k_theta, k_obs, k_lines = jax.random.split(key, 3)
    tr = handlers.trace(handlers.seed(model, k_theta)).get_trace()
    data_sites = ("obs", "cal_lines")
    truth = {
        n: np.asarray(s["value"])
        for n, s in tr.items()
        if s["type"] in ("sample", "deterministic") and n not in data_sites
    }
    latent = {n: s["value"] for n, s in tr.items() if s["type"] == "sample" and n not in data_sites}
    if fano_shift:
        latent["fano"] = latent["fano"] * (1.0 + fano_shift)
        tr = handlers.trace(handlers.seed(handlers.condition(model, latent), k_obs)).get_trace()
    counts = np.zeros(np.shape(data.counts))
    counts[np.asarray(data.mask)] = np.asarray(tr["obs"]["value"])
    lines = None
    if "cal_lines" in tr:
        ok = np.asarray(data.line_ok)
        lines = np.array(np.broadcast_to(data.line_eV, ok.shape), dtype=float)
        lines[ok] = np.asarray(tr["cal_lines"]["fn"].sample(k_lines))
    return truth, counts, lines


def ranks_of(draws: np.ndarray, truth: float, rank_draws: int) -> int:
    """The rank of ``truth`` among ``rank_draws`` draws thinned evenly from ``draws``.

    ``draws`` (chains, n) are pooled chain after chain; the thinned draws are spaced about
    ``chains * n / rank_draws`` apart, so that they are close to independent.
    """
    pooled = np.asarray(draws, dtype=float).reshape(-1)
    if rank_draws > pooled.size:
        msg = f"{rank_draws} ranked draws requested from {pooled.size} draws"
        raise ValueError(msg)
    pick = np.round(np.linspace(0, pooled.size - 1, rank_draws)).astype(int)
    return int(np.sum(pooled[pick] < truth))


def sbc_simulation(toy: Toy, spec: dict[str, Any]) -> dict[str, Any]:
    """One simulation: a truth from the prior, data from the model, the production sampler."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    from bayes_vip.bayes.sampling import sample_posterior
    from bayes_vip.pipeline.sample import sampler_settings

    compilation_cache()
    data, upper, post = _layout(layout_key(spec))
    s = toy_config(spec, toy.seed).sample
    key = jax.random.PRNGKey(toy.seed)
    k_sim, k_fit = jax.random.split(key)
    truth, counts, lines = draw_from_prior(
        data, s.prior, upper, k_sim, fano_shift=spec["fano_shift"]
    )
    inputs = post.inputs(counts)
    if lines is not None:  # the lines' measured energies are an input of the compiled model
        data = replace(data, line_eV=lines)
        inputs["line_eV"] = jnp.asarray(lines, dtype=jnp.float64)
    # the calibration drawn from the prior is far from the reference's, whose classic start
    # every simulation shares: its own lines give the mode search a start (docs/bayes.md)
    start = post.calibration_start(inputs) if spec["level"] == "adc" else None
    run = sample_posterior(
        data,
        upper=upper,
        **sampler_settings(s),
        key=k_fit,
        rng=np.random.default_rng(toy.seed),
        counts=inputs,
        post=post,
        predictive_draws=0,
        start=start,
    )
    lim = run.limits
    diag = lim["diagnostics"]
    row: dict[str, Any] = {
        "gates_passed": bool(lim["gates"]["passed"]),
        "gates_failed": "; ".join(lim["gates"].get("failed", [])),
        "r_hat_max": float(diag["r_hat_max"]),
        "ess_bulk_min": float(diag["ess_bulk_min"]),
        "divergences": int(diag["divergences"]),
        "draws_per_chain": int(run.info["draws_per_chain"]),
        # chains restarted from a healthy one in warm-up, runs dropped for a retry
        "warmup_restarts": len(run.info["warmup_restarts"]),
        "retries": len(run.info["retries"]),
        "seconds_nuts": float(run.info["seconds"]["nuts"]),
    }
    post_draws = run.idata.posterior
    for site, index in RANKED[spec["level"]]:
        name = quantity_name(site, index)
        x = np.asarray(post_draws[site].values)[(slice(None), slice(None), *index)]
        t = float(truth[site][index])
        row[f"truth:{name}"] = t
        row[f"mean:{name}"] = float(np.mean(x))
        row[f"sd:{name}"] = float(np.std(x))
        row[f"rank:{name}"] = ranks_of(x, t, spec["rank_draws"])
    return row


def sbc_simulations(spec: dict[str, Any]) -> list[Toy]:
    """Every simulation of the study, each with its own seed."""
    return [Toy(i, toy_seed(spec["seed"], i)) for i in range(spec["sims"])]


def _bins(n: int, values: int) -> int:
    """Histogram bins for ``n`` ranks of ``values`` possible values.

    A divisor of ``values`` near ``n / 10`` (about ten expected per bin, 2 to 20 bins).
    """
    want = min(20, max(2, n // 10))
    divisors = [b for b in range(2, values + 1) if values % b == 0]
    return min(divisors, key=lambda b: (abs(b - want), b)) if divisors else 1


@functools.lru_cache(maxsize=64)
def _band(n: int, rank_draws: int, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """The simultaneous ``prob`` band of the ECDF of ``n`` uniform ranks on 0..L.

    Evaluated at ``j / (L + 1)``, ``j = 1..L``.
    """
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    cdf = np.arange(1, rank_draws + 1) / (rank_draws + 1)
    lo, hi = ecdf_confidence_band(n, cdf, cdf, prob=prob, method="optimized")
    return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)


def rank_statistics(
    ranks: np.ndarray,
    rank_draws: int,
    *,
    band_prob: float = BAND_PROB,
    alpha: float = CHI2_ALPHA,
) -> dict[str, Any]:
    """Uniformity of ranks on ``0..rank_draws``: histogram, chi-square test, ECDF bands.

    The ECDF of the ranks is evaluated at ``j = 1..L`` (the fraction of ranks below ``j``)
    against the uniform CDF ``j / (L + 1)``, with ArviZ's simultaneous ``band_prob`` band
    for that many ranks (``method="optimized"``). The ranks count as uniform when the ECDF
    stays in the band and the chi-square test's p-value is at least ``alpha``.
    """
    from scipy.stats import chisquare

    ranks = np.asarray(ranks, dtype=int)
    n, values = len(ranks), rank_draws + 1
    if n == 0:
        return {"n": 0}
    nb = _bins(n, values)
    hist = np.bincount(ranks * nb // values, minlength=nb)
    chi2 = chisquare(hist)
    j = np.arange(1, values)
    cdf = j / values
    ecdf = np.array([np.mean(ranks < k) for k in j])
    lo, hi = _band(n, rank_draws, band_prob)
    outside = (ecdf < lo) | (ecdf > hi)
    return {
        "n": n,
        "histogram": hist.tolist(),
        "chi2": float(chi2.statistic),
        "chi2_dof": nb - 1,
        "chi2_p": float(chi2.pvalue),
        "ecdf_eval": cdf.tolist(),
        "ecdf": ecdf.tolist(),
        "band_lo": lo.tolist(),
        "band_hi": hi.tolist(),
        "ecdf_outside_points": int(outside.sum()),
        "ecdf_in_band": bool(not outside.any()),
        "uniform": bool(chi2.pvalue >= alpha and not outside.any()),
    }


def _total(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    """``key``'s sum over the rows that record it, and how many do (older rows hold None)."""
    known = [int(r[key]) for r in rows if r.get(key) is not None]
    return {"sum": sum(known), "sims_recorded": len(known)}


def summarise(rows: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """Rank statistics of every quantity.

    Over every finished simulation and over those whose sampler passed the gates; the
    failed simulations are counted.
    """
    ok = [r for r in rows if r["status"] == "ok"]
    passed = [r for r in ok if r["gates_passed"]]
    out: dict[str, Any] = {
        "sims_done": len(rows),
        "sims_total": spec["sims"],
        "errors": len(rows) - len(ok),
        "error_messages": sorted({r["error"] for r in rows if r["status"] != "ok"})[:5],
        "gates_passed": {"k": len(passed), "n": len(ok)},
        "divergences_total": int(sum(r["divergences"] for r in ok)),
        # rows stored before these columns existed hold None: counted as unknown, not 0
        "warmup_restarts_total": _total(ok, "warmup_restarts"),
        "retries_total": _total(ok, "retries"),
        "quantities": {},
    }
    for site, index in RANKED[spec["level"]]:
        name = quantity_name(site, index)
        q = {
            "all": rank_statistics(np.array([r[f"rank:{name}"] for r in ok]), spec["rank_draws"]),
            "gates_passed": rank_statistics(
                np.array([r[f"rank:{name}"] for r in passed]), spec["rank_draws"]
            ),
        }
        # how much the data teach: posterior sd over prior sd (from the simulated truths)
        prior_sd = float(np.std([r[f"truth:{name}"] for r in ok])) if len(ok) > 1 else math.nan
        post_sd = float(np.median([r[f"sd:{name}"] for r in ok])) if ok else math.nan
        q["median_posterior_sd_over_prior_sd"] = post_sd / prior_sd if prior_sd > 0 else math.nan
        out["quantities"][name] = q
    out["uniform"] = all(q["all"].get("uniform", False) for q in out["quantities"].values())
    secs = [r["seconds"] for r in rows]
    out["sim_seconds"] = {"sum": float(sum(secs)), "median": float(np.median(secs)) if secs else 0}
    return out


def sbc_study(
    run: str | Path,
    config: AnalysisConfig,
    *,
    out: str | Path | None = None,
    sims: int = 1000,
    seed: int = 0,
    rank_draws: int = 99,
    fano_shift: float = 0.0,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress = SILENT,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """The SBC study of ``run``'s layout, into ``out``.

    Writes ``sims.parquet``, ``sbc.json`` and ``sbc.png`` into ``out`` (default
    ``RUN/results/study-sbc``, or ``study-sbc-control`` with a ``fano_shift``). Started
    again with the same options on the same ``out``, it resumes.
    """
    from bayes_vip.studies.figures import sbc_figure

    spec = sbc_spec(run, config, sims=sims, seed=seed, rank_draws=rank_draws, fano_shift=fano_shift)
    default = "study-sbc" + ("-control" if fano_shift else "")
    out = Path(out) if out is not None else Path(run) / "results" / default
    store = out / "sims.parquet"
    check_store(store, spec)
    t0 = time.perf_counter()
    progress.stage(
        f"{sims} SBC simulations on Dask "
        f"({'scheduler ' + scheduler if scheduler else 'local cluster'})"
    )
    rows = run_toys(
        sbc_simulation,
        sbc_simulations(spec),
        store,
        spec,
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        stop_after=stop_after,
    )
    wall = time.perf_counter() - t0
    summary = summarise(rows, spec)
    record = {
        "study": "sbc",
        "run": spec["run"],
        "preset": spec["preset"],
        "level": spec["level"],
        "signal": spec["signal"],
        "seed": spec["seed"],
        "rank_draws": spec["rank_draws"],
        "fano_shift": spec["fano_shift"],
        "config": spec["config"],
        "scheduler": scheduler or "local",
        "workers": workers or (None if scheduler else os.cpu_count()),
        "wall_s_this_session": wall,
        **summary,
        "store": str(store),
    }
    record["sims_per_s_per_worker"] = len(rows) / max(summary["sim_seconds"]["sum"], 1e-9)
    out.mkdir(parents=True, exist_ok=True)
    record["figure"] = str(sbc_figure(summary, spec, out / "sbc.png"))
    record["json"] = str(out / "sbc.json")
    write_json(out / "sbc.json", record)
    return record
