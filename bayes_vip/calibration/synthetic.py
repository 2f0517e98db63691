"""Synthetic ADC spectra for training and testing the peak finder (seed 002 sec. 3.1).

Every spectrum is drawn from the simulator's physics (``physics.spectrum.SpectrumModel``
with the simulator's line groups and escape peaks) through a random quadratic calibration
(seed 002 eq. 1) onto the ADC channels, then Poisson-sampled. A binned Poisson draw of the
exact channel expectations has the same distribution as histogramming simulated events, and
is ~100x cheaper, which is what makes training on the CPU in minutes possible.

The seed trains on "large differences in peak positions, widths and relative amplitudes";
``Variations`` holds the ranges we draw from, wide around the measured 2016-17 spectrum
(``simulate.presets.MEASURED_2016_17``): gain +-14 %, offset +-300 eV, resolution 15-90 eV
noise, each line's yield relative to Ti Ka x1/3..x3, background x1/5..x5, and total counts
log-uniform over the requested range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np

from bayes_vip.calibration.peakfinder import INPUT_BINS, LINES, prepare, scale_input
from bayes_vip.physics import lines as _lines
from bayes_vip.physics.response import energy_to_adc
from bayes_vip.simulate.presets import MEASURED_2016_17
from bayes_vip.simulate.simulator import spectrum_model

__all__ = ["N_ADC", "Variations", "draw_spectra", "line_energies"]

#: ADC channels of the spectra (12-bit, as the simulator presets).
N_ADC = 4096

_GROUPS = tuple(MEASURED_2016_17["rates"])
_MODEL = spectrum_model(_GROUPS)


def line_energies() -> np.ndarray:
    """Intensity-weighted centroids [eV] of the five peak-finder lines (xraydb + overrides)."""
    return np.array([_lines.line_group(k).centroid_eV for k in LINES])


@dataclass(frozen=True)
class Variations:
    """Ranges of the synthetic spectra (uniform unless marked log-uniform)."""

    gain: tuple[float, float] = (2.5, 3.3)  # p1 [eV/ADC]; presets: 2.9 +- 2 %
    offset: tuple[float, float] = (-300.0, 300.0)  # p0 [eV]; presets: sd 15 eV
    quad: tuple[float, float] = (-1e-6, 3e-6)  # p2 [eV/ADC^2]; presets: 1e-6 +- 3e-7
    noise: tuple[float, float] = (15.0, 90.0)  # sigma [eV]; measured 27-40 eV
    fano: tuple[float, float] = (0.10, 0.20)
    tail_frac: tuple[float, float] = (0.0, 0.2)
    tail_beta: tuple[float, float] = (2.0, 6.0)
    escape_frac: tuple[float, float] = (0.0, 0.03)
    shelf_frac: tuple[float, float] = (0.0, 0.15)
    yield_factor: float = 3.0  # each line's rate relative to Ti Ka: x[1/f, f], log-uniform
    background_factor: float = 5.0  # continuum levels: x[1/f, f], log-uniform
    slope: tuple[float, float] = (-0.05, 0.02)  # per keV
    exp_len: tuple[float, float] = (100.0, 400.0)  # eV

    def to_dict(self) -> dict:
        """The ranges as a dict (stored in the peak finder's metadata)."""
        return asdict(self)


@jax.jit
def _expected(edges_eV, p):
    """Expected-count shapes (n, n_adc) of spectra with parameters p (batched dict)."""

    def one(e, q):
        c = _MODEL.cumulative(e, q)
        return jnp.clip(c[1:] - c[:-1], 0.0, None)

    return jax.vmap(one)(edges_eV, p)


def _draw_params(rng: np.random.Generator, n: int, v: Variations) -> tuple[dict, np.ndarray]:
    def u(lo_hi):
        return rng.uniform(lo_hi[0], lo_hi[1], n)

    def logu(f):
        return np.exp(rng.uniform(-np.log(f), np.log(f), n))

    base = MEASURED_2016_17
    rates = np.stack(
        [
            base["rates"][g]
            / base["rates"]["Ti Ka"]
            * (np.ones(n) if g == "Ti Ka" else logu(v.yield_factor))
            for g in _GROUPS
        ],
        axis=-1,
    )
    bg = logu(v.background_factor)
    p = {
        "rates": rates,
        "noise": u(v.noise),
        "fano": u(v.fano),
        "tail_frac": u(v.tail_frac),
        "tail_beta": u(v.tail_beta),
        "escape_frac": u(v.escape_frac),
        "shelf_frac": u(v.shelf_frac),
        "level": base["level"] / base["rates"]["Ti Ka"] * bg,
        "slope": u(v.slope),
        "exp_level": base["exp_level"] / base["rates"]["Ti Ka"] * bg * logu(2.0),
        "exp_len": u(v.exp_len),
    }
    cal = np.stack([u(v.offset), u(v.gain), u(v.quad)], axis=-1)
    return p, cal


def draw_spectra(
    n: int,
    counts: tuple[float, float],
    *,
    rng: np.random.Generator,
    variations: Variations = Variations(),
    chunk: int = 256,
    raw: bool = False,
) -> dict:
    """Draw ``n`` synthetic spectra.

    Parameters
    ----------
    n : number of spectra.
    counts : (lo, hi) total expected counts per spectrum, drawn log-uniformly; lo == hi
        gives a fixed level.
    rng : numpy Generator (all randomness).
    raw : also return the raw ADC histograms (n, 4096) (for baselines and fits).

    Returns
    -------
    dict with ``x`` (n, 300, 1) network inputs (``peakfinder.prepare``), ``y`` (n, 5) true
    centroids in ADC, ``calibration`` (n, 3), ``total`` (n,) counts, and ``counts`` if raw.
    """
    xs, ys, cals, tots, raws = [], [], [], [], []
    e_lines = line_energies()
    # raw: every ADC channel; otherwise directly the network's 300 input bins (Poisson counts
    # of the coarse bins, as prepare() would regroup them, without the 4096-channel detour)
    adc_edges = (
        np.arange(N_ADC + 1, dtype=float) if raw else np.linspace(0.0, N_ADC, INPUT_BINS + 1)
    )
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        p, cal = _draw_params(rng, m, variations)
        edges_e = cal[:, :1] + cal[:, 1:2] * adc_edges + cal[:, 2:3] * adc_edges**2
        shape = np.array(_expected(jnp.asarray(edges_e), {k: jnp.asarray(x) for k, x in p.items()}))
        shape /= shape.sum(axis=-1, keepdims=True)
        n_tot = np.exp(rng.uniform(np.log(counts[0]), np.log(counts[1]), m))
        h = rng.poisson(shape * n_tot[:, None])
        xs.append((prepare(h) if raw else scale_input(h)).astype(np.float32))
        ys.append(np.asarray(energy_to_adc(e_lines[None, :], cal[:, None, :])))
        cals.append(cal)
        tots.append(h.sum(axis=-1))
        if raw:
            raws.append(h.astype(np.int32))
    out = {
        "x": np.concatenate(xs),
        "y": np.concatenate(ys),
        "calibration": np.concatenate(cals),
        "total": np.concatenate(tots),
    }
    if raw:
        out["counts"] = np.concatenate(raws)
    return out
