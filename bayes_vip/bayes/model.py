"""The hierarchical NumPyro model of a VIP-2 campaign: one model for both data levels.

See DESIGN.md, "Hierarchical Bayesian model".

Cells and bins
--------------
A *cell* is one spectrum: (period, SDD) at energy level, (period, SDD, batch) at ADC level.
Every cell has its own bin edges in its observed coordinate (eV, or ADC channels) over the
region of interest 7-10 keV (seed 000's step-2 range, cut at the measured file's 10 keV),
and a Poisson likelihood in every bin.

Latent variables (all sampled by NUTS; scaled so that each is of order one)
--------------------------------------------------------------------------
- resolution: ``fano`` (global), ``noise`` per (period, SDD), log-normal around
  ``noise_mu[period]`` with spread ``noise_tau`` (hierarchical, so current-on and current-off
  noise may differ; sampled half-centred through ``noise_z``, ``NOISE_CENTRING``);
- line shape: ``tail_frac``, ``tail_beta``, ``shelf_frac`` (global);
- line intensities: ``log_rate`` per (period, SDD, line) [counts/s];
- background per SDD: ``slope`` (the shape, shared by the periods) and ``log_level`` per
  (period, SDD);
- energy scale: energy level: ``offset`` [eV] and ``gain`` [eV/keV] per SDD, independent
  around zero (each SDD's lines fix its own scale; with ``CENTROID_OFFSETS`` the offset is
  sampled as ``offset_c``, that of the lines' centroids); ADC level: a correction c0 + c1 u
  + c2 u^2 (u in keV from ``E_REF``) of each SDD's mean classic calibration, with ``cal_c0``
  [eV] and ``cal_c1`` [eV/keV] per cell drifting around SDD-level means (``cal_m0``,
  ``cal_m1``; with ``CENTROID_OFFSETS``, ``cal_m0`` is sampled as ``cal_m0c``) with fixed
  drift sds, and the curvature ``cal_c2`` per SDD (the simulator's curvature is an SDD
  constant); the calibration lines below the region (Ti, Mn Ka and Kb) enter as Gaussian
  measurements of their fitted positions, so the calibration is fixed by them and by the
  lines inside the region together;
- signal: ``beta2half_1e29`` (beta^2/2 in units of 1e-29, >= 0) with a flat prior, or
  ``N_X`` with a flat prior in counts (``--prior``); the expected PEP counts of each
  current-on cell are beta^2/2 x N_new x 1/10 x N_int x efficiency x (its share of I*t);
- the PEP line's position, optionally (``--line-sd-eV``, ``BayesData.line_sd_eV``): a shift
  ``line_shift`` from the nominal energy with a Normal(0, sd) prior, sampled as
  ``line_z`` = shift / sd. Issue 15 states a +-10 eV theoretical uncertainty of the PEP
  energy; no seed paper quotes one (the data README's two published centres, Ka1 and Ka2,
  lie 17.9 eV apart), so the width is the user's choice;
- ``efficiency``: log-normal with the manifest's relative uncertainty.

Several runs (``bayes.combine``, ``BayesData.run``): one ``beta2half_1e29`` and one
``fano``; ``noise_tau``, ``tail_frac``, ``tail_beta`` and ``shelf_frac`` per run; ``noise_z``,
``log_rate`` and ``log_level`` on the (period, SDD) pairs that exist; the runs' efficiencies
``exp(log nominal + own sd x eff_z + shared sd x eff_g[group])`` (deterministic
``efficiency``); each cell's PEP counts from its own run's conversion and efficiency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints, transforms

from bayes_vip.analysis.conventions import MODEL_ROI_EV
from bayes_vip.io.config import PRIORS
from bayes_vip.physics.kernel import line_cumulative
from bayes_vip.physics.lines import LineGroup, member_arrays
from bayes_vip.physics.spectrum import E_CONT_REF_EV, linear_continuum_cumulative

__all__ = [
    "BETA_UNIT",
    "E_REF",
    "PRIOR_SCALES",
    "SLOPE_MIN_PER_KEV",
    "BayesData",
    "SignalPrior",
    "SoftplusInterval",
    "cell_energy",
    "centroid_coefficients",
    "expected_counts",
    "model_inputs",
    "signal_prior",
    "slope_floor",
    "tail_centroid_shift",
    "vip_model",
]

#: sd of the shelf-fraction prior, centred on the classic step-1 value (1-10 keV). Over
#: 7-10 keV the flat shelf below each line is nearly degenerate with the continuum: with a
#: flat U(0, 0.3) prior its posterior was 0.14 +- 0.06 and it was NUTS's slowest direction
#: (bulk ESS 43 per 300 draws, measured run). 0.02 (about 20 % of the measured 0.11) leaves
#: room for the difference between fit ranges that the classic fit ignores when it fixes it.
SHELF_PRIOR_SD = 0.02
#: Centring of the per-SDD log noise (0: non-centred, 1: centred): the sampled
#: ``noise_z ~ Normal(c mu, tau^c)`` gives ``log noise = mu + tau^(1-c) (noise_z - c mu)``,
#: which is ``Normal(mu, tau)`` for every c (Papaspiliopoulos, Roberts & Skold 2007, "A
#: general framework for the parametrization of hierarchical models", Stat. Sci. 22, 59).
#: c = 1/2 suits data that fix each value about as well as the population spread does.
NOISE_CENTRING = 0.5
#: Prior of the SDDs' log-noise spread ``noise_tau``: log-normal with median 0.1 (the
#: simulator's relative noise spread, ``simulate.presets.Preset.sdd_noise_rel_sd``) and sd of
#: log 0.7: 95 % within 0.025-0.39, P(noise_tau < 0.01) = 5e-4. Boundary-avoiding (Chung et
#: al. 2013, Psychometrika 78, 685): no two SDDs have the same noise. NUTS samples log
#: noise_tau, where this prior's left tail falls off quadratically; the Gamma(2, 10) tried
#: before falls off only linearly there (density ~ tau^2), and 1 draw in 16 000 reached
#: noise_tau = 0.001, the funnel's neck, and diverged (demo); the HalfNormal(0.2) before it
#: put mass at 0 (docs/bayes.md, "The sampler at the experiment's scale").
NOISE_TAU_PRIOR = (0.1, 0.7)
#: Sample each SDD's energy offset as the offset of its lines' centroids: the low-energy
#: tail moves a line's centroid down by about ``tail_frac * tail_beta * sigma`` (the
#: exponential's mean, ``tail_beta`` sigmas, times its weight), so with the peak offsets
#: sampled, every SDD's offset follows that product (correlation 0.87 with logit tail_frac on
#: the measured run, a curved ridge that no linear whitening removes). The sampled
#: ``offset_c`` (``cal_m0c`` at ADC level) is the offset minus ``tail_frac * tail_beta *
#: sigma_ref``: a shift by a function of other latents, Jacobian 1, so the model is the same.
#: Off by default: it suits a short tail (measured run, tail_beta ~0.6), but where the tail
#: is long (the demo's tail_beta ~4) the data fix the peaks, and a quick-coverage demo toy
#: diverged 6 times with it (docs/bayes.md, "Centroid offsets").
CENTROID_OFFSETS = False
#: Sample the signal (``beta2half_1e29`` or ``N_X``) through ``SoftplusInterval`` instead of
#: numpyro's logit map of its flat prior: the same model, in coordinates where a posterior
#: piled at zero has no exponentially stiffening upper tail. On the measured run it raises
#: the ESS of beta^2/2 per draw about 1.7 times (median gradients per effective draw 50 ->
#: 27 over seven seeds), but 2 of those 7 runs had 1-2 divergences (none in 7 runs with the
#: logit map), which fail the gates; so it is off by default (docs/bayes.md, "The signal's
#: coordinate").
SIGNAL_SOFTPLUS = False


def centroid_coefficients(value, n_sdd: int) -> np.ndarray | None:
    """Each SDD's coefficient of the tail's centroid shift, from a ``centroid_offsets`` value.

    False or None: peak offsets (None); True: the whole shift (ones); an array of ``n_sdd``
    coefficients ``a``: the sampled offset is the offset minus ``a * tail_frac * tail_beta *
    sigma_ref`` (``sampling.centroid_slopes`` takes them from the Laplace approximation). Every
    value gives the same model.
    """
    if value is None or value is False:
        return None
    if value is True:
        return np.ones(n_sdd)
    a = np.asarray(value, dtype=float)
    if a.shape != (n_sdd,) or not np.all(np.isfinite(a)):
        msg = f"centroid_offsets must be a bool or {n_sdd} finite coefficients, not {value!r}"
        raise ValueError(msg)
    return a


#: Reference energy of the gain corrections [eV] (Cu Ka).
E_REF = 8000.0
#: The lowest continuum slope [1/keV] whose continuum ``level (1 + slope (E - e_ref)/1 keV)``
#: (``physics.spectrum``, ``e_ref`` = 7 keV) stays positive over the model's region: -1/3
#: for 7-10 keV. The external prior set's slope prior (``data.SLOPE_PRIOR_SD``: 0.5 around
#: zero) is truncated there: a Normal would put 25 % of each SDD's prior below it, where the
#: expected counts at the top of the region are negative and the model is not defined (5 of
#: the first 12 external-prior SBC simulations failed there; docs/bayes.md, priors table).
SLOPE_MIN_PER_KEV = -1000.0 / (MODEL_ROI_EV[1] - E_CONT_REF_EV)
#: Unit of the sampled beta^2/2.
BETA_UNIT = 1e-29


def slope_floor(data: BayesData) -> float | None:
    """The continuum slope prior's lower bound [1/keV]; None where it is an untruncated Normal.

    ``SLOPE_MIN_PER_KEV`` under the external prior set, whose slope prior is truncated there.
    """
    return SLOPE_MIN_PER_KEV if data.prior.get("set") == "external" else None


#: Scales of the energy-scale priors [eV, eV/keV for gains, eV/keV^2 for curvatures]
#: (docs/bayes.md, table). ADC level: the corrections are relative to each SDD's mean classic
#: calibration (``BayesData.p_ref``); ``cal_m0``/``cal_m1``/``cal_c2`` (per SDD) are wide, as
#: that mean's error is; the batch-to-batch drift sds are those the simulator assumes
#: (``simulate.presets.Preset``: 5 eV on the offset, 2.5e-3 relative on the gain, i.e.
#: 2.5 eV/keV per keV from ``E_REF``; the gain drift also moves the energy at ``E_REF`` by
#: 8 eV per eV/keV, which the model carries as a correlation).
PRIOR_SCALES = {
    "offset": 30.0,
    "gain": 5.0,
    "cal_m0": 20.0,
    "cal_m1": 5.0,
    "cal_c2": 5.0,
    "cal_drift0": 5.0,
    "cal_drift1": 2.5,
}


@dataclass
class BayesData:
    """Everything the model needs, as numpy arrays (its numbers: ``model_inputs``)."""

    level: str  # "energy" or "adc"
    edges: np.ndarray  # (n_cell, n_bin + 1), observed coordinate (eV or ADC)
    counts: np.ndarray  # (n_cell, n_bin)
    mask: np.ndarray  # (n_cell, n_bin) bool: bins in the likelihood
    live_s: np.ndarray  # (n_cell,)
    period: np.ndarray  # (n_cell,) period index
    sdd: np.ndarray  # (n_cell,) SDD index
    batch: np.ndarray  # (n_cell,) batch index (0 at energy level)
    period_names: list[str]
    sdd_ids: list[int]
    current_A: np.ndarray  # (n_period,)
    groups: tuple[str, ...]  # line groups in the ROI
    signal: LineGroup
    counts_per_beta2half: float  # expected N_X for beta^2/2 = 1 at the nominal efficiency
    efficiency: float
    efficiency_rel: float
    n_int_model: str
    bin_eV: float  # nominal bin width [eV] (ADC level: at Cu Ka)
    p_std: np.ndarray | None = None  # (n_cell, 3) classic calibration (ADC level)
    # ADC level: the model's reference calibration of each cell (its SDD's mean classic
    # constants) and the calibration lines outside the region, as data: their fitted ADC
    # positions and errors (n_cell, K), energies (K,), and which are usable (n_cell, K)
    p_ref: np.ndarray | None = None
    line_adc: np.ndarray | None = None
    line_adc_err: np.ndarray | None = None
    line_eV: np.ndarray | None = None
    line_ok: np.ndarray | None = None
    init: dict = field(default_factory=dict)  # constrained initial values
    # the centres (and the slope's width) of the nuisance priors, and the set they come from
    # (``bayes.data.prior_centres``): noise_p (n_period,), fano, tail_beta, shelf_frac,
    # rate (n_period, n_sdd, n_group), level (n_period, n_sdd), slope, slope_sd, set
    prior: dict = field(default_factory=dict)
    # sd [eV] of the Normal prior on the PEP line's position (the site ``line_z``, and
    # ``line_shift`` = sd x line_z); 0: the line sits at its nominal energy (no site)
    line_sd_eV: float = 0.0
    # several runs analysed together (``bayes.combine.combine_data``): each cell's run, the
    # runs' names, and their layout (``bayes.combine``: the periods' and SDDs' runs, the
    # (period, SDD) pairs that exist, each cell's pair and PEP counts per unit beta^2/2, the
    # runs' conversion factors and efficiencies); None for one run
    run: np.ndarray | None = None
    run_names: list[str] = field(default_factory=list)
    runs: dict = field(default_factory=dict)
    # one background for every current (``sample.background = "shared"``): each cell's
    # drift block on the run clock (``sample.drift_days`` long), whose common background
    # factor follows a random walk; None: each period its own rates and levels
    drift_block: np.ndarray | None = None

    @property
    def n_drift(self) -> int:
        """Number of drift blocks of a shared background (0: separate backgrounds)."""
        return 0 if self.drift_block is None else int(np.max(self.drift_block)) + 1

    @property
    def n_period(self) -> int:
        """Number of periods."""
        return len(self.period_names)

    @property
    def n_sdd(self) -> int:
        """Number of SDDs."""
        return len(self.sdd_ids)

    @property
    def n_run(self) -> int:
        """Number of runs analysed together (1: one run)."""
        return 1 if self.run is None else len(self.run_names)

    @property
    def n_cell(self) -> int:
        """Number of cells (spectra)."""
        return self.counts.shape[0]

    @property
    def signal_share(self) -> np.ndarray:
        """Each cell's share of the current-on I*t (sums to 1 over the cells).

        Several runs: each cell's share of the PEP counts at beta^2/2 = 1 and the runs'
        nominal efficiencies (their conversion factors differ).
        """
        if self.run is not None:
            k = np.asarray(self.runs["signal_k"], float)
            return k / k.sum()
        it = self.current_A[self.period] * self.live_s
        return it / it.sum()


def cell_energy(p_ref, c0, c1, c2, adc):
    """Energy [eV] of ADC values under the model's calibration of a cell.

    The calibration is the cell's reference calibration plus the correction
    c0 + c1 u + c2 u^2, u = (E_ref - E_REF)/1000 [keV].

    Broadcasts: ``p_ref`` (..., 3); c0, c1, c2 (...); ``adc`` (..., n).
    """
    e = p_ref[..., 0:1] + p_ref[..., 1:2] * adc + p_ref[..., 2:3] * adc * adc
    u = (e - E_REF) / 1000.0
    return e + c0[..., None] + c1[..., None] * u + c2[..., None] * u * u


def model_inputs(data: BayesData, upper: float, centroid_offsets=None) -> dict:
    """Every number of the model that comes from the run, as float64 arrays.

    The model reads them from this dict (``vip_model``'s ``inputs``), which the compiled log
    density, its gradient and the chains' kernels take as a traced argument: runs and toys of
    one layout (the same cells, bins, line groups and sites) share one compiled program, in
    this process and through JAX's persistent compilation cache, where the numbers differ.
    What stays a constant of the program is the layout: the cell indices, the mask of the
    observed bins, the lines, and which calibration lines are usable (ADC level).

    ``upper``: the signal prior's bound; ``centroid_offsets``: the coefficients of the tail's
    centroid shift (``centroid_coefficients``; zeros for peak offsets, where it is unused).
    """
    pri, S = data.prior, data.n_sdd
    alpha = centroid_coefficients(centroid_offsets, S)
    out = {
        "counts": data.counts,
        "edges": data.edges,
        "live_s": data.live_s,
        "signal_share": data.signal_share,
        "counts_per_beta2half": data.counts_per_beta2half,
        "efficiency": data.efficiency,
        "efficiency_rel": data.efficiency_rel,
        "upper": upper,
        "sigma_ref": data.init.get("sigma_ref", 0.0),
        "alpha": np.zeros(S) if alpha is None else alpha,
        "prior_fano": pri["fano"],
        "prior_noise_p": pri["noise_p"],
        "prior_tail_beta": pri["tail_beta"],
        "prior_shelf_frac": pri["shelf_frac"],
        "prior_rate": pri["rate"],
        "prior_level": pri["level"],
        "prior_slope": np.full(S, pri["slope"]),
        "prior_slope_sd": pri["slope_sd"],
        "line_sd": data.line_sd_eV,
    }
    if data.run is not None:  # several runs (bayes.combine)
        r = data.runs
        out.update(
            signal_k=r["signal_k"],
            eff_own=r["eff_own"],
            eff_shared=r["eff_shared"],
        )
    if data.level == "adc":
        out["p_ref"] = data.p_ref
        if data.line_ok is not None and np.any(data.line_ok):
            ok = np.asarray(data.line_ok)
            out["line_adc"] = np.nan_to_num(data.line_adc)
            out["line_adc_err"] = np.nan_to_num(data.line_adc_err, nan=1.0)
            out["line_eV"] = np.broadcast_to(data.line_eV, ok.shape)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def true_edges(data: BayesData, edges, cell_scale: dict, p_ref=None):
    """Bin edges (n_cell, n_bin+1) on the true energy scale.

    ``p_ref``: the cells' reference calibrations at the ADC level (default ``data.p_ref``).
    """
    if data.level == "energy":
        off, gain = cell_scale["offset"], cell_scale["gain"]
        # observed E' = E + off + gain (E - E_REF)/1000  ->  E
        return E_REF + (edges - off[:, None] - E_REF) / (1.0 + gain[:, None] / 1000.0)
    p_ref = jnp.asarray(data.p_ref if p_ref is None else p_ref)
    return cell_energy(p_ref, cell_scale["c0"], cell_scale["c1"], cell_scale["c2"], edges)


def expected_counts(data: BayesData, s: dict, n_x, *, cells=None, inputs=None):
    """Expected counts (n_cell, n_bin) given the site values ``s`` and total PEP counts.

    ``cells``: a ``jax.sharding.Sharding`` of arrays whose first axis is the cell axis; the
    cells' line responses are then computed where their shard lives (None: not sharded).
    ``inputs``: the run's numbers (``model_inputs``; default: ``data``'s, as constants).
    """

    def on_cells(x):
        return x if cells is None else jax.lax.with_sharding_constraint(x, cells)

    x = inputs
    if x is None:
        x = {"edges": data.edges, "live_s": data.live_s, "signal_share": data.signal_share}
    ip, js = data.period, data.sdd
    multi = data.run is not None
    edges = on_cells(true_edges(data, jnp.asarray(x["edges"]), s, x.get("p_ref")))
    en, w = member_arrays(data.groups)
    en_s, w_s = member_arrays((data.signal,))
    # the PEP line moved by line_shift from its nominal energy (BayesData.line_sd_eV): its
    # response at E is the nominal line's at E - line_shift (the resolution at the line and
    # the shelf's length change by < 1e-3 over +-50 eV, and are kept at the nominal energy)
    shift = s.get("line_shift", 0.0)
    if multi:  # (period, SDD) sites live on the pairs that exist; the shape is per run
        pair, run = data.runs["cell_pair"], data.run
        rates = jnp.exp(s["log_rate"])[pair]  # (n_cell, G)
        level = jnp.exp(s["log_level"])[pair]
        noise = s["noise"][pair]
        shapes = tuple(s[k][run] for k in ("tail_frac", "tail_beta", "shelf_frac"))
    else:
        rates = jnp.exp(s["log_rate"])[ip, js]  # (n_cell, G)
        level = jnp.exp(s["log_level"])[ip, js]
        noise = s["noise"][ip, js]
    if "bg_scale" in s:  # a shared background's drift: one factor per cell
        rates = rates * s["bg_scale"][:, None]
        level = level * s["bg_scale"]
    slope = s["slope"][js]
    live = jnp.asarray(x["live_s"])
    # n_x: the total PEP counts (shared by the cells by signal_share) or, for several runs,
    # each cell's own (their efficiencies differ)
    n_cell_sig = n_x if jnp.ndim(n_x) == 1 else n_x * jnp.asarray(x["signal_share"])

    def counts_of(e, r, lv, sl, nz, t, nsig, shape):
        # the region (7-10 keV) lies > 20 sigma above the shelf's start (1 keV)
        lines = line_cumulative(e, en, w, nz, *shape, shelf_start_far=True)  # (n + 1, G)
        sig = line_cumulative(e - shift, en_s, w_s, nz, *shape, shelf_start_far=True)[:, 0]
        cum = t * (lines @ r + linear_continuum_cumulative(e, lv, sl)) + nsig * sig
        return cum[1:] - cum[:-1]

    if multi:

        def one_run_shape(e, r, lv, sl, nz, t, nsig, tf, tb, sf):
            return counts_of(e, r, lv, sl, nz, t, nsig, (s["fano"], tf, tb, sf))

        args = (edges, rates, level, slope, noise, live, n_cell_sig, *shapes)
        return on_cells(jax.vmap(one_run_shape)(*args))

    def one(e, r, lv, sl, nz, t, nsig):
        shape = (s["fano"], s["tail_frac"], s["tail_beta"], s["shelf_frac"])
        return counts_of(e, r, lv, sl, nz, t, nsig, shape)

    return on_cells(jax.vmap(one)(edges, rates, level, slope, noise, live, n_cell_sig))


def tail_centroid_shift(data: BayesData, tail_frac, tail_beta, x: dict):
    """The tail's shift of the line centroids [eV]: ``tail_frac * tail_beta * sigma_ref``.

    One value for one run; per SDD (its run's tail and resolution) for several runs.
    ``x``: the model's inputs (``sigma_ref``).
    """
    if data.run is None:
        return tail_frac * tail_beta * x["sigma_ref"]
    r = data.runs["sdd_run"]
    return tail_frac[r] * tail_beta[r] * x["sigma_ref"]


def _sdd_offsets(name: str, centroid_name: str, scale: float, n_sdd: int, tail_shift):
    """Per-SDD offsets [eV], ``Normal(0, scale)`` each: the site ``name``.

    With ``tail_shift`` (``CENTROID_OFFSETS``) the sampled site is ``centroid_name``, the
    offsets minus ``tail_shift``, and ``name`` is deterministic: the same density.
    """
    if tail_shift is None:
        return numpyro.sample(name, dist.Normal(jnp.zeros(n_sdd), scale).to_event(1))
    loc = jnp.broadcast_to(-tail_shift, (n_sdd,))
    c = numpyro.sample(centroid_name, dist.Normal(loc, scale).to_event(1))
    return numpyro.deterministic(name, c + tail_shift)


class _SignalInterval(constraints._Interval):
    """The signal's support ``[0, upper]``, mapped to the real line by ``SoftplusInterval``.

    A constraint of its own type only so that ``biject_to`` picks the softplus map for the
    signal site; ``scale`` (in the signal's units) is where that map bends.
    """

    def __init__(self, upper, scale: float):
        super().__init__(0.0, upper)
        self.scale = scale

    def tree_flatten(self):
        return (self.upper_bound,), (("upper_bound",), {"scale": self.scale})

    @classmethod
    def tree_unflatten(cls, aux, params):
        return cls(params[0], aux[1]["scale"])


class SoftplusInterval(transforms.Transform):
    """``y -> b = U (1 - exp(-t / U))`` with ``t = c softplus(y / c)``: the real line onto (0, U).

    The unconstrained coordinate of the signal (``SIGNAL_SOFTPLUS``). For ``b << U`` it is
    ``b = c softplus(y / c)``: linear (``b ~ y``) above the bend ``c`` and exponential
    (``b ~ c exp(y / c)``) below it. The logit map that numpyro gives a ``Uniform`` is
    ``y ~ log b`` for ``b << U``, where a posterior that is piled at zero with width ``s``
    has a potential ``-y + exp(2y) / (2 s^2)``: its curvature ``2 b^2 / s^2`` grows
    exponentially into the upper tail (18 at 3 sd), the tail that the limits probe. With the
    softplus it stays about ``1 / s^2``. A change of coordinates only: the prior is the same
    uniform, and the Jacobian is ``log|db/dy| = log sigmoid(y / c) - t / U``.
    """

    domain = constraints.real

    def __init__(self, upper, scale: float):
        self.upper, self.scale = upper, scale

    @property
    def codomain(self):
        """The signal's interval."""
        return _SignalInterval(self.upper, self.scale)

    def __call__(self, y):
        """The signal ``b`` at the unconstrained ``y``."""
        t = self.scale * jax.nn.softplus(y / self.scale)
        return -self.upper * jnp.expm1(-t / self.upper)

    def _inverse(self, b):
        """The unconstrained ``y`` of the signal ``b``."""
        t = -self.upper * jnp.log1p(-b / self.upper)
        # softplus^-1(x) = x + log(1 - exp(-x)), stable for small and large x
        return t + self.scale * jnp.log(-jnp.expm1(-t / self.scale))

    def log_abs_det_jacobian(self, y, b, intermediates=None):
        """``log |db/dy|``."""
        t = self.scale * jax.nn.softplus(y / self.scale)
        return jax.nn.log_sigmoid(y / self.scale) - t / self.upper

    def tree_flatten(self):
        """Pytree leaves (the upper bound) and static data (the bend)."""
        return (self.upper,), (("upper",), {"scale": self.scale})

    @classmethod
    def tree_unflatten(cls, aux, params):
        """Rebuild from ``tree_flatten``'s parts."""
        return cls(params[0], aux[1]["scale"])


@transforms.biject_to.register(_SignalInterval)
def _signal_bijection(constraint):
    return SoftplusInterval(constraint.upper_bound, constraint.scale)


class SignalPrior(dist.Uniform):
    """The signal's flat prior on ``[0, upper]``, sampled through ``SoftplusInterval``.

    The same density as ``Uniform(0, upper)``; only its unconstrained coordinate differs.
    """

    def __init__(self, upper, scale: float, *, validate_args=None):
        self.scale = float(scale)
        super().__init__(0.0, upper, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        """``[0, upper]``, of the type that ``biject_to`` maps with the softplus."""
        return _SignalInterval(self.high, self.scale)

    def tree_flatten(self):
        """Pytree leaves (the upper bound) and static data (the bend)."""
        return (self.high,), {"scale": self.scale}

    @classmethod
    def tree_unflatten(cls, aux, params):
        """Rebuild from ``tree_flatten``'s parts."""
        return cls(params[0], aux["scale"])


def signal_prior(data: BayesData, prior: str, upper: float, bound=None):
    """The signal site's prior: flat on ``[0, upper]``, in the coordinate that suits it.

    ``SIGNAL_SOFTPLUS``: the softplus map bent at the classic fit's uncertainty of the signal
    (``init["sigma_N_X"]``, in counts or beta^2/2 units; a 20th of ``upper`` without it);
    otherwise numpyro's ``Uniform`` (logit map). ``bound``: the bound itself where ``upper``
    is traced (default ``upper``).
    """
    bound = upper if bound is None else bound
    if not SIGNAL_SOFTPLUS:
        return dist.Uniform(0.0, bound)
    sd = float(data.init.get("sigma_N_X", float("nan")))
    if prior == "flat-beta":
        sd = sd / (data.counts_per_beta2half * BETA_UNIT)
    scale = sd if np.isfinite(sd) and sd > 0 else float(upper) / 20.0
    return SignalPrior(bound, scale)


#: Scale of the half-normal prior on the background's drift per block (a relative change):
#: a drift of 10 % per block is within one scale; the data of a run fix it far better.
DRIFT_SD_SCALE = 0.1


def _background_walk(data: BayesData):
    """The shared background's factor per drift block: exp of a centred random walk."""
    k = data.n_drift
    if k < 2:
        return jnp.ones(max(k, 1))
    sd = numpyro.sample("drift_sd", dist.HalfNormal(DRIFT_SD_SCALE))
    z = numpyro.sample("drift_z", dist.Normal(jnp.zeros(k - 1), 1.0).to_event(1))
    walk = jnp.concatenate([jnp.zeros(1), jnp.cumsum(sd * z)])
    return numpyro.deterministic("background_drift", jnp.exp(walk - jnp.mean(walk)))


def vip_model(
    data: BayesData,
    prior: str = "flat-beta",
    upper: float = 50.0,
    observe=True,
    counts=None,
    *,
    inputs=None,
    cells=None,
    noise_centring: float = NOISE_CENTRING,
    centroid_offsets: bool = CENTROID_OFFSETS,
):
    """The NumPyro model.

    ``upper``: the signal prior's upper bound, in units of 1e-29 (flat-beta) or in counts
    (flat-counts). ``counts``: observed counts (n_cell, n_bin) instead of ``data.counts``.
    ``inputs``: every number the model takes from the run (``model_inputs``), as a traced
    argument, so that runs and toys of one layout share the compiled model; it replaces
    ``data``'s numbers, ``upper`` and the centroid coefficients (default: built from them,
    as constants). ``cells``: a sharding
    of the cell axis over devices (``expected_counts``). ``noise_centring``: how the per-SDD
    log noise is sampled (``NOISE_CENTRING``; the same model for every value).
    ``centroid_offsets``: sample the SDD offsets of the line centroids (``CENTROID_OFFSETS``;
    True, or per-SDD coefficients of the shift, ``centroid_coefficients``; the same model
    for every value).
    """
    sc = PRIOR_SCALES
    x = model_inputs(data, upper, centroid_offsets) if inputs is None else inputs
    x = {k: jnp.asarray(v) for k, v in x.items()}
    if counts is not None:
        x["counts"] = jnp.asarray(counts)
    P, S = data.n_period, data.n_sdd
    fano = numpyro.sample("fano", dist.TruncatedNormal(x["prior_fano"], 0.03, low=0.05, high=0.30))
    noise_mu = numpyro.sample("noise_mu", dist.Normal(jnp.log(x["prior_noise_p"]), 0.3).to_event(1))
    # log noise ~ Normal(noise_mu, noise_tau), sampled half-centred (NOISE_CENTRING): the
    # data fix each SDD's log noise only to 0.1-0.3 (the Fano term dominates the width at
    # 8 keV), about the spread itself, where both the centred form (a funnel: R-hat 1.107)
    # and the non-centred one (96 divergences) failed (docs/bayes.md, "The sampler at the
    # experiment's scale"); the density of log noise is the same in every form
    tau_median, tau_log_sd = NOISE_TAU_PRIOR
    c = noise_centring
    multi = data.run is not None
    if multi:
        # several runs (bayes.combine): each run's detectors have their own noise spread and
        # line shape; the (period, SDD) sites exist only on the pairs of one run
        runs = data.runs
        R, pp = data.n_run, runs["pair_period"]
        noise_tau = numpyro.sample(
            "noise_tau", dist.LogNormal(jnp.full(R, jnp.log(tau_median)), tau_log_sd).to_event(1)
        )
        mu_b, tau_b = noise_mu[pp], noise_tau[runs["period_run"][pp]]
        noise_z = numpyro.sample("noise_z", dist.Normal(c * mu_b, tau_b**c).to_event(1))
        log_noise = mu_b + tau_b ** (1 - c) * (noise_z - c * mu_b)
        shape_event, rate_event = 1, 2
        tail_frac = numpyro.sample("tail_frac", dist.Uniform(jnp.zeros(R), 0.5).to_event(1))
    else:
        noise_tau = numpyro.sample("noise_tau", dist.LogNormal(jnp.log(tau_median), tau_log_sd))
        mu_b = jnp.broadcast_to(noise_mu[:, None], (P, S))
        noise_z = numpyro.sample("noise_z", dist.Normal(c * mu_b, noise_tau**c).to_event(2))
        log_noise = mu_b + noise_tau ** (1 - c) * (noise_z - c * mu_b)
        shape_event, rate_event = 0, 3
        tail_frac = numpyro.sample("tail_frac", dist.Uniform(0.0, 0.5))
    noise = numpyro.deterministic("noise", jnp.exp(log_noise))
    tail_beta = numpyro.sample(
        "tail_beta",
        dist.LogNormal(jnp.log(x["prior_tail_beta"]), 0.5).to_event(shape_event),
    )
    shelf_frac = numpyro.sample(
        "shelf_frac",
        dist.TruncatedNormal(x["prior_shelf_frac"], SHELF_PRIOR_SD, low=0.0, high=0.3).to_event(
            shape_event
        ),
    )
    drift = None
    if data.drift_block is not None:
        # one background for every current (the current-off counts under the PEP line
        # measure the current-on background), per SDD, times a common factor that drifts
        # on the run clock: a Gaussian random walk over the drift blocks, centred so that
        # the rates are the run's average (sampled standardised)
        log_rate = numpyro.sample(
            "log_rate", dist.Normal(jnp.log(jnp.mean(x["prior_rate"], 0)), 1.0).to_event(2)
        )
        log_level = numpyro.sample(
            "log_level", dist.Normal(jnp.log(jnp.mean(x["prior_level"], 0)), 1.0).to_event(1)
        )
        log_rate = jnp.broadcast_to(log_rate, (P, *log_rate.shape))
        log_level = jnp.broadcast_to(log_level, (P, *log_level.shape))
        drift = _background_walk(data)
    else:
        log_rate = numpyro.sample(
            "log_rate", dist.Normal(jnp.log(x["prior_rate"]), 1.0).to_event(rate_event)
        )
        log_level = numpyro.sample(
            "log_level", dist.Normal(jnp.log(x["prior_level"]), 1.0).to_event(rate_event - 1)
        )
    floor = slope_floor(data)
    if floor is None:  # the classic slope +- 0.1: far from the bound (docs/bayes.md)
        slope_prior = dist.Normal(x["prior_slope"], x["prior_slope_sd"])
    else:  # a positive continuum
        slope_prior = dist.TruncatedNormal(x["prior_slope"], x["prior_slope_sd"], low=floor)
    slope = numpyro.sample("slope", slope_prior.to_event(1))
    s = {
        "fano": fano,
        "noise": noise,
        "tail_frac": tail_frac,
        "tail_beta": tail_beta,
        "shelf_frac": shelf_frac,
        "log_rate": log_rate,
        "log_level": log_level,
        "slope": slope,
    }
    if drift is not None:
        s["bg_scale"] = drift[np.asarray(data.drift_block)]
    if data.line_sd_eV > 0:
        # the PEP line's position: Normal(nominal, sd), sampled standardised (where the data
        # say nothing of it, N_X ~ 0, its posterior is its prior at unit scale)
        z = numpyro.sample("line_z", dist.Normal(0.0, 1.0))
        s["line_shift"] = numpyro.deterministic("line_shift", x["line_sd"] * z)
    # the tail's shift of the line centroids [eV] (CENTROID_OFFSETS; None: peak offsets)
    # (which offsets are sampled is the layout's; the coefficients are an input)
    centroid = centroid_coefficients(centroid_offsets, S) is not None
    tail_shift = (
        x["alpha"] * tail_centroid_shift(data, tail_frac, tail_beta, x) if centroid else None
    )
    if data.level == "energy":
        # calibrated spectra: each SDD's scale is fixed by its own lines to ~1 eV, so the
        # corrections are independent around zero (no hyper-parameters: their funnel, with
        # SDD offsets that agree, stalled NUTS; docs/bayes.md, "Parametrisation")
        offset = _sdd_offsets("offset", "offset_c", sc["offset"], S, tail_shift)
        gain = numpyro.sample("gain", dist.Normal(jnp.zeros(S), sc["gain"]).to_event(1))
        s["offset"], s["gain"] = offset[data.sdd], gain[data.sdd]
    else:
        # per-cell calibration = the SDD's reference + a correction c0 + c1 u + c2 u^2: the
        # SDD-level parts (cal_m0, cal_m1, curvature cal_c2) wide, the batch drift around them
        # with fixed sds (a learned drift scale made a funnel with 2-3 batches per SDD); a
        # gain drift moves the energy at E_REF too (c0 follows c1 with E_REF/1000 keV)
        m0 = _sdd_offsets("cal_m0", "cal_m0c", sc["cal_m0"], S, tail_shift)
        m1 = numpyro.sample("cal_m1", dist.Normal(jnp.zeros(S), sc["cal_m1"]).to_event(1))
        c2 = numpyro.sample("cal_c2", dist.Normal(jnp.zeros(S), sc["cal_c2"]).to_event(1))
        c1 = numpyro.sample("cal_c1", dist.Normal(m1[data.sdd], sc["cal_drift1"]).to_event(1))
        lever = (E_REF - x["p_ref"][:, 0]) / 1000.0
        c0 = numpyro.sample(
            "cal_c0",
            dist.Normal(m0[data.sdd] + lever * (c1 - m1[data.sdd]), sc["cal_drift0"]).to_event(1),
        )
        s["c0"], s["c1"], s["c2"] = c0, c1, c2[data.sdd]
        if data.line_ok is not None and np.any(data.line_ok):
            # the calibration lines below the region (Ti, Mn: disjoint from its counts) as
            # Gaussian measurements of their positions (seed 002 eq. 1's weighted fit)
            pr, a = x["p_ref"], x["line_adc"]
            e_pred = cell_energy(pr, c0, c1, s["c2"], a)
            slope = pr[:, 1:2] + 2.0 * pr[:, 2:3] * a
            ok = np.asarray(data.line_ok)
            sd = (slope * x["line_adc_err"])[ok]
            numpyro.sample("cal_lines", dist.Normal(e_pred[ok], sd), obs=x["line_eV"][ok])
    if multi:
        # the runs' log efficiencies: each its own part and, per group of runs whose
        # efficiencies share a systematic (the manifests' efficiency.group), a common part
        # (bayes.combine.efficiency_layout), sampled standardised
        runs = data.runs
        z = numpyro.sample("eff_z", dist.Normal(jnp.zeros(data.n_run), 1.0).to_event(1))
        log_eff = jnp.log(x["efficiency"]) + x["eff_own"] * z
        if runs["n_group"]:
            g = numpyro.sample("eff_g", dist.Normal(jnp.zeros(runs["n_group"]), 1.0).to_event(1))
            grp = np.asarray(runs["eff_group"])
            log_eff = log_eff + x["eff_shared"] * jnp.where(grp >= 0, g[np.maximum(grp, 0)], 0.0)
        eff = numpyro.deterministic("efficiency", jnp.exp(log_eff))
        if prior != "flat-beta":
            msg = "several runs are combined in beta^2/2: the prior must be flat-beta"
            raise ValueError(msg)
        b = numpyro.sample("beta2half_1e29", signal_prior(data, prior, upper, x["upper"]))
        k_cell = x["signal_k"] * BETA_UNIT * (eff / x["efficiency"])[data.run]
        n_cell = b * k_cell  # each cell's PEP counts
        numpyro.deterministic("N_X", jnp.sum(n_cell))
        mu = expected_counts(data, s, n_cell, cells=cells, inputs=x)
        mask = np.asarray(data.mask)
        numpyro.sample("obs", dist.Poisson(mu[mask]), obs=x["counts"][mask] if observe else None)
        return
    eff = numpyro.sample(
        "efficiency", dist.LogNormal(jnp.log(x["efficiency"]), x["efficiency_rel"])
    )
    k = x["counts_per_beta2half"] * BETA_UNIT * eff / x["efficiency"]  # counts per unit b
    if prior == "flat-beta":
        b = numpyro.sample("beta2half_1e29", signal_prior(data, prior, upper, x["upper"]))
        n_x = numpyro.deterministic("N_X", b * k)
    elif prior == "flat-counts":
        n_x = numpyro.sample("N_X", signal_prior(data, prior, upper, x["upper"]))
        numpyro.deterministic("beta2half_1e29", n_x / k)
    else:
        msg = f"prior must be one of {PRIORS}, not {prior!r}"
        raise ValueError(msg)
    mu = expected_counts(data, s, n_x, cells=cells, inputs=x)
    mask = np.asarray(data.mask)
    numpyro.sample("obs", dist.Poisson(mu[mask]), obs=x["counts"][mask] if observe else None)
