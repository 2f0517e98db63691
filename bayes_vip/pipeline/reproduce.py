"""``bayes-vip reproduce``: the published analyses of a measured run, each by its own method.

On the run's current-on and current-off spectra, summed over its SDDs (``--sum sdds``) or
as the authors stored their sums (``--sum authors``: the ``withCurrentSum`` and
``noCurrentSmallSum`` histograms of the 2016-17 file):

- (a) ROI subtraction: counts in 7629-7829 eV, on minus off, limit 3 sigma;
- (b) the simultaneous chi-square fit: the two-step fit with Neyman's chi-square and a
  Gaussian PEP line at 7729 eV (Ka2), limit 3 sigma(N_X) as in seed 000;
- (c) Bayesian counting in the same window, limit 99.7 % credible;
- (d) the binned Bayesian fit of the current-on spectrum over 7000-8600 eV
  (``bayes.published``), limit 99.7 % credible.

Writes ``RUN/results/reproduce.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bayes_vip.analysis.conventions import ROI_EV, STEP1_RANGE_EV
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import write_json
from bayes_vip.io.config import AnalysisConfig
from bayes_vip.io.manifest import load_manifest
from bayes_vip.io.outputs import results_dir
from bayes_vip.io.readers import read_th1
from bayes_vip.physics.conversion import beta2half_from_counts
from bayes_vip.physics.lines import pep_signal
from bayes_vip.pipeline.progress import SILENT, Progress

__all__ = ["AUTHORS_SUMS", "SUMS", "check_sum", "reproduce"]

#: Where the spectra come from: our sum of the SDDs, or the authors' stored sums.
SUMS = ("sdds", "authors")
#: The authors' summed histograms in the 2016-17 file (its README: "not exactly the sum of
#: the six per-SDD histograms").
AUTHORS_SUMS = {"on": "withCurrentSum", "off": "noCurrentSmallSum"}


def check_sum(sum_of: str) -> None:
    """An ``InputError`` unless ``sum_of`` is one of ``SUMS``."""
    if sum_of not in SUMS:
        msg = f"must be one of {', '.join(SUMS)}, got {sum_of!r}"
        raise InputError(msg, field="reproduce.sum")


def _authors(man) -> tuple[np.ndarray, np.ndarray]:
    """The authors' summed spectra (2, n) and their edges, from the run's ROOT file."""
    roots = sorted({s.path for s in man.sources if s.format.startswith("root")})
    if len(roots) != 1:
        msg = "--sum authors needs the run's spectra in one ROOT file"
        raise InputError(msg, field="reproduce.sum")
    hists = {k: read_th1(roots[0], key) for k, key in AUTHORS_SUMS.items()}
    edges = hists["on"].edges
    if not np.array_equal(edges, hists["off"].edges):
        msg = f"{AUTHORS_SUMS['on']} and {AUTHORS_SUMS['off']} have different bins"
        raise InputError(msg, file=roots[0], field="histogram")
    return np.stack([hists["on"].counts, hists["off"].counts]), edges


def _restrict(counts: np.ndarray, edges: np.ndarray, lo: float, hi: float, bin_eV: float):
    """The spectra on [lo, hi) rebinned to ``bin_eV`` (a multiple of their bins)."""
    from bayes_vip.analysis.spectral import Spectra, rebin

    k = round(bin_eV / float(edges[1] - edges[0]))
    c, e = rebin(counts, edges, lo, min(hi, float(edges[-1])), k)
    return Spectra(edges=e, counts=c, periods={}, sdd=None)


def reproduce(
    run: str | Path,
    config: AnalysisConfig,
    *,
    sum_of: str = "sdds",
    progress: Progress = SILENT,
) -> dict[str, Any]:
    """The published analyses of ``run``; returns the record written to ``reproduce.json``."""
    from bayes_vip.analysis import classic
    from bayes_vip.analysis.reproduce import (
        ROI_WINDOW_EV,
        bayes_counting,
        roi_subtraction,
        window_counts,
    )
    from bayes_vip.analysis.spectral import spectra_from_campaign
    from bayes_vip.bayes.published import published_bayes_fit, published_bins
    from bayes_vip.io.campaign import edges as campaign_edges
    from bayes_vip.pipeline.calibrate import energy_campaign
    from bayes_vip.pipeline.inputs import campaign_exposure

    check_sum(sum_of)
    if config.fit.sdd is not None:
        msg = f"the published analyses sum every SDD; remove fit.sdd = {config.fit.sdd}"
        raise InputError(msg, field="fit.sdd")
    man = load_manifest(run)
    ds = energy_campaign(man)
    exp = campaign_exposure(man, ds, config)
    if sum_of == "authors":
        counts, edges = _authors(man)
    else:
        e = campaign_edges(ds)
        sp = spectra_from_campaign(ds, e[0], e[-1], float(e[1] - e[0]), run=man.path)
        counts, edges = sp.counts, sp.edges
    published_bins(edges)  # (d)'s binning checked before any fit
    n_on, n_off = (window_counts(counts[i], edges) for i in (0, 1))
    rows: list[dict[str, Any]] = []
    a = roi_subtraction(n_on, n_off)
    rows.append({"method": "(a) ROI subtraction, 7629-7829 eV", **a})
    progress.stage("(b) two-step chi-square fit, Gaussian PEP line at 7729 eV")
    s1 = _restrict(counts, edges, *STEP1_RANGE_EV, config.fit.bin_eV)
    s2 = _restrict(counts, edges, *ROI_EV, config.fit.bin_eV)
    res = classic.fit_two_step(
        s1, s2, signal=pep_signal("ka2"), statistic="chi2", signal_shape="gaussian", profile=False
    )
    rows.append(
        {
            "method": "(b) simultaneous chi-square fit, Gaussian line at 7728.8 eV",
            "N_X": res.n_x,
            "sigma_N_X": res.sigma_n_x,
            "limit": res.ul_3sigma,
            "limit_rule": "3 sigma(N_X) (seed 000)",
            "step2_chi2_ndf": res.step2.fval / res.step2.ndf,
        }
    )
    progress.stage("(c) Bayesian counting")
    rows.append(
        {"method": "(c) Bayesian counting, 7629-7829 eV", **bayes_counting(n_on, n_off, 0.997)}
    )
    progress.stage("(d) binned Bayesian fit of the current-on spectrum (NUTS)")
    rows.append(
        {
            "method": "(d) binned Bayesian fit, 7000-8600 eV, Gaussian line at 7729 eV",
            **published_bayes_fit(counts[0], counts[1], edges, seed=config.sample.seed),
        }
    )
    for r in rows:
        r["limit_beta2half"] = beta2half_from_counts(r["limit"], exp)
    out = {
        "run": man.name,
        "sum": sum_of,
        "sum_note": (
            "sdds: the run's SDDs summed by bayes_vip; authors: the sums stored in the file "
            f"({AUTHORS_SUMS['on']}, {AUTHORS_SUMS['off']})"
        ),
        "window_eV": list(ROI_WINDOW_EV),
        "rows": rows,
        "n_int_model": exp.n_int_model,
        "config": config.to_dict(),
    }
    path = results_dir(man) / f"reproduce_{sum_of}.json"
    write_json(path, out)
    out["json"] = str(path)
    return out
