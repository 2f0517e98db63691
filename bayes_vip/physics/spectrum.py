"""The source spectrum seen by one SDD, in energy: components and exact binned expectations.

Components (all rates in counts per second of live time):

- **lines**: each line group ``g`` (a multiplet from ``physics.lines``) emits ``rate[g]``
  events/s, shaped by the detector response of ``physics.response``;
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

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from bayes_vip.physics import response
from bayes_vip.physics.lines import LineGroup, member_arrays

__all__ = ["SI_KA_EV", "SpectrumModel", "PARAM_NAMES"]


def _si_ka_centroid() -> float:
    import xraydb

    lines = [v for k, v in xraydb.xray_lines("Si", "K").items() if k.startswith("Ka")]
    return float(sum(v.energy * v.intensity for v in lines) / sum(v.intensity for v in lines))


#: Intensity-weighted Si Ka energy [eV] (xraydb): the energy an escape peak loses.
SI_KA_EV: float = _si_ka_centroid()

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


def _uniform_gauss_cdf(x, a, b, sigma):
    """CDF of U(a, b) convolved with N(0, sigma) at x (closed form)."""

    def g(y):  # integral of Phi(y/sigma) dy
        z = y / sigma
        return y * norm.cdf(z) + sigma * norm.pdf(z)

    return (g(x - a) - g(x - b)) / (b - a)


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
    e_min: float = 1000.0
    e_max: float = 11000.0
    e_ref: float = 7000.0
    shelf_lo_eV: float = 1000.0

    def line_data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded member energies, weights (groups x max members) and escape mask (groups,)."""
        en, w = member_arrays(self.groups)
        esc = np.array([k in self.escape_groups for k in self.groups], dtype=float)
        return en, w, esc

    # -------------------------------------------------------------- cumulative components
    def continuum_cumulative(self, x, p):
        """Integral of the continuum density from e_min to x [counts/s]."""
        x = jnp.clip(x, self.e_min, self.e_max)
        d = x - self.e_min
        lin = p["level"] * (
            d + p["slope"] * 1e-3 * (0.5 * ((x - self.e_ref) ** 2 - (self.e_min - self.e_ref) ** 2))
        )
        ex = p["exp_level"] * p["exp_len"] * (1.0 - jnp.exp(-d / p["exp_len"]))
        return lin + ex

    def cumulative(self, x, p):
        """Expected counts per second below energy ``x`` [eV], all components; shape of x."""
        en, w, esc = self.line_data()
        x = jnp.asarray(x)
        rates = jnp.asarray(p["rates"])
        sig = response.sigma_at(en, p["noise"], p["fano"])  # (G, M)
        xx = x[..., None, None]
        main = response.line_cdf(xx, en, sig, p["tail_frac"], p["tail_beta"])
        e_esc = en - SI_KA_EV
        sig_esc = response.sigma_at(e_esc, p["noise"], p["fano"])
        escp = response.line_cdf(xx, e_esc, sig_esc, p["tail_frac"], p["tail_beta"])
        shelf = _uniform_gauss_cdf(xx, self.shelf_lo_eV, en, sig)
        f_esc = p["escape_frac"] * esc[:, None]
        f_shelf = p["shelf_frac"]
        per_member = (1.0 - f_esc - f_shelf) * main + f_esc * escp + f_shelf * shelf
        lines = jnp.sum(rates[:, None] * w * per_member, axis=(-1, -2))
        return lines + self.continuum_cumulative(x, p)

    def expected_counts(self, edges_eV, p, live_s):
        """Expected counts in each bin: live_s * (cumulative(hi) - cumulative(lo)).

        ``edges_eV`` shape (..., n+1) -> result shape (..., n).
        """
        return live_s * response.bin_integrals(self.cumulative(edges_eV, p))
