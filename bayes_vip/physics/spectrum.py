"""The source spectrum seen by one SDD, in energy: components and exact binned expectations.

Components (all rates in counts per second of live time):

- **lines**: each line group ``g`` (a multiplet from ``physics.lines``) emits ``rate[g]``
  events/s, shaped by the detector response of ``physics.kernel``;
- **Si escape peaks**: for the groups in ``escape_groups``, a fraction ``escape_frac`` of the
  events lose a Si K photon and appear at ``E - E(Si Ka)`` (xraydb; the peaks at 2.77 and
  3.19 keV of the measured spectra are Ti Ka and Ti Kb escapes);
- **shelf**: a fraction ``shelf_frac`` of every line's events is spread uniformly between
  ``shelf_lo_eV`` and the line energy (incomplete charge collection, the plateau under the
  Ti and Mn lines of the measured spectra), convolved with the Gaussian resolution;
- **continuum**: a density [counts/s/eV] ``level * (1 + slope * (E - e_ref)/1 keV)`` plus
  ``exp_level * exp(-(E - e_min)/exp_len)`` on ``[e_min, e_max]``.

``expected_counts`` integrates every component exactly over arbitrary bin edges (CDF
differences), so the same function serves ADC bins mapped to energy and energy bins.
The simulator (``bayes_vip.simulate``) samples events from exactly these components.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from bayes_vip.physics import response
from bayes_vip.physics.kernel import SHELF_LO_EV, line_cumulative
from bayes_vip.physics.lines import LineGroup, member_arrays

__all__ = [
    "ESCAPE_GROUPS",
    "E_CONT_REF_EV",
    "PARAM_NAMES",
    "SpectrumModel",
    "linear_continuum_cumulative",
]

#: Reference energy of the continuum's level and slope [eV]: the lower end of seed 000's
#: region of interest (step 2, 7-11 keV), where the measured continuum is about 20
#: counts/eV (data README).
E_CONT_REF_EV = 7000.0
#: Line groups with a visible Si escape peak in the measured spectra: the escapes of Ti Ka
#: and Ti Kb sit at 2.77 and 3.19 keV, those of Mn under 4.2-4.7 keV (fitted in
#: docs/scripts/fit_measured_for_simulation.py). The target lines' escapes fall under the
#: Mn lines, far below any fitted region's interest, and are left out.
ESCAPE_GROUPS = ("Ti Ka", "Ti Kb", "Mn Ka", "Mn Kb")

#: Scalar parameters of a spectrum besides the per-group ``rates``.
PARAM_NAMES = (
    "noise",  # electronic noise, sigma [eV]
    "fano",  # Fano factor
    "tail_frac",  # fraction of a line in the low-energy tail (seed 002 eq. 5)
    "tail_beta",  # tail slope, in units of sigma
    "escape_frac",  # Si escape probability of the groups in escape_groups
    "shelf_frac",  # fraction of each line in the flat shelf
    "level",  # continuum at e_ref [counts/s/eV]
    "slope",  # relative continuum slope [per keV]
    "exp_level",  # low-energy exponential continuum at e_min [counts/s/eV]
    "exp_len",  # its decay length [eV]
)


def linear_continuum_cumulative(
    x: ArrayLike, level: ArrayLike, slope_per_keV: ArrayLike, e_ref: float = E_CONT_REF_EV
) -> Array:
    """Integral up to ``x`` of the linear continuum ``level (1 + slope (E - e_ref)/1 keV)``.

    Up to a constant, it is ``level ((x - e_ref) + slope/2000 (x - e_ref)^2)`` [level x eV].
    """
    d = x - e_ref
    # cast for mypy only: plain arithmetic, an Array whenever an argument is one
    return cast(Array, level * (d + slope_per_keV * 1e-3 * 0.5 * d * d))


@dataclass(frozen=True)
class SpectrumModel:
    """Which components a spectrum has; the numbers live in a parameter dict.

    Parameters
    ----------
    groups : line groups, or their catalogue keys (``"Ti Ka"``, ``"Cu Ka"``, ...), in the
        order of ``rates``.
    escape_groups : the groups that have a Si escape peak.
    e_min, e_max : support of the continuum [eV].
    e_ref : reference energy of the continuum level [eV].
    shelf_lo_eV : lower end of the shelf [eV].
    """

    groups: tuple[str | LineGroup, ...]
    escape_groups: tuple[str, ...] = ()
    e_min: float = SHELF_LO_EV  # the measured histograms' low edge
    e_max: float = 11000.0
    e_ref: float = E_CONT_REF_EV
    shelf_lo_eV: float = SHELF_LO_EV

    def line_data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded member energies, weights (groups x max members) and escape mask (groups,)."""
        en, w = member_arrays(self.groups)
        esc = np.array([k in self.escape_groups for k in self.groups], dtype=float)
        return en, w, esc

    # -------------------------------------------------------------- cumulative components
    def continuum_cumulative(self, x: ArrayLike, p: Mapping[str, ArrayLike]) -> Array:
        """Integral of the continuum density from e_min to x [counts/s]."""
        x = jnp.clip(x, self.e_min, self.e_max)
        lin = linear_continuum_cumulative(x, p["level"], p["slope"], self.e_ref)
        lin = lin - linear_continuum_cumulative(self.e_min, p["level"], p["slope"], self.e_ref)
        d = x - self.e_min
        ex = p["exp_level"] * p["exp_len"] * (1.0 - jnp.exp(-d / p["exp_len"]))
        return lin + ex

    def cumulative(self, x: ArrayLike, p: Mapping[str, ArrayLike]) -> Array:
        """Expected counts per second below energy ``x`` [eV], all components; shape of x."""
        en, w, esc = self.line_data()
        unit = line_cumulative(
            x,
            en,
            w,
            p["noise"],
            p["fano"],
            p["tail_frac"],
            p["tail_beta"],
            p["shelf_frac"],
            escape_frac=p["escape_frac"] * esc if esc.any() else None,
            shelf_lo_eV=self.shelf_lo_eV,
        )  # (..., n, G)
        return unit @ jnp.asarray(p["rates"]) + self.continuum_cumulative(jnp.asarray(x), p)

    def expected_counts(
        self, edges_eV: ArrayLike, p: Mapping[str, ArrayLike], live_s: ArrayLike
    ) -> Array:
        """Expected counts in each bin: live_s * (cumulative(hi) - cumulative(lo)).

        ``edges_eV`` shape (..., n+1) -> result shape (..., n).
        """
        # cast: NumPy's stubs type ``ndarray * Array`` as an ndarray; at run time it is an Array
        return cast(Array, live_s * response.bin_integrals(self.cumulative(edges_eV, p)))
