"""Peak-finder metrics on held-out synthetic spectra: the CNN against the classic search.

For each total-count level: the absolute error of every centroid in ADC (median and 95th
percentile, per line) and the fraction of spectra in which all five lines are found within
10 ADC (seed 002 fig. 3). A line the classic search does not find counts as an error of
the full ADC range (4096), the worst there is.
"""

from __future__ import annotations

import numpy as np

from bayes_vip.calibration import baseline
from bayes_vip.calibration.peakfinder import LINES
from bayes_vip.calibration.synthetic import N_ADC, draw_spectra, line_energies
from bayes_vip.seeding import seed_of

__all__ = ["LEVELS", "TOLERANCE_ADC", "evaluate_levels", "summarise_errors"]

#: Total counts per spectrum of the held-out sets (a 2-day VIP-2 batch has ~6e4 counts per
#: SDD; a month ~1e6).
LEVELS = (1e3, 3e3, 1e4, 3e4, 1e5, 1e6)
TOLERANCE_ADC = 10.0


def summarise_errors(err: np.ndarray, counts: float) -> dict:
    """Summary of ``err``: (n, 5) absolute errors [ADC] (4096 where a line was not found)."""
    return {
        "counts": counts,
        "n": int(err.shape[0]),
        "median_abs_err": [float(v) for v in np.median(err, axis=0)],
        "p95_abs_err": [float(v) for v in np.percentile(err, 95, axis=0)],
        "all_within_10": float(np.mean(np.all(err <= TOLERANCE_ADC, axis=1))),
        "found_fraction": [float(v) for v in np.mean(err < N_ADC, axis=0)],
    }


def evaluate_levels(
    model,
    *,
    rng: np.random.Generator,
    levels=LEVELS,
    n: int = 300,
    search: baseline.PeakSearch = baseline.TUNED,
    with_baseline: bool = True,
) -> dict:
    """CNN (and classic-search) metrics at every level, on spectra drawn with ``rng``."""
    from bayes_vip.calibration.train import predict_adc

    e = line_energies()
    out = {"lines": list(LINES), "tolerance_adc": TOLERANCE_ADC, "seed": seed_of(rng), "cnn": []}
    if with_baseline:
        out["find_peaks"] = []
        out["find_peaks_params"] = search.to_dict()
    for lvl in levels:
        d = draw_spectra(n, (lvl, lvl), rng=rng, raw=with_baseline)
        err = np.abs(predict_adc(model, d["x"]) - d["y"])
        out["cnn"].append(summarise_errors(err, lvl))
        if with_baseline:
            pos = np.stack([baseline.search_lines(c, e, search) for c in d["counts"]])
            err_b = np.where(np.isfinite(pos), np.abs(pos - d["y"]), float(N_ADC))
            out["find_peaks"].append(summarise_errors(err_b, lvl))
    return out
