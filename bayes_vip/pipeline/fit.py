"""``bayes-vip fit``: the classic two-step analysis of a run; ``classic.json`` and figures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bayes_vip.analysis.conventions import BELOW_RANGE_EV
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import result_set, write_json
from bayes_vip.io.config import AnalysisConfig, with_values
from bayes_vip.io.manifest import load_manifest
from bayes_vip.io.outputs import FREQUENTIST_DIR, classic_path, read_json, results_dir
from bayes_vip.physics.constants import FANO_SI_PRIOR
from bayes_vip.pipeline.inputs import fit_inputs
from bayes_vip.pipeline.progress import SILENT, Progress
from bayes_vip.pipeline.scan import ScanRequest, check_window, scan_from_fit, scan_summary

__all__ = ["ensure_classic", "fit", "fit_below", "matching_toys", "reports_on"]


def fit(
    run: str | Path,
    config: AnalysisConfig,
    *,
    progress: Progress = SILENT,
    figures: bool = True,
    scan: ScanRequest | None = None,
) -> dict[str, Any]:
    """The classic two-step analysis of ``run``; returns the record written to ``classic.json``.

    It follows ``config.signal``, ``config.n_int`` and ``config.fit``. With ``scan``, the
    energy scan around the fit (``pipeline.scan``) runs too: ``scan.json`` is written, and
    ``classic.json`` holds its summary.

    ADC-level runs are analysed through their calibration (``bayes-vip calibrate``).
    Nothing is written unless both fits are valid (``AnalysisError`` otherwise).
    """
    from bayes_vip.analysis import classic
    from bayes_vip.results.classic import classic_figures, classic_record

    f = config.fit
    man = load_manifest(run)
    toys = matching_toys(man, config)  # read before the fit: a bad file stops here
    s1, s2, exp = fit_inputs(man, config)
    if scan is not None:
        check_window(scan, s2)
    progress.stage("two-step fit, profile-likelihood and CLs limits")
    res = classic.fit_two_step(
        s1,
        s2,
        signal=config.signal_line(),
        statistic=f.statistic,
        signal_shape=f.signal_shape,
        background=f.background,
    )
    out = classic_record(
        man.name, res, s1, s2, exp, signal_shape=f.signal_shape, config=config.to_dict()
    )
    results = results_dir(man)
    if toys is not None:
        out["toys"] = toys
    if scan is not None:
        progress.stage("energy scan")
        rec = scan_from_fit(man, config, scan, res, s2, exp, progress=progress, figures=figures)
        out["scan"] = scan_summary(rec)
    if figures:
        progress.stage("figures and report")
    with result_set(results) as stage:  # classic.json and its figures: all new, or all old
        figs = {}
        if figures:
            tag = f"{f.statistic}" + (f"_sdd{f.sdd}" if f.sdd is not None else "")
            drawn = classic_figures(man.name, res, s1, s2, stage, tag=tag)
            figs = {k: str(results / Path(v).name) for k, v in drawn.items()}
        out["figures"] = figs
        write_json(stage / classic_path(man).name, out)
    out["json"] = str(classic_path(man))
    if figures and reports_on():
        from bayes_vip.results.report import write_report

        out["report"] = str(write_report(run))
    return out


def reports_on() -> bool:
    """Whether ``fit`` and ``sample`` write ``report.html`` (``BAYES_VIP_REPORT``, default on).

    ``BAYES_VIP_REPORT=off`` leaves it out (batch jobs; the tests, where a page of 4-6 s after
    every fit would cost minutes); ``bayes-vip report RUN`` writes it at any time.
    """
    return os.environ.get("BAYES_VIP_REPORT", "on").strip().lower() not in ("off", "0", "no")


def matching_toys(man: Any, config: AnalysisConfig) -> dict[str, Any] | None:
    """The limits from toys of ``bayes-vip study frequentist``, where they fit this fit.

    From ``RUN/results/study-frequentist/frequentist.json`` if its signal, N_int and fit
    options are this configuration's: the CLs, profile and Feldman-Cousins limits, the
    expected CLs bands and the numbers of toys. None if there is none or it was made
    otherwise; a file there that cannot be read is an ``InputError``.
    """
    path = results_dir(man) / FREQUENTIST_DIR / "frequentist.json"
    if not path.is_file():
        return None
    rec = read_json(path)
    try:
        have, want = rec["config"], config.to_dict()
        if not all(have[k] == want[k] for k in ("signal", "n_int", "fit")):
            return None
        keys = ("cls", "profile", "feldman_cousins", "expected_cls", "toys_per_mu",
                "toys_background", "grid")  # fmt: skip
        optional = {"expected_profile": rec.get("expected_profile", {})}
        out = {"study": str(path), **{k: rec[k] for k in keys}}
    except (KeyError, TypeError):
        msg = "is not a frequentist study's summary (no config, limits or toy counts)"
        raise InputError(msg, file=path) from None
    out["unresolved"] = rec.get("unresolved", {})
    return {**out, **optional}


def ensure_classic(
    run: str | Path, config: AnalysisConfig, *, progress: Progress = SILENT, figures: bool = True
) -> dict[str, Any]:
    """The run's ``classic.json`` for the full sum of SDDs under ``config``.

    Fitted if there is none, if the one there was made with another signal, N_int or fit
    options, or by an older version (``results.classic.CLASSIC_SCHEMA``: one without the CLs
    limits and bands); ``figures``: draw the fit's figures then (and fit again where the one
    there was made without them).
    """
    from bayes_vip.results.classic import CLASSIC_SCHEMA

    cfg = with_values(config, fit={"sdd": None})
    man = load_manifest(run)
    path = classic_path(man)
    if path.is_file():
        c = read_json(path)
        want = cfg.to_dict()
        have = c.get("config", {})
        drawn = bool(c.get("figures")) or not figures
        current = c.get("schema") == CLASSIC_SCHEMA
        if current and drawn and all(have.get(k) == want[k] for k in ("signal", "n_int", "fit")):
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
