"""``bayes-vip fit``: the classic two-step analysis of a run; ``classic.json`` and figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayes_vip.analysis.conventions import BELOW_RANGE_EV, ROI_EV, STEP1_RANGE_EV
from bayes_vip.analysis.exposure import run_exposure
from bayes_vip.io.atomic import write_json
from bayes_vip.io.config import AnalysisConfig, with_values
from bayes_vip.io.manifest import load_manifest
from bayes_vip.io.outputs import classic_path, read_json, results_dir
from bayes_vip.physics.constants import FANO_SI_PRIOR
from bayes_vip.pipeline.progress import SILENT, Progress

if TYPE_CHECKING:
    from bayes_vip.analysis.spectral import Spectra
    from bayes_vip.io.manifest import Manifest
    from bayes_vip.physics.conversion import Exposure

__all__ = ["campaign_exposure", "ensure_classic", "fit", "fit_below", "fit_inputs"]


def fit(
    run: str | Path,
    config: AnalysisConfig,
    *,
    progress: Progress = SILENT,
    figures: bool = True,
) -> dict[str, Any]:
    """The classic two-step analysis of ``run``; returns the record written to ``classic.json``.

    It follows ``config.signal``, ``config.n_int`` and ``config.fit``.

    ADC-level runs are analysed through their calibration (``bayes-vip calibrate``).
    Nothing is written unless both fits are valid (``AnalysisError`` otherwise).
    """
    from bayes_vip.analysis import classic
    from bayes_vip.results.classic import classic_figures, classic_record

    f = config.fit
    man = load_manifest(run)
    s1, s2, exp = fit_inputs(man, config)
    progress.stage("two-step fit, profile-likelihood and CLs limits")
    res = classic.fit_two_step(
        s1, s2, signal=config.signal_line(), statistic=f.statistic, signal_shape=f.signal_shape
    )
    out = classic_record(
        man.name, res, s1, s2, exp, signal_shape=f.signal_shape, config=config.to_dict()
    )
    results = results_dir(man)
    figs = {}
    if figures:
        tag = f"{f.statistic}" + (f"_sdd{f.sdd}" if f.sdd is not None else "")
        figs = classic_figures(man.name, res, s1, s2, results, tag=tag)
    out["figures"] = figs
    write_json(classic_path(man), out)
    out["json"] = str(classic_path(man))
    return out


def fit_inputs(man: Manifest, config: AnalysisConfig) -> tuple[Spectra, Spectra, Exposure]:
    """The spectra of steps 1 and 2 (``config.fit``'s bins and SDD) and the exposure."""
    from bayes_vip.analysis.spectral import spectra_from_campaign
    from bayes_vip.pipeline.calibrate import energy_campaign

    f = config.fit
    ds = energy_campaign(man)
    top = float(ds["channel_hi"].values[-1])
    (lo1, hi1), (lo2, hi2) = STEP1_RANGE_EV, ROI_EV
    s1 = spectra_from_campaign(ds, lo1, min(hi1, top), f.bin_eV, f.sdd, run=man.path)
    s2 = spectra_from_campaign(ds, lo2, min(hi2, top), f.bin_eV, f.sdd, run=man.path)
    return s1, s2, campaign_exposure(man, ds, config)


def campaign_exposure(man: Manifest, ds: Any, config: AnalysisConfig) -> Exposure:
    """The exposure of the cells that ``config.fit.sdd`` selects (all SDDs if None)."""
    import numpy as np

    sdd = config.fit.sdd
    cells = ds if sdd is None else ds.sel(sdd=[sdd])
    live = cells["live_time_s"].values  # (period, sdd, batch)
    return run_exposure(
        man,
        current_A=np.broadcast_to(cells["current_A"].values[:, None, None], live.shape),
        live_s=live,
        n_sdd=ds.sizes["sdd"],
        n_int_model=config.n_int,
    )


def ensure_classic(
    run: str | Path, config: AnalysisConfig, *, progress: Progress = SILENT, figures: bool = True
) -> dict[str, Any]:
    """The run's ``classic.json`` for the full sum of SDDs under ``config``.

    Fitted if there is none, or if the one there was made with another signal, N_int or fit
    options; ``figures``: draw the fit's figures then (and fit again where the one there
    was made without them).
    """
    cfg = with_values(config, fit={"sdd": None})
    man = load_manifest(run)
    path = classic_path(man)
    if path.is_file():
        c = read_json(path)
        want = cfg.to_dict()
        have = c.get("config", {})
        drawn = bool(c.get("figures")) or not figures
        if drawn and all(have.get(k) == want[k] for k in ("signal", "n_int", "fit")):
            return c
    progress.stage("classic fit")
    return fit(run, cfg, progress=progress, figures=figures)


def fit_below(
    run: str | Path, config: AnalysisConfig, *, progress: Progress = SILENT
) -> dict[str, Any]:
    """The detector response from the lines below the model's region, for the external priors.

    ``analysis.classic.fit_lines_below`` on the run's summed current-on and current-off
    spectra over ``BELOW_RANGE_EV``, with the Fano factor of silicon measured elsewhere
    (``physics.constants.FANO_SI_PRIOR``); ``config.fit`` sets the statistic and the bins.
    Returns the fitted and fixed values, the range and the fit's statistic.
    """
    from bayes_vip.analysis import classic
    from bayes_vip.analysis.spectral import spectra_from_campaign
    from bayes_vip.pipeline.calibrate import energy_campaign

    f = config.fit
    man = load_manifest(run)
    ds = energy_campaign(man)
    lo, hi = BELOW_RANGE_EV
    spectra = spectra_from_campaign(ds, lo, hi, f.bin_eV, None, run=man.path)
    progress.stage("fit of the lines below the region (external priors)")
    res = classic.fit_lines_below(spectra, fano=FANO_SI_PRIOR, statistic=f.statistic)
    return {
        "values": {**res.fixed, **res.values},
        "errors": dict(res.errors),
        "range_eV": [lo, hi],
        "statistic": f.statistic,
        "fval": float(res.fval),
        "ndf": int(res.ndf),
    }
