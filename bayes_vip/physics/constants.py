"""Physical constants with their sources.

CODATA values come from ``scipy.constants`` (CODATA 2018, exact SI values for e, h, k_B).
"""

from __future__ import annotations

import scipy.constants as _sc

__all__ = [
    "CAPTURE_PROBABILITY",
    "EV",
    "E_CHARGE",
    "FANO_SI_MEASURED",
    "FANO_SI_PRIOR",
    "HBAR",
    "H_PLANCK",
    "K_B",
    "M_E",
    "SECONDS_PER_DAY",
    "W_SI_EV",
    "W_SI_FANO_MEASURED_EV",
]

#: Elementary charge [C], CODATA via scipy.constants (exact in SI 2019).
E_CHARGE: float = _sc.e
#: Electron mass [kg], CODATA via scipy.constants.
M_E: float = _sc.m_e
#: Planck constant [J s], CODATA via scipy.constants (exact).
H_PLANCK: float = _sc.h
#: Reduced Planck constant [J s], CODATA via scipy.constants.
HBAR: float = _sc.hbar
#: Boltzmann constant [J/K], CODATA via scipy.constants (exact).
K_B: float = _sc.k
#: One electronvolt in joules, CODATA via scipy.constants.
EV: float = _sc.electron_volt

#: Mean energy to create one electron-hole pair in silicon [eV]. G. F. Knoll, *Radiation
#: Detection and Measurement* (4th ed.), table 11.1, gives 3.62 eV at 300 K and 3.76 eV at
#: 77 K; VIP-2's SDDs run at about 100-180 K, and DESIGN.md quotes "about 3.6-3.7 eV".
#: We take 3.7 eV. Only the product F*w enters sigma(E), so this choice sets the scale of
#: the fitted Fano factor F, not the fitted resolution.
W_SI_EV: float = 3.7

#: Seconds per day (definition).
SECONDS_PER_DAY: float = 86400.0

#: Capture probability per electron-atom scattering into the 2p state: 1/10
#: (seed 000 eq. 2 and text; seed 001 eq. 1, after Ramberg and Snow).
CAPTURE_PROBABILITY: float = 0.1

#: Starting value of the Si Fano factor in the calibration fits and centre of its prior in
#: the hierarchical model. Our choice: between the Si literature values near 0.12 and the
#: 0.160 that the measured 2016-17 spectra give with w = 3.7 eV
#: (docs/scripts/fit_measured_for_simulation.py).
FANO_START: float = 0.14

#: The Fano factor of silicon and the pair-creation energy measured with it: F = 0.119 +-
#: 0.002 and w = 3.749 +- 0.001 eV, from the charge distribution of Fe-55 X-rays (5.9 keV)
#: counted electron by electron in a skipper CCD at 123 K (D. Rodrigues et al., Phys. Rev. D
#: 104 (2021) L091101, arXiv:2004.11499).
FANO_SI_MEASURED: float = 0.119
W_SI_FANO_MEASURED_EV: float = 3.749
#: The centre of the ``external`` Fano prior in this project's convention: only F*w enters
#: the resolution, so the measured product is expressed with our w (``W_SI_EV``):
#: 0.119 x 3.749 / 3.7 = 0.1206.
FANO_SI_PRIOR: float = FANO_SI_MEASURED * W_SI_FANO_MEASURED_EV / W_SI_EV
