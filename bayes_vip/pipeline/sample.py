"""``bayes-vip sample``: NUTS on the hierarchical model.

Calibrate and fit where needed, run NUTS on the hierarchical model, write ``posterior.nc``,
``limits.json`` and figures.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bayes_vip.bayes.checkpoint import CHECKPOINT_EVERY, Checkpoint, data_hash, read_meta
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import result_set, sha256, write_json
from bayes_vip.io.config import AnalysisConfig, SampleConfig, with_values
from bayes_vip.io.manifest import load_manifest
from bayes_vip.io.outputs import BANDS_DIR, classic_path, read_json, results_dir, save_netcdf
from bayes_vip.pipeline.fit import ensure_classic, matching_toys, reports_on
from bayes_vip.pipeline.progress import SILENT, Progress

__all__ = ["CHECKPOINT", "bayes_data", "checkpoint_path", "sample"]


def bayes_data(
    run: str | Path,
    config: AnalysisConfig,
    *,
    progress: Progress = SILENT,
    figures: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """The model's data (``bayes.data.BayesData``) of ``run`` and its classic fit.

    Calibrates (ADC level) and fits first where the run has no such results under ``config``
    (``figures``: with the classic fit's figures).
    """
    from bayes_vip.bayes.data import build_data
    from bayes_vip.io.campaign import build_campaign
    from bayes_vip.pipeline.calibrate import ensure_calibration
    from bayes_vip.pipeline.fit import fit_below

    man = load_manifest(run)
    ds = build_campaign(man)
    cal = ensure_calibration(run, config, progress=progress)
    classic = ensure_classic(run, config, progress=progress, figures=figures)
    below = None
    if config.sample.priors == "external":
        below = fit_below(run, config, progress=progress)
    data = build_data(
        man,
        ds,
        classic,
        signal=config.signal_line(),
        n_int_model=config.n_int,
        cal=cal,
        bin_eV=config.sample.bin_eV,
        priors=config.sample.priors,
        below=None if below is None else below["values"],
        line_sd_eV=config.sample.line_sd_eV,
        background=config.sample.background,
        drift_days=config.sample.drift_days,
    )
    if below is not None:
        data.prior["below"] = below
    return data, classic


def sampler_settings(s: SampleConfig) -> dict[str, Any]:
    """``sample_posterior``'s settings from the configuration: prior, chains and draws."""
    return {
        "prior": s.prior,
        "chains": s.chains,
        "warmup": s.warmup,
        "samples": s.samples,
        "max_draws": s.draw_bound,
    }


def signal_upper(data: Any, classic: dict[str, Any], s: SampleConfig) -> float:
    """The flat signal prior's upper bound: ``s.prior_upper``, else ``bayes.data.default_upper``."""
    from bayes_vip.bayes.data import default_upper

    return default_upper(data, classic, s.prior) if s.prior_upper is None else s.prior_upper


def _matching_bands(man: Any, config: AnalysisConfig) -> dict[str, Any] | None:
    """The run's bands study, where its toys were analysed as this run is.

    ``RUN/results/study-bands/bands.json`` if its signal, N_int, prior, prior set, prior
    bound and line-position prior are this configuration's (a study from before that
    option had the line fixed); None if there is none or it was made otherwise. A file
    there that cannot be read is an ``InputError``.
    """
    path = results_dir(man) / BANDS_DIR / "bands.json"
    if not path.is_file():
        return None
    bands = read_json(path)
    try:
        have, want = bands["config"], config.to_dict()
        same = all(have[k] == want[k] for k in ("signal", "n_int")) and all(
            have["sample"][k] == want["sample"][k]
            for k in ("prior", "priors", "prior_upper", "line_sd_eV")
        )
    except (KeyError, TypeError):
        msg = "is not a bands study's summary (no config with signal, n_int and sample)"
        raise InputError(msg, file=path) from None
    return bands if same else None


def run_sampler(
    data: Any,
    upper: float,
    s: SampleConfig,
    ckpt: Checkpoint,
    *,
    progress: Progress,
    resume: bool,
    extend: int,
) -> Any:
    """``sampling.sample_posterior`` under ``s`` (settings, seed) with the checkpoint ``ckpt``.

    ``s.seed`` is the chains' key and the starts' generator; ``progress`` gets the NUTS
    iterations. Returns ``sampling.Sampled``.
    """
    import jax
    import numpy as np

    from bayes_vip.bayes.sampling import sample_posterior

    return sample_posterior(
        data,
        upper=upper,
        **sampler_settings(s),
        key=jax.random.PRNGKey(s.seed),
        rng=np.random.default_rng(s.seed),
        progress=lambda done, total, info: progress.update("NUTS iterations", done, total, info),
        checkpoint=ckpt,
        resume=resume,
        extend=extend,
    )


def sampler_seconds(info: dict[str, Any]) -> dict[str, float]:
    """The Laplace, NUTS and posterior-predictive times of a sampler's ``info``."""
    return {k: info["seconds"][k] for k in ("laplace", "nuts", "posterior_predictive")}


def write_results(
    out: Path,
    idata: Any,
    data: Any,
    lim: dict[str, Any],
    config: AnalysisConfig,
    *,
    figures: bool,
    t0: float,
) -> None:
    """``posterior.nc``, ``limits.json`` and the figures in ``out``, as one result set.

    ``lim`` gets the result set's record (seed, configuration, the posterior's SHA-256), the
    figures and the files' paths; ``lim["seconds"]`` the figures' and the total time since
    ``t0``.
    """
    from bayes_vip.results.bayes import bayes_figures

    seed = config.sample.seed
    seconds = lim["seconds"]
    idata.posterior.attrs["seed"] = seed  # the posterior names its seed, as limits.json
    with result_set(out) as stage:  # posterior, limits and figures: all new, or all old
        save_netcdf(idata, stage / "posterior.nc")
        lim["result_set"] = {
            "seed": seed,
            "config": config.to_dict(),
            "posterior_sha256": sha256(stage / "posterior.nc"),
        }
        if figures:
            t3 = time.perf_counter()
            drawn = bayes_figures(idata, data, lim, stage)
            lim["figures"] = [str(out / Path(f).name) for f in drawn]
            seconds["figures"] = time.perf_counter() - t3
        seconds["total"] = time.perf_counter() - t0
        lim["posterior"] = str(out / "posterior.nc")
        lim["json"] = str(out / "limits.json")
        write_json(stage / "limits.json", lim)


#: The sampler's checkpoint in RUN/results (``bayes.checkpoint``).
CHECKPOINT = "sample-checkpoint.npz"


def checkpoint_path(run: str | Path) -> Path:
    """Where ``sample`` keeps the checkpoint of the run of ``run``."""
    return results_dir(load_manifest(run)) / CHECKPOINT


def sample(
    run: str | Path,
    config: AnalysisConfig,
    *,
    progress: Progress = SILENT,
    figures: bool = True,
    resume: bool = False,
    extend: int = 0,
    checkpoint_every: int | None = None,
) -> dict[str, Any]:
    """The hierarchical analysis of ``run`` under ``config``; returns what limits.json holds.

    The run is calibrated (ADC level) and fitted classically first where it has no such
    results; ``config.sample.seed`` becomes the random key of the chains here, and nowhere
    deeper. ``figures``: draw the figures (the classic fit's too, where it runs here).

    The sampler is saved in ``RUN/results/sample-checkpoint.npz`` as it goes (every
    ``checkpoint_every`` draws per chain, default ``bayes.checkpoint.CHECKPOINT_EVERY``).
    ``resume``: continue a run that was stopped; ``extend``: add draws per chain to a
    finished one. Both need the configuration and data that the checkpoint was made with.
    """
    import numpy as np

    from bayes_vip.bayes.model import BETA_UNIT, model_inputs
    from bayes_vip.results.bayes import limits_record, line_position

    s = config.sample
    signal = config.signal_line()
    man = load_manifest(run)
    run_dir = run
    if resume or extend:
        read_meta(results_dir(man) / CHECKPOINT)  # a missing or damaged one stops here
    bands = _matching_bands(man, config)  # read before the long work: a bad file stops here
    toys = matching_toys(man, with_values(config, fit={"sdd": None}))  # as ensure_classic
    if classic_path(man).is_file():
        read_json(classic_path(man))  # a damaged classic.json stops here, not after calibration
    t0 = time.perf_counter()
    data, classic = bayes_data(run, config, progress=progress, figures=figures)
    upper = signal_upper(data, classic, s)
    classic_est = max(float(classic["N_X"]), 0.0)
    est = (
        classic_est
        if s.prior == "flat-counts"
        else classic_est / (data.counts_per_beta2half * BETA_UNIT)
    )
    if not (np.isfinite(upper) and upper > est):
        msg = (
            f"prior upper bound {upper:.4g} excludes the classic estimate "
            f"({est:.4g} {'counts' if s.prior == 'flat-counts' else 'x 1e-29'})"
        )
        raise InputError(
            msg,
            field="sample.prior_upper",
        )
    progress.stage("NUTS")
    identity = {
        "config": config.to_dict(),
        "seed": s.seed,
        "data": data_hash(model_inputs(data, upper)),
    }
    every = checkpoint_every or CHECKPOINT_EVERY
    ckpt = Checkpoint(results_dir(man) / CHECKPOINT, identity, every=every)
    t1 = time.perf_counter()
    run = run_sampler(data, upper, s, ckpt, progress=progress, resume=resume, extend=extend)
    idata, info = run.idata, run.info
    seconds = {"before_nuts": t1 - t0, **sampler_seconds(info)}
    lim = limits_record(
        run.limits,
        bands=bands,
        run_name=man.name,
        data=data,
        signal=signal.to_dict(),
        classic=classic,
        sampler=info,
        seconds=seconds,
        config=config.to_dict(),
    )
    if toys is not None:  # read now, not from classic.json: the study may be newer
        lim["classic"]["toys"] = toys
    if (pos := line_position(idata, data)) is not None:
        lim["line_position"] = pos
    progress.stage("writing the results" + (", figures and report" if figures else ""))
    write_results(results_dir(man), idata, data, lim, config, figures=figures, t0=t0)
    if figures and reports_on():
        from bayes_vip.results.report import write_report

        lim["report"] = str(write_report(run_dir))
    return lim
