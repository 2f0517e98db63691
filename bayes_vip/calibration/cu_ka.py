"""The Cu Ka line of calibrated spectra: seed 002's table-1 fit (eq. 4) and centroid shifts.

``fit_cu_ka`` fits eq. 4 (Ka1 and Ka2 with the eq. 5 tail on a linear background) to the sum of
the calibrated batches, which is how seed 002 reports a calibration's quality (position, FWHM,
chi2/ndf; table 1 and fig. 7). ``centroid_pulls`` gives seed 002 fig. 6: the shift of every
batch's Cu Ka centroid between the standard and the refined calibration, in units of its error.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from iminuit import Minuit

from bayes_vip.calibration.calibrate import cell_energy_histograms
from bayes_vip.calibration.linefit import TAIL_BETA
from bayes_vip.physics import lines as _lines
from bayes_vip.physics.kernel import line_cumulative
from bayes_vip.physics.response import FWHM_PER_SIGMA

__all__ = [
    "CU_KA_BIN_EV",
    "CU_KA_RANGE",
    "centroid_pulls",
    "fit_cu_ka",
    "summed_energy_spectrum",
]

#: Range and binning of the seed-002 table-1 fit (eq. 4), 7000-8500 eV (seed 002 fig. 7).
CU_KA_RANGE = (7000.0, 8500.0)
CU_KA_BIN_EV = 10.0


@jax.jit
def _eq4_expected(q, edges):
    """Seed 002 eq. 4: expected counts in the bins ``edges`` for q = mu, sigma, A, tail, m, C.

    Ka1 at mu, Ka2 at mu - 20 eV with 51/100 of its area, each with the eq. 5 tail (shared
    fraction), on a linear background.
    """
    mu, sig, amp, tail, m, c = q
    grp = _lines.line_group("Cu Ka")
    d = grp.energies[1] - grp.energies[0]  # -20 eV (seed: 8027.8 - 8047.8)
    r = grp.lines[1].intensity / grp.lines[0].intensity  # 0.51
    # one width for both members (eq. 4): the kernel with fano = 0 and noise = sigma
    members = jnp.stack([mu, mu + d])[None, :]
    weights = jnp.array([[1.0, r]]) / (1.0 + r)
    cdf = (1.0 + r) * line_cumulative(edges, members, weights, sig, 0.0, tail, TAIL_BETA)[:, 0]
    x0 = 0.5 * (edges[0] + edges[-1])
    lin = m * 0.5 * ((edges - x0) ** 2) + c * edges
    return amp * (cdf[1:] - cdf[:-1]) + (lin[1:] - lin[:-1])


def _eq4_deviance(q, edges, counts):
    """Poisson deviance of eq. 4 against binned counts (0 log 0 = 0)."""
    mu = jnp.maximum(_eq4_expected(q, edges), 1e-12)
    t = jnp.where(counts > 0, counts * jnp.log(jnp.where(counts > 0, counts, 1.0) / mu), 0.0)
    return 2.0 * jnp.sum(mu - counts + t)


# compiled once per binning shape, not once per call
_eq4_dev = jax.jit(_eq4_deviance)
_eq4_grad = jax.jit(jax.grad(_eq4_deviance))


def fit_cu_ka(counts: np.ndarray, edges: np.ndarray) -> dict:
    """Fit eq. 4 to an energy spectrum on 7000-8500 eV; position, FWHM and chi2/ndf.

    chi2 is Neyman's (variance = observed counts, 1 for empty bins), as the seed's MINUIT fit
    reports; the fit itself minimises the Poisson deviance.
    """
    sel = (edges[:-1] >= CU_KA_RANGE[0] - 1e-9) & (edges[1:] <= CU_KA_RANGE[1] + 1e-9)
    k = round(CU_KA_BIN_EV / np.diff(edges)[0])
    c = counts[sel]
    n = len(c) // k
    c = c[: n * k].reshape(n, k).sum(axis=1)
    e = edges[:-1][sel][: n * k : k]
    e = jnp.asarray(np.append(e, e[-1] + CU_KA_BIN_EV))
    cj = jnp.asarray(c, dtype=jnp.float64)
    grp = _lines.line_group("Cu Ka")
    ka2_ka1 = grp.lines[1].intensity / grp.lines[0].intensity
    bg = float(np.median(c[:10])) / CU_KA_BIN_EV
    amp0 = max(float(c.sum()) - bg * CU_KA_BIN_EV * n, 10.0) / (1.0 + ka2_ka1)
    m = Minuit(
        lambda q: float(_eq4_dev(jnp.asarray(q), e, cj)),
        [grp.energies[0], 75.0, amp0, 0.05, 0.0, bg],
        grad=lambda q: np.asarray(_eq4_grad(jnp.asarray(q), e, cj)),
        name=("mu", "sigma", "A", "tail", "m", "C"),
    )
    m.errordef = 1.0
    m.limits["sigma"] = (20.0, 200.0)
    m.limits["A"] = (0.0, None)
    m.limits["tail"] = (0.0, 0.5)
    m.limits["mu"] = (7900.0, 8200.0)
    m.migrad()
    m.hesse()
    expc = np.asarray(_eq4_expected(jnp.asarray(m.values), e))
    chi2 = float(np.sum((c - expc) ** 2 / np.maximum(c, 1.0)))
    ndf = n - 6
    return {
        "position_eV": [float(m.values["mu"]), float(m.errors["mu"])],
        "fwhm_eV": [
            float(FWHM_PER_SIGMA * m.values["sigma"]),
            float(FWHM_PER_SIGMA * m.errors["sigma"]),
        ],
        "chi2": chi2,
        "ndf": ndf,
        "chi2_ndf": chi2 / ndf,
        "counts": float(c.sum()),
        "valid": bool(m.valid),
        "model": np.asarray(expc).tolist(),
        "edges": np.asarray(e).tolist(),
        "data": c.tolist(),
    }


def summed_energy_spectrum(
    counts_adc: np.ndarray,
    p: np.ndarray,
    ok: np.ndarray,
    *,
    rng: np.random.Generator,
    edges: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum over the calibrated cells of their energy spectra (1 eV bins, 6.5-9 keV).

    ``rng`` places every count uniformly within its ADC channel (see
    ``calibrate.cell_energy_histograms``).
    """
    edges = np.arange(6500.0, 9000.0 + 0.5, 1.0) if edges is None else edges
    h = cell_energy_histograms(counts_adc[ok], p[ok], edges, rng)
    return h.sum(axis=0), edges


def centroid_pulls(cal: xr.Dataset) -> np.ndarray:
    """Seed 002 fig. 6: (mu_ref - mu_opt) / sigma(mu_ref) of every batch's Cu Ka centroid."""
    a = cal["line_adc"].sel(line="Cu Ka").values
    sa = cal["line_adc_err"].sel(line="Cu Ka").values
    p_s, p_r = cal["p_standard"].values, cal["p_refined"].values

    def energy(p):
        return p[..., 0] + p[..., 1] * a + p[..., 2] * a * a

    slope = p_s[..., 1] + 2 * p_s[..., 2] * a
    return (energy(p_s) - energy(p_r)) / (slope * sa)
