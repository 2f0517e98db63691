"""The conventions both analyses share, each named here once.

Fit ranges, the region of interest, the line groups in them, and the levels of every upper
limit.

Seed 000 sec. 3 fits the current-on and current-off spectra in two steps: 3.5-11 keV (step 1,
which fixes the resolution on the strong Ti and Mn lines) and 7-11 keV (step 2: the region
of interest around the PEP line). Runs whose spectra end lower (the measured 2016-17
histograms stop at 10 keV) are fitted up to their end.
"""

from __future__ import annotations

__all__ = [
    "BELOW_GROUPS",
    "BELOW_RANGE_EV",
    "CLS",
    "MODEL_ROI_EV",
    "ROI_EV",
    "ROI_GROUPS",
    "STEP1_GROUPS",
    "STEP1_RANGE_EV",
]

#: Step 1 of seed 000 sec. 3 [eV].
STEP1_RANGE_EV = (3500.0, 11000.0)
#: The region of interest: step 2 of seed 000 sec. 3 [eV].
ROI_EV = (7000.0, 11000.0)
#: The hierarchical model's region [eV]: ``ROI_EV`` cut at 10 keV, where the measured
#: histograms end, so that the model has the same region for every run.
MODEL_ROI_EV = (ROI_EV[0], 10000.0)
#: Lines of step 1: the Fe-55/Ti-foil lines and the target lines.
STEP1_GROUPS = ("Ti Ka", "Ti Kb", "Mn Ka", "Mn Kb", "Ni Ka", "Cu Ka", "Cu Kb")
#: The calibration lines below the model's region, and their range [eV]: where the
#: ``external`` prior set takes the detector response from (``classic.fit_lines_below``).
#: The range ends above Mn Kb (6490 eV) by three resolution sigmas, and 11 sigmas below
#: Ni Ka (7478 eV), whose low-energy tail there is small beside the continuum.
BELOW_GROUPS = ("Ti Ka", "Ti Kb", "Mn Ka", "Mn Kb")
BELOW_RANGE_EV = (STEP1_RANGE_EV[0], 6700.0)
#: Lines of the region of interest; chosen on the measured data (docs/classic.md).
ROI_GROUPS = ("Ni Ka", "Cu Ka", "Cu Kb")
#: Levels of every upper limit, classic (confidence) and Bayesian (credibility): 90 %, 95 %,
#: and 99.7 % (3 sigma, the level of seed 000's published limit).
CLS = (0.90, 0.95, 0.997)
