"""Spectra for the analyses, and the simultaneous current-on / current-off spectral model.

``spectra_from_campaign`` turns an energy-level Campaign into two spectra, current on and
current off (summed over SDDs and batches, or one SDD), rebinned over a fit range.

``JointModel`` is the binned expectation of both spectra from a flat, named parameter
vector. Each parameter is either shared by the spectra (``"fano"``) or belongs to one
(``"on.Cu Ka"``, ``"off.level"``); a parameter can also be fixed. The current-on spectrum
may carry a PEP-violating line with ``N_X`` counts, whose width follows the resolution
(a pure Gaussian by default, as in seed 000 sec. 3). Rates are counts in the spectrum
(live time 1), which keeps the parameters of order 1-1e6 and the fit well conditioned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax import Array

from bayes_vip.errors import InputError
from bayes_vip.io.campaign import edges as campaign_edges
from bayes_vip.physics.lines import LineGroup
from bayes_vip.physics.spectrum import PARAM_NAMES, SpectrumModel

__all__ = [
    "SPECTRA",
    "JointModel",
    "Spectra",
    "model_group_keys",
    "rebin",
    "spectra_from_campaign",
]

#: The two spectra of a simultaneous fit, in order.
SPECTRA = ("on", "off")


@dataclass(frozen=True)
class Spectra:
    """Two spectra on common energy bins: ``counts`` shape (2, n), ``edges`` (n+1,) [eV]."""

    edges: np.ndarray
    counts: np.ndarray
    periods: dict[str, list[str]]  # "on"/"off" -> campaign period names
    sdd: int | None
    #: live time [s] of each spectrum (on, off) per SDD; None where it is not known
    live_s: tuple[float, float] | None = None

    @property
    def exposure_ratio(self) -> float:
        """Live time off / on: what a background tied by exposure scales by."""
        if self.live_s is None:
            msg = "these spectra carry no live times"
            raise ValueError(msg)
        return self.live_s[1] / self.live_s[0]

    @property
    def centres(self) -> np.ndarray:
        """Bin centres [eV], shape (n,)."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])


def spectra_from_campaign(
    ds: xr.Dataset, lo: float, hi: float, bin_eV: float, sdd: int | None = None, *, run: str = ""
) -> Spectra:
    """Current-on and current-off spectra of an energy-level Campaign on [lo, hi).

    Periods with current > 0 are summed into "on", those with 0 A into "off". SDDs and
    batches are summed unless ``sdd`` is given.
    """
    if ds.attrs.get("level") != "energy":
        msg = (
            "the classic fit needs energy-calibrated spectra; this is an ADC-level "
            "run: calibrate it first, or simulate it at energy level"
        )
        raise InputError(
            msg,
            file=run,
            field="run.level",
        )
    cur = ds["current_A"].values
    names = [str(p) for p in ds["period"].values]
    groups = {
        "on": [n for n, c in zip(names, cur, strict=True) if c > 0],
        "off": [n for n, c in zip(names, cur, strict=True) if c == 0],
    }
    for g, label in (("on", "current-on (current_A > 0)"), ("off", "current-off (0 A)")):
        if not groups[g]:
            msg = f"the run has no {label} period; the simultaneous fit needs both"
            raise InputError(
                msg,
                file=run,
                field="periods",
            )
    e = campaign_edges(ds)
    widths = np.diff(e)
    if not np.allclose(widths, widths[0]):
        msg = "non-uniform energy bins cannot be rebinned"
        raise InputError(msg, file=run, field="binning")
    w0 = float(widths[0])
    k = bin_eV / w0
    if k < 1 or abs(k - round(k)) > 1e-9:
        msg = f"{bin_eV:g} eV is not a multiple of the data's {w0:g} eV bins"
        raise InputError(msg, field="fit.bin_eV")
    if e[0] > lo + 1e-9 or e[-1] < hi - 1e-9:
        msg = f"fit range {lo:g}-{hi:g} eV is outside the data ({e[0]:g}-{e[-1]:g} eV)"
        raise InputError(
            msg,
            file=run,
            field="binning",
        )
    if sdd is not None and sdd not in ds["sdd"].values:
        msg = f"no SDD {sdd}; the run has {list(map(int, ds['sdd'].values))}"
        raise InputError(msg, field="fit.sdd")
    sel = ds["counts"] if sdd is None else ds["counts"].sel(sdd=[sdd])
    full = np.stack(
        [
            sel.sel(period=groups[g]).sum(("period", "sdd", "batch")).values.astype(float)
            for g in SPECTRA
        ]
    )
    counts, edges = rebin(full, e, lo, hi, round(k))
    live = ds["live_time_s"].isel(sdd=0)
    live_s = tuple(float(live.sel(period=groups[g]).sum()) for g in SPECTRA)
    return Spectra(edges=edges, counts=counts, periods=groups, sdd=sdd, live_s=live_s)


def rebin(
    counts: np.ndarray, edges: np.ndarray, lo: float, hi: float, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spectra ``counts`` (..., n) on ``edges`` cut to [lo, hi) and summed ``k`` bins at a time.

    The first bin starts at the first edge at or above ``lo``; a last group of fewer than
    ``k`` bins below ``hi`` is left out.
    """
    i0 = int(np.searchsorted(edges, lo - 1e-9))
    i1 = int(np.searchsorted(edges, hi - 1e-9))
    n = (i1 - i0) // k
    c = np.asarray(counts, dtype=float)[..., i0 : i0 + n * k]
    return c.reshape(*c.shape[:-1], n, k).sum(axis=-1), edges[i0 : i0 + n * k + 1 : k].astype(float)


def model_group_keys(model: SpectrumModel) -> tuple[str, ...]:
    """The names of a SpectrumModel's line groups (a group's key, or the name it was given)."""
    return tuple(g.key if isinstance(g, LineGroup) else g for g in model.groups)


@dataclass
class JointModel:
    """Binned expectation of the current-on and current-off spectra.

    Parameters
    ----------
    model : the SpectrumModel of the fitted lines, escape peaks, shelf and continuum.
    shared : names of SpectrumModel scalar parameters common to both spectra; every other
        scalar parameter and every line rate is per spectrum (``on.X``, ``off.X``).
    fixed : values of parameters held fixed (by full name: ``"fano"``, ``"on.noise"``).
    signal : the PEP line on the current-on spectrum (None for no signal term).
    signal_shape : ``"response"`` (default): the PEP X-rays get the same detector response as
        every other line (Gaussian, tail and shelf), so ``N_X`` counts all detected PEP
        X-rays, as the efficiency in the RS formula does; ``"gaussian"``: a pure Gaussian at
        the resolution, seed 000's choice, which counts only the Gaussian core.
    shift : add an energy-scale offset [eV] (``"shift"`` if in ``shared``, else ``on.shift``
        and ``off.shift``): a line of true energy E appears at E + shift. It carries the
        residual miscalibration of calibrated spectra; the PEP line moves with it.
    tied : per-spectrum intensities (line groups, ``"level"``) whose current-off value is
        the current-on one times ``exposure_ratio`` (live time off / on): one background
        rate for both spectra, as when the current is switched in time (``off.X`` is then
        not a parameter).
    """

    model: SpectrumModel
    shared: tuple[str, ...]
    fixed: dict[str, float] = field(default_factory=dict)
    signal: LineGroup | None = None
    signal_shape: str = "response"
    shift: bool = False
    tied: tuple[str, ...] = ()
    exposure_ratio: float = 1.0

    def __post_init__(self):
        """Name the parameters, check ``fixed`` and ``signal_shape``, build the signal's model."""
        names = []
        group_keys = model_group_keys(self.model)
        self.group_keys = tuple(group_keys)
        bad = set(self.tied) - {*group_keys, "level"}
        if bad or ("level" in self.shared and "level" in self.tied):
            msg = f"tied must name line groups or 'level' (not shared), not {sorted(bad)}"
            raise ValueError(msg)
        for s in SPECTRA:
            names += [f"{s}.{g}" for g in group_keys if not (s == "off" and g in self.tied)]
        for p in PARAM_NAMES:
            if p in self.shared:
                names.append(p)
            else:
                names += [f"{s}.{p}" for s in SPECTRA if not (s == "off" and p in self.tied)]
        if self.shift:
            names += ["shift"] if "shift" in self.shared else [f"{s}.shift" for s in SPECTRA]
        if self.signal is not None:
            names.append("N_X")
        self.all_names = tuple(names)
        unknown = set(self.fixed) - set(names)
        if unknown:
            msg = f"fixed parameters {sorted(unknown)} are not in the model"
            raise ValueError(msg)
        self.free_names = tuple(n for n in names if n not in self.fixed)
        if self.signal_shape not in ("response", "gaussian"):
            msg = f"signal_shape must be 'response' or 'gaussian', not {self.signal_shape!r}"
            raise ValueError(msg)
        if self.signal is not None:
            m = self.model
            self._signal_model = SpectrumModel(
                groups=(self.signal,),
                e_min=m.e_min,
                e_max=m.e_max,
                e_ref=m.e_ref,
                shelf_lo_eV=m.shelf_lo_eV,
            )

    @property
    def fixed_names(self) -> tuple[str, ...]:
        """Names of the fixed parameters, in the order of ``fixed``."""
        return tuple(self.fixed)

    def fixed_vector(self) -> np.ndarray:
        """Values of the fixed parameters, in ``fixed_names`` order."""
        return np.array([self.fixed[k] for k in self.fixed], dtype=float)

    def structure(self) -> tuple:
        """Everything but the fixed *values*: models with equal structure share compiled code."""
        return (
            self.group_keys,
            self.model.escape_groups,
            self.shared,
            self.fixed_names,
            None if self.signal is None else tuple(self.signal.energies),
            self.signal_shape,
            self.shift,
            self.tied,
            self.exposure_ratio if self.tied else None,  # a constant of the compiled code
        )

    def full(self, x, fixed_values=None) -> dict:
        """Free vector (and optionally the fixed values as an array) -> dict of every parameter."""
        d = dict(zip(self.free_names, [x[i] for i in range(len(self.free_names))], strict=True))
        fv = self.fixed_vector() if fixed_values is None else fixed_values
        fixed = {k: fv[i] for i, k in enumerate(self.fixed)}
        out = {**fixed, **d}
        for t in self.tied:
            out[f"off.{t}"] = out[f"on.{t}"] * self.exposure_ratio
        return out

    def spectrum_params(self, d: dict, s: str) -> dict:
        """SpectrumModel parameters of spectrum ``s`` ("on"/"off")."""
        p = {k: d[k] if k in self.shared else d[f"{s}.{k}"] for k in PARAM_NAMES}
        p["rates"] = jnp.stack([d[f"{s}.{g}"] for g in self.group_keys])
        return p

    def true_edges(self, edges, d: dict, s: str):
        """Bin edges on the true energy scale of spectrum ``s``."""
        if not self.shift:
            return edges
        return edges - (d["shift"] if "shift" in self.shared else d[f"{s}.shift"])

    def signal_probabilities(self, edges, d: dict):
        """Bin probabilities of one PEP X-ray in the current-on spectrum."""
        edges = self.true_edges(edges, d, "on")
        p = self.spectrum_params(d, "on")
        p = {**p, "rates": jnp.ones(1), "level": 0.0, "exp_level": 0.0, "escape_frac": 0.0}
        if self.signal_shape == "gaussian":
            p = {**p, "tail_frac": 0.0, "shelf_frac": 0.0}
        return self._signal_model.expected_counts(edges, p, 1.0)

    def expected(self, x, edges, fixed_values=None):
        """Expected counts, shape (2, n), from the free vector ``x``."""
        d = self.full(x, fixed_values)
        out = [
            self.model.expected_counts(
                self.true_edges(edges, d, s), self.spectrum_params(d, s), 1.0
            )
            for s in SPECTRA
        ]
        if self.signal is not None:
            out[0] = out[0] + d["N_X"] * self.signal_probabilities(edges, d)
        return jnp.stack(out)

    def components(self, x, edges) -> dict[str, Array]:
        """Per-component expected counts for plots: name -> (2, n). Traceable (``jax.jit``)."""
        d = self.full(x)
        comps = {}
        for i, g in enumerate(self.group_keys):
            rows = []
            for s in SPECTRA:
                p = self.spectrum_params(d, s)
                p = {
                    **p,
                    "level": 0.0,
                    "exp_level": 0.0,
                    "rates": jnp.zeros(len(self.group_keys)).at[i].set(p["rates"][i]),
                }
                rows.append(self.model.expected_counts(self.true_edges(edges, d, s), p, 1.0))
            comps[g] = jnp.stack(rows)
        rows = []
        for s in SPECTRA:
            p = {**self.spectrum_params(d, s), "rates": jnp.zeros(len(self.group_keys))}
            rows.append(self.model.expected_counts(self.true_edges(edges, d, s), p, 1.0))
        comps["continuum"] = jnp.stack(rows)
        if self.signal is not None:
            sig = d["N_X"] * self.signal_probabilities(edges, d)
            comps["PEP"] = jnp.stack([sig, jnp.zeros_like(sig)])
        return comps
