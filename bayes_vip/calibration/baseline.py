"""The classic peak search the CNN is compared with, and falls back on.

``scipy.signal.find_peaks`` on the variance-stabilised spectrum ``2 sqrt(counts)``
(Anscombe-like: its noise sd is ~1 at every count level, so that one prominence threshold
can serve all levels), smoothed with a Gaussian kernel. The peaks found are then matched to
the five calibration lines by their pattern: every pair of peaks is tried as (Ti Ka, Mn Ka),
which fixes a linear calibration; the pair that puts peaks closest to the most of the other
lines wins. ``TUNED`` are the parameters chosen once, for all count levels, by
``docs/scripts/peakfinder_metrics.py --tune`` on a separate synthetic tuning set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

__all__ = ["TUNED", "PeakSearch", "match_lines", "search_lines"]


@dataclass(frozen=True)
class PeakSearch:
    """Parameters of the classic search (channels, and units of the stabilised noise)."""

    smooth: float = 3.0  # Gaussian smoothing sd [channels]
    prominence: float = 2.0  # minimum prominence of 2 sqrt(counts) after smoothing
    distance: int = 20  # minimum separation of peaks [channels]
    match_tol: float = 20.0  # a line is matched by a peak within this many channels
    gain_range: tuple[float, float] = (2.0, 4.0)  # eV/ADC allowed by the pattern match

    def to_dict(self) -> dict:
        """The parameters as a dict."""
        return asdict(self)


#: Tuned once on the tuning set (see module doc); overwritten only by re-running the script.
TUNED = PeakSearch(smooth=24.0, prominence=0.0, distance=10)


def match_lines(
    peaks: np.ndarray, prominence: np.ndarray, energies: np.ndarray, ps: PeakSearch
) -> np.ndarray:
    """Assign peaks (ADC) to the lines of ``energies`` [eV]; NaN for a line not matched.

    The lines must be ordered so that ``energies[0]`` is Ti Ka and ``energies[2]`` Mn Ka.
    """
    out = np.full(len(energies), np.nan)
    if len(peaks) < 2:
        return out
    best = (-1, -np.inf, None)
    e_a, e_b = energies[0], energies[2]
    for i in range(len(peaks)):
        for j in range(i + 1, len(peaks)):
            g = (e_b - e_a) / (peaks[j] - peaks[i])
            if not ps.gain_range[0] <= g <= ps.gain_range[1]:
                continue
            pred = peaks[i] + (energies - e_a) / g
            d = np.abs(peaks[None, :] - pred[:, None])
            k = np.argmin(d, axis=1)
            ok = d[np.arange(len(pred)), k] <= ps.match_tol
            score = (int(ok.sum()), float(prominence[k[ok]].sum()))
            if score > best[:2]:
                best = (*score, np.where(ok, peaks[k], np.nan))
    return out if best[2] is None else best[2]


def search_lines(counts: np.ndarray, energies: np.ndarray, ps: PeakSearch = TUNED) -> np.ndarray:
    """Positions [ADC] of the lines in one ADC histogram; NaN where not found."""
    y = gaussian_filter1d(2.0 * np.sqrt(np.asarray(counts, dtype=float)), ps.smooth)
    pk, props = find_peaks(y, prominence=ps.prominence, distance=ps.distance)
    # channel centres: a peak in channel c sits at ADC c + 0.5
    return match_lines(pk + 0.5, props["prominences"], energies, ps)
