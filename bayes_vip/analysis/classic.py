"""The classic frequentist analysis of seed 000 sec. 3.

A two-step simultaneous fit of the current-on and current-off spectra with MINUIT, N_X, and
the Ramberg-Snow limit.

Step 1 (3.5-11 keV, clipped to the data): the Ti and Mn lines fix the Fano factor and the
noise; shapes (tail, escape, shelf, continuum slope) are shared, intensities and continuum
levels are per spectrum. The noise is fitted per spectrum and also shared; the per-spectrum
noise is kept when it lowers the statistic by more than 9 (3 sigma for one parameter).

Step 2 (7-11 keV): Fano factor from step 1, noise from step 1 or refitted per spectrum when
the data ask for it (likelihood ratio at 3 sigma); a shared energy-scale shift; tail and
continuum slope shared; line intensities and continuum levels per spectrum; the current-on
spectrum has a PEP line of ``N_X`` counts (free sign, as in the seed's N_X = 54 +- 67) whose
width follows the resolution. Choices and their reasons: docs/classic.md.

Statistics: ``"poisson"`` (the default) is the Baker-Cousins likelihood ratio
2 sum(mu - n + n ln(n/mu)), exact for any count including 0. ``"chi2"`` is Neyman's
chi-square, sum (n - mu)^2 / n, as ROOT/MINUIT fits with Gaussian errors (seed 000's
choice); an empty bin gets variance 1 instead of being dropped. On spectra of a few counts
per bin Neyman's weights, the observed counts, make N_X spread more than its quoted sigma,
and its limits under-cover (docs/validation.md, "Coverage"). Both are on the chi-square
scale (errordef 1).

Outputs: N_X +- sigma (Hesse), the seed's 3-sigma upper limit 3 sigma(N_X), profile-likelihood
and CLs upper limits on N_X >= 0 at 90, 95 and 99.7 % CL with their expected bands
(asymptotic, ``analysis.asymptotic``), the FWHM at Cu Ka1 per spectrum, fit
quality of both steps, and beta^2/2 through ``physics.conversion``. An invalid minimum is
never reported as a result: it raises ``AnalysisError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from iminuit import Minuit
from scipy import stats

from bayes_vip.analysis.asymptotic import frequentist_limits
from bayes_vip.analysis.conventions import BELOW_GROUPS, CLS, ROI_GROUPS, STEP1_GROUPS
from bayes_vip.analysis.spectral import SPECTRA, JointModel, Spectra, model_group_keys
from bayes_vip.errors import AnalysisError, InputError
from bayes_vip.io.config import BACKGROUNDS
from bayes_vip.physics import response
from bayes_vip.physics.lines import LineGroup, line_group
from bayes_vip.physics.spectrum import ESCAPE_GROUPS, SpectrumModel

__all__ = [
    "BACKGROUNDS",
    "ClassicResult",
    "FitResult",
    "Freedoms",
    "Step1",
    "Step2",
    "check_signal_range",
    "cost_function",
    "fit_lines_below",
    "fit_step1",
    "fit_step2",
    "fit_two_step",
]


#: Continuum support of the fit models: wider than any fit range plus energy shift, so that
#: the clip at the support's ends never meets a bin edge (a kink there stalls MIGRAD).
_FIT_SUPPORT = {"e_min": 500.0, "e_max": 20000.0}

_SHAPE_START = {
    "fano": 0.15,
    "tail_frac": 0.08,
    "tail_beta": 4.0,
    "escape_frac": 0.012,
    "shelf_frac": 0.07,
    "slope": -0.02,
    "noise": 40.0,
}
_LIMITS = {
    "noise": (1.0, 300.0),
    "fano": (0.01, 1.0),
    "tail_frac": (0.0, 0.6),
    "tail_beta": (0.05, 30.0),
    "escape_frac": (0.0, 0.2),
    "shelf_frac": (0.0, 0.5),
    "slope": (-1.0, 1.0),
    "level": (0.0, None),
}


def cost_function(statistic: str):
    """The fit statistic as a function of (expected, observed), chi-square scale."""
    if statistic == "chi2":
        return lambda mu, n: jnp.sum((n - mu) ** 2 / jnp.maximum(n, 1.0))
    if statistic == "poisson":

        def dev(mu, n):
            mu = jnp.maximum(mu, 1e-300)
            # n ln(n/mu) -> 0 for n = 0; the safe n keeps the *gradient* of the unselected
            # branch finite too (jnp.where differentiates both branches)
            n_safe = jnp.where(n > 0, n, 1.0)
            return 2.0 * jnp.sum(mu - n + jnp.where(n > 0, n * jnp.log(n_safe / mu), 0.0))

        return dev
    msg = f"unknown statistic {statistic!r}; choose chi2 or poisson"
    raise InputError(msg, field="fit.statistic")


@dataclass
class FitResult:
    """One MINUIT fit and its quality."""

    names: tuple[str, ...]
    values: dict[str, float]
    errors: dict[str, float]
    covariance: np.ndarray
    fval: float
    n_bins: int
    n_free: int
    is_valid: bool
    has_accurate_covar: bool
    at_limit: list[str]
    x: np.ndarray
    fixed: dict[str, float]
    range_eV: tuple[float, float]
    fixed_at_limit: list[str] = field(default_factory=list)

    @property
    def ndf(self) -> int:
        """Degrees of freedom of the fit: bins minus free parameters."""
        return self.n_bins - self.n_free

    def quality(self) -> dict:
        """The fit's quality as a dict: validity, limits, statistic, ndf and range [eV]."""
        return {
            "is_valid": self.is_valid,
            "has_accurate_covar": self.has_accurate_covar,
            "parameters_at_limit": self.at_limit,
            "fixed_at_limit": self.fixed_at_limit,
            "statistic": self.fval,
            "ndf": self.ndf,
            "chi2_ndf": self.fval / self.ndf,
            "range_eV": list(self.range_eV),
        }

    def to_dict(self) -> dict:
        """The fit as a dict: its ``quality()`` with the values, errors and fixed values."""
        return {**self.quality(), "values": self.values, "errors": self.errors, "fixed": self.fixed}


_COMPILED: dict[tuple, tuple] = {}


def _compiled(jm: JointModel, edges: np.ndarray, statistic: str):
    """Jitted statistic, gradient and expected counts of ``jm`` on ``edges``.

    ``f(x, counts, fixed_values)``, its gradient in ``x``, and ``expected(x, fixed_values)``.
    Shared by all JointModels of the same structure on the same bins (toys and profile scans
    compile once).
    """
    key = (jm.structure(), edges.tobytes(), statistic)
    if key not in _COMPILED:
        stat = cost_function(statistic)
        e = jnp.asarray(edges)

        def f(x, counts, fixed_values):
            return stat(jm.expected(x, e, fixed_values), counts)

        def expected(x, fixed_values):
            return jm.expected(x, e, fixed_values)

        _COMPILED[key] = (jax.jit(f), jax.jit(jax.grad(f)), jax.jit(expected))
    return _COMPILED[key]


class _Fitter:
    """A JointModel on fixed bins with its compiled statistic and gradient."""

    def __init__(self, jm: JointModel, spectra: Spectra, statistic: str):
        self.jm, self.spectra = jm, spectra
        self.counts = jnp.asarray(spectra.counts)
        self.fixed_values = jnp.asarray(jm.fixed_vector())
        f, g, ex = _compiled(jm, np.asarray(spectra.edges, dtype=float), statistic)
        fv = self.fixed_values
        self.f = lambda x, c: f(x, c, fv)
        self.g = lambda x, c: g(x, c, fv)
        self.expected = lambda x: ex(x, fv)

    def minuit(self, start: dict, counts=None) -> Minuit:
        c = self.counts if counts is None else counts
        names = self.jm.free_names
        m = Minuit(
            lambda x: float(self.f(jnp.asarray(x), c)),
            [start[n] for n in names],
            grad=lambda x: np.asarray(self.g(jnp.asarray(x), c)),
            name=names,
        )
        m.errordef = Minuit.LEAST_SQUARES
        m.strategy = 1
        for n in names:
            base = n.split(".", 1)[-1]
            if base in ("N_X", "shift"):
                continue
            if base in _LIMITS:
                m.limits[n] = _LIMITS[base]
            elif base not in ("slope",):  # line rates
                m.limits[n] = (0.0, None)
        return m

    def run(self, start: dict, counts=None) -> tuple[Minuit, FitResult]:
        m = self.minuit(start, counts)
        m.migrad(ncall=100000)
        if not m.valid:
            m.migrad(ncall=100000)  # one restart from where it stopped
        if m.valid:
            m.hesse()
        fixed_at_limit = []
        if not m.valid:
            # a weak line pinned at its zero bound makes the minimum "invalid" (in MIGRAD or
            # in HESSE, whose second derivatives cross the bound): fix the parameters that
            # sit at a bound and refit; this is reported in the fit quality
            fixed_at_limit = [p.name for p in m.params if _at_limit(p)]
            for name in fixed_at_limit:
                m.fixed[name] = True
            if fixed_at_limit:
                m.migrad(ncall=100000)
                m.hesse()
        if not m.valid:  # last resort: MINUIT's most careful strategy
            m.strategy = 2
            m.migrad(ncall=100000)
            m.hesse()
        near = {
            p.name: b
            for p in m.params
            if not p.is_fixed and (b := _bound_near(p, NEAR_LIMIT_SIGMA)) is not None
        }
        if m.valid and near:
            # a valid minimum with a line a small fraction of its error above its zero bound:
            # HESSE's second derivatives cross the bound (MINUIT's internal arcsine map), and
            # the covariance can come out "accurate" and wrong (every line's error 2 counts
            # instead of 20-40 in one coverage toy of the demo, docs/validation.md). Fix such
            # a line at its bound, where the minimum is to a small fraction of a sigma
            for name, bound in near.items():
                m.values[name] = bound
                m.fixed[name] = True
            m.migrad(ncall=100000)
            m.hesse()
            fixed_at_limit += list(near)
        names = self.jm.free_names
        at_limit = [p.name for p in m.params if _at_limit(p)]
        res = FitResult(
            names=names,
            values=dict(zip(names, map(float, m.values), strict=True)),
            errors=dict(zip(names, map(float, m.errors), strict=True)),
            covariance=np.array(m.covariance),
            fval=float(m.fval),
            n_bins=int(self.counts.size),
            n_free=len(names) - len(fixed_at_limit),
            is_valid=bool(m.valid),
            has_accurate_covar=bool(m.fmin.has_accurate_covar),
            at_limit=at_limit,
            x=np.array(m.values),
            fixed=dict(self.jm.fixed),
            fixed_at_limit=fixed_at_limit,
            range_eV=(float(self.spectra.edges[0]), float(self.spectra.edges[-1])),
        )
        return m, res


#: A free parameter closer than this fraction of its error to a bound is fixed there
#: (``_Fitter.run``): its HESSE error is not to be trusted.
NEAR_LIMIT_SIGMA = 0.1


def _bound_near(p, sigmas: float) -> float | None:
    """The bound that parameter ``p`` lies within ``sigmas`` of its error (or 1e-9) of."""
    tol = max(sigmas * p.error, 1e-9)
    if p.has_lower_limit and p.value - p.lower_limit < tol:
        return float(p.lower_limit)
    if p.has_upper_limit and p.upper_limit - p.value < tol:
        return float(p.upper_limit)
    return None


def _at_limit(p) -> bool:
    """A parameter within 1e-3 of its error (or 1e-9 absolute) of a limit."""
    return _bound_near(p, 1e-3) is not None


def _line_window(spectra: Spectra, group: LineGroup, half_width: float = 150.0) -> np.ndarray:
    c = spectra.centres
    m = np.abs(c - group.centroid_eV) < half_width
    w = np.diff(spectra.edges)
    level = _continuum_level(spectra)
    return np.maximum(spectra.counts[:, m].sum(axis=1) - level * w[m].sum(), 1.0) * 1.15


def _continuum_level(spectra: Spectra) -> np.ndarray:
    """Counts per eV in the line-free 9.2-9.8 keV window (or the top of the range)."""
    c = spectra.centres
    m = (c > 9200) & (c < 9800)
    if m.sum() < 3:
        m = c > c[-1] - 500
    w = np.diff(spectra.edges)[m].sum()
    return np.maximum(spectra.counts[:, m].sum(axis=1) / w, 1e-3)


def _start(jm: JointModel, spectra: Spectra, shapes: dict) -> dict:
    level = _continuum_level(spectra)
    start = {}
    for name in jm.free_names:
        s, _, base = name.rpartition(".")
        j = SPECTRA.index(s) if s else None
        if base in jm.group_keys:
            start[name] = float(_line_window(spectra, line_group(base))[j])
        elif base == "level":  # one spectrum's, or the mean of both where it is shared
            start[name] = float(level[j] if j is not None else level.mean())
        elif base in ("N_X", "shift"):
            start[name] = 0.0
        else:
            start[name] = float(shapes[base])
    return start


def _check(res: FitResult, step: str) -> None:
    if not res.is_valid:
        msg = (
            f"{step}: MINUIT did not find a valid minimum "
            f"(statistic {res.fval:.1f}, parameters at limits: {res.at_limit})"
        )
        raise AnalysisError(msg)


@dataclass
class ClassicResult:
    """The classic two-step analysis (``fit_two_step``): both fits, N_X, limits and decisions.

    ``fwhm_cu_ka`` maps each spectrum to the FWHM at Cu Ka1 and its error [eV]; ``decisions``
    holds the likelihood-ratio tests (``_decide``) that chose the models.
    """

    step1: FitResult
    step2: FitResult
    statistic: str
    signal: LineGroup
    n_x: float
    sigma_n_x: float
    profile_limits: dict[str, float]
    fwhm_cu_ka: dict[str, tuple[float, float]]
    decisions: dict[str, dict]
    jm1: JointModel = field(repr=False)
    jm2: JointModel = field(repr=False)
    #: CLs upper limits on N_X (asymptotic, q~_mu; ``analysis.asymptotic``) per level
    cls_limits: dict[str, float] = field(default_factory=dict)
    #: the expected limits of background-only data, asymptotically (Asimov):
    #: ``{"cls"|"profile": {level: {band: N}}, "sigma_A": ...}``
    expected_limits: dict = field(default_factory=dict)

    @property
    def ul_3sigma(self) -> float:
        """The seed's 3-sigma upper bound, 3 sigma(N_X) (seed 000 eq. 3: 3 x 67 = 201)."""
        return 3.0 * self.sigma_n_x


def _fwhm(res: FitResult, s: str, energy: float) -> tuple[float, float]:
    """FWHM at ``energy`` of spectrum s and its error from the fit's covariance."""
    names = list(res.names)
    vals = {**res.fixed, **res.values}
    nk = f"{s}.noise" if f"{s}.noise" in vals else "noise"
    v = jnp.array([vals[nk], vals["fano"]])

    def fw(v):
        return response.fwhm_at(energy, v[0], v[1])

    g = np.asarray(jax.grad(fw)(v))
    idx = [names.index(k) if k in names else None for k in (nk, "fano")]
    cov = np.zeros((2, 2))
    for a, ia in enumerate(idx):
        for b, ib in enumerate(idx):
            if ia is not None and ib is not None:
                cov[a, b] = res.covariance[ia, ib]
    return float(fw(v)), float(np.sqrt(g @ cov @ g))


def _decide(simple: FitResult, richer: FitResult, what: str) -> dict:
    """Choose between a simpler and a richer fit by a likelihood-ratio test at 3 sigma.

    The richer model is kept when it lowers the statistic beyond the 3-sigma point
    (p < 0.0027) of chi2 with as many degrees of freedom as it adds parameters.

    If one of the two fits has no valid minimum, the other is kept and the reason recorded.
    A richer fit that ends with a free parameter at its limit, or without an accurate
    covariance, is not chosen either: its errors (sigma(N_X) above all) would not be
    trustworthy. Parameters that the fit fixed at their bound and refitted without
    (``FitResult.fixed_at_limit``) do not count: the errors are those of the refit.
    """
    dof = richer.n_free - simple.n_free
    delta = simple.fval - richer.fval
    threshold = float(stats.chi2.isf(0.0027, max(dof, 1)))
    out = {
        "what": what,
        "delta_statistic": float(delta),
        "added_parameters": dof,
        "threshold": threshold,
        "chosen": bool(delta > threshold),
    }
    free_at_limit = [n for n in richer.at_limit if n not in richer.fixed_at_limit]
    if out["chosen"] and richer.is_valid and (free_at_limit or not richer.has_accurate_covar):
        out["chosen"] = False
        out["note"] = (
            "the richer model would be chosen, but its fit has "
            + (f"{free_at_limit} at their limits" if free_at_limit else "")
            + (" and " if free_at_limit and not richer.has_accurate_covar else "")
            + ("no accurate covariance" if not richer.has_accurate_covar else "")
            + ": kept the simpler one"
        )
    if not richer.is_valid or not simple.is_valid:
        out["chosen"] = bool(richer.is_valid)
        out["note"] = (
            "the richer model's fit had no valid minimum"
            if not richer.is_valid
            else "the simpler model's fit had no valid minimum"
        )
    return out


@dataclass(frozen=True)
class Freedoms:
    """Which freedoms the step-2 model has (the sensitivity decomposition, docs/classic.md).

    ``noise`` and ``tail``: ``None`` lets the data decide (a likelihood-ratio test at 3 sigma,
    ``_decide``: the default), ``True`` always refits them (the noise per spectrum; the tail
    fraction and slope), ``False`` keeps step 1's values. ``shift``: a shared energy-scale
    shift is fitted (else there is none). ``shared_background``: one continuum level for both
    spectra (equal live times) instead of one each. ``signal_shape``: ``"response"`` or
    ``"gaussian"`` (``JointModel``). ``background``: ``"separate"`` (default): each spectrum
    its own line intensities and continuum level, so N_X rests on the line's shape in the
    current-on spectrum alone; ``"shared"``: one background rate for both, the current-off
    spectrum's intensities and level being the current-on ones times the live-time ratio
    (``JointModel.tied``), so the current-off counts under the PEP line measure its
    background too. ``"shared"`` holds where the background does not change between the
    periods: a current switched in time (``[schedule]``), or a stable detector
    (docs/modulation.md). The fit range is that of the step-2 spectra.
    """

    signal_shape: str = "response"
    noise: bool | None = None
    tail: bool | None = None
    shift: bool = True
    shared_background: bool = False
    background: str = "separate"


@dataclass
class Step1:
    """Step 1 of the two-step fit: the chosen fit, its model, its decision and its values."""

    result: FitResult
    jm: JointModel
    decision: dict
    values: dict[str, float]  # free and fixed

    @property
    def noise(self) -> dict[str, float]:
        """The noise of each spectrum [eV] (the shared one for both if it is shared)."""
        v = self.values
        return {s: v.get(f"{s}.noise", v.get("noise")) for s in SPECTRA}


def fit_step1(spectra1: Spectra, statistic: str = "poisson") -> Step1:
    """Step 1 (3.5-11 keV): resolution, tail and shelf from the strong lines.

    The noise is fitted per spectrum and shared; the split is kept when it lowers the
    statistic beyond 3 sigma (``_decide``).
    """
    fixed_exp = {f"{s}.exp_level": 0.0 for s in SPECTRA}  # 1-keV exponential: nil above 3.5 keV
    m1 = SpectrumModel(groups=STEP1_GROUPS, escape_groups=ESCAPE_GROUPS, **_FIT_SUPPORT)
    shared = ("fano", "tail_frac", "tail_beta", "escape_frac", "shelf_frac", "slope", "exp_len")
    fixed1 = {**fixed_exp, "exp_len": 200.0}
    jm_split = JointModel(m1, shared=shared, fixed=fixed1)
    _, r_split = _Fitter(jm_split, spectra1, statistic).run(
        _start(jm_split, spectra1, _SHAPE_START)
    )
    jm_same = JointModel(m1, shared=(*shared, "noise"), fixed=fixed1)
    start = {
        **{k: v for k, v in r_split.values.items() if not k.endswith("noise")},
        "noise": 0.5 * (r_split.values["on.noise"] + r_split.values["off.noise"]),
    }
    _, r_same = _Fitter(jm_same, spectra1, statistic).run(start)
    d1 = _decide(r_same, r_split, "step 1: separate noise for current on and off")
    r1, jm1 = (r_split, jm_split) if d1["chosen"] else (r_same, jm_same)
    _check(r1, "step 1")
    return Step1(result=r1, jm=jm1, decision=d1, values={**r1.fixed, **r1.values})


@dataclass
class Step2:
    """Step 2's chosen fit, its model and fitter, and its decisions."""

    result: FitResult
    jm: JointModel
    fitter: _Fitter
    decisions: dict[str, dict]

    @property
    def noise_refitted(self) -> bool:
        """Whether the noise was refitted per spectrum (else it is step 1's)."""
        return not any(k.endswith("noise") for k in self.jm.fixed)


def check_signal_range(signal: LineGroup, spectra2: Spectra) -> None:
    """An ``InputError`` where no energy of ``signal`` lies in the step-2 spectra."""
    lo2, hi2 = spectra2.edges[0], spectra2.edges[-1]
    if not any(lo2 <= e <= hi2 for e in signal.energies):
        msg = (
            f"signal energy {signal.energies.tolist()} eV is outside the step-2 fit "
            f"range {lo2:g}-{hi2:g} eV"
        )
        raise InputError(msg, field="signal")


def fit_step2(
    step1: Step1,
    spectra2: Spectra,
    *,
    signal: LineGroup,
    statistic: str = "poisson",
    roi_groups=ROI_GROUPS,
    freedoms: Freedoms | None = None,
) -> Step2:
    """Step 2 on ``spectra2`` with the PEP line, from ``step1``'s resolution and tail.

    With the default ``freedoms``, the noise is refitted per spectrum (Fano factor kept) and
    then the tail fraction and slope refitted, each only when the data ask for it
    (likelihood ratio at 3 sigma). A shared energy-scale shift is fitted (the measured Cu Ka
    sits about 25 eV above 8047.8 eV).
    """
    check_signal_range(signal, spectra2)
    fr = Freedoms() if freedoms is None else freedoms
    v1 = step1.values
    m2 = SpectrumModel(groups=tuple(roi_groups), escape_groups=(), **_FIT_SUPPORT)
    shared2 = (
        "fano",
        "tail_frac",
        "tail_beta",
        "escape_frac",
        "shelf_frac",
        "slope",
        "exp_len",
        "shift",
        *(("level",) if fr.shared_background else ()),
    )
    shapes = {
        **_SHAPE_START,
        "tail_frac": v1["tail_frac"],
        "tail_beta": v1["tail_beta"],
        "slope": v1["slope"],
    }
    noise1 = {f"{s}.noise": n for s, n in step1.noise.items()}
    fixed_tail = {"tail_frac": v1["tail_frac"], "tail_beta": v1["tail_beta"]}
    base_fixed = {
        "fano": v1["fano"],
        "shelf_frac": v1["shelf_frac"],
        "escape_frac": 0.0,
        "exp_len": 200.0,
        **{f"{s}.exp_level": 0.0 for s in SPECTRA},
    }

    if fr.background not in BACKGROUNDS:
        msg = f"background must be one of {BACKGROUNDS}, not {fr.background!r}"
        raise ValueError(msg)
    tie: dict = {}
    if fr.background == "shared":
        if spectra2.live_s is None:
            msg = "a shared background needs the spectra's live times"
            raise ValueError(msg)
        tied = (*model_group_keys(m2), "level")
        tie = {"tied": tied, "exposure_ratio": spectra2.exposure_ratio}

    def step2(fixed: dict, label: str, start_from: Step2 | None, required: bool = False):
        jm = JointModel(
            m2,
            shared=shared2,
            fixed=fixed,
            signal=signal,
            shift=fr.shift,
            signal_shape=fr.signal_shape,
            **tie,
        )
        fitter = _Fitter(jm, spectra2, statistic)
        st = _start(jm, spectra2, shapes)
        st.update({k: v for k, v in noise1.items() if k in st})
        if start_from is not None:
            st.update({k: v for k, v in start_from.result.values.items() if k in st})
        _, r = fitter.run(st)
        if required:
            _check(r, f"step 2 ({label})")
        return Step2(result=r, jm=jm, fitter=fitter, decisions={})

    def choose(cur: Step2, fixed: dict, label: str, what: str, key: str, free: bool | None):
        if free is False:
            return cur, {}
        nxt = step2(fixed, label, cur, required=free is True)
        d = _decide(cur.result, nxt.result, what)
        if free is True:
            d = {**d, "chosen": True, "note": "imposed (Freedoms)"}
        return (nxt if d["chosen"] else cur), {key: d}

    first_fixed = {**base_fixed, **noise1, **fixed_tail}
    if fr.noise is True:
        first_fixed = {**base_fixed, **fixed_tail}
    cur = step2(first_fixed, "resolution and tail from step 1", None, required=True)
    decisions: dict[str, dict] = {}
    if fr.noise is not True:
        cur, d = choose(
            cur,
            {**base_fixed, **fixed_tail},
            "noise refitted",
            "step 2: noise refitted per spectrum (Fano from step 1)",
            "noise_refit_step2",
            fr.noise,
        )
        decisions |= d
    tail_fixed = {**base_fixed} if cur.noise_refitted else {**base_fixed, **noise1}
    cur, d = choose(
        cur,
        tail_fixed,
        "tail refitted",
        "step 2: tail fraction and slope refitted",
        "tail_refit_step2",
        fr.tail,
    )
    decisions |= d
    _check(cur.result, "step 2")
    cur.decisions = decisions
    return cur


def fit_two_step(
    spectra1: Spectra,
    spectra2: Spectra,
    *,
    signal: LineGroup,
    statistic: str = "poisson",
    roi_groups=ROI_GROUPS,
    cls=CLS,
    profile: bool = True,
    signal_shape: str = "response",
    freedoms: Freedoms | None = None,
    background: str = "separate",
) -> ClassicResult:
    """Run step 1 on ``spectra1`` (3.5-11 keV) and step 2 on ``spectra2`` (7-11 keV).

    Decisions taken from the data, each by a likelihood-ratio test at 3 sigma and recorded
    in ``ClassicResult.decisions``: (1) separate noise for current on and off in step 1;
    in step 2, starting from the step-1 resolution and tail, (2) the noise refitted per
    spectrum (Fano factor kept), then (3) the tail fraction and slope refitted
    (``fit_step1``, ``fit_step2``). ``freedoms`` (default: ``Freedoms(signal_shape)``)
    changes step 2's model; ``background`` is ``Freedoms.background``.
    """
    if freedoms is not None and freedoms.signal_shape != signal_shape:
        msg = (
            f"signal_shape {signal_shape!r} and freedoms.signal_shape "
            f"{freedoms.signal_shape!r} disagree; give the shape in freedoms"
        )
        raise ValueError(msg)
    if freedoms is None:
        fr = Freedoms(signal_shape=signal_shape, background=background)
    else:
        fr = freedoms
    check_signal_range(signal, spectra2)  # before the long step 1
    s1 = fit_step1(spectra1, statistic)
    s2 = fit_step2(
        s1, spectra2, signal=signal, statistic=statistic, roi_groups=roi_groups, freedoms=fr
    )
    r1, r2 = s1.result, s2.result
    n_x, s_x = r2.values["N_X"], r2.errors["N_X"]
    freq = (
        frequentist_limits(_ClassicProfile(s2.fitter, r2), s2.fitter.counts, cls) if profile else {}
    )
    cu = line_group("Cu Ka").lines[0].energy_eV
    fwhm = {s: _fwhm(r2 if s2.noise_refitted else r1, s, cu) for s in SPECTRA}
    return ClassicResult(
        step1=r1,
        step2=r2,
        statistic=statistic,
        signal=signal,
        n_x=n_x,
        sigma_n_x=s_x,
        profile_limits=freq.get("profile", {}),
        fwhm_cu_ka=fwhm,
        decisions={"noise_split_step1": s1.decision, **s2.decisions},
        jm1=s1.jm,
        jm2=s2.jm,
        cls_limits=freq.get("cls", {}),
        expected_limits={k: freq[k] for k in ("expected", "sigma_A") if k in freq},
    )


def fit_lines_below(spectra: Spectra, *, fano: float, statistic: str = "poisson") -> FitResult:
    """The detector response from the calibration lines below the model's region.

    A simultaneous fit of the current-on and current-off ``spectra`` (``BELOW_RANGE_EV``:
    Ti and Mn K lines and their Si escape peaks over a linear continuum) with the Fano factor
    fixed at ``fano``: the noise per spectrum, the tail and the shelf, from counts that the
    hierarchical model does not see (the ``external`` prior set, ``bayes.data``). The shelf
    of the lines above the range is flat there and goes into the continuum.
    """
    m = SpectrumModel(groups=BELOW_GROUPS, escape_groups=ESCAPE_GROUPS, **_FIT_SUPPORT)
    shared = ("fano", "tail_frac", "tail_beta", "escape_frac", "shelf_frac", "slope", "exp_len")
    fixed = {**{f"{s}.exp_level": 0.0 for s in SPECTRA}, "exp_len": 200.0, "fano": fano}
    jm = JointModel(m, shared=shared, fixed=fixed)
    _, res = _Fitter(jm, spectra, statistic).run(_start(jm, spectra, _SHAPE_START))
    _check(res, "the fit of the lines below the region")
    return res


class _ClassicProfile:
    """Step 2's fit as an ``asymptotic.Profile`` in N_X: the CLs limits and expected bands.

    Every fit starts from the best fit's values, with the parameters that the best fit fixed
    at a bound fixed there too. (Starting from the nearest N_X fitted before cost more
    function calls on the demo, 8718 against 6471, and was dropped.)
    """

    def __init__(self, fitter: _Fitter, best: FitResult):
        self.fitter, self.start = fitter, dict(best.values)
        self.fixed = list(best.fixed_at_limit)
        self.scale = float(best.errors["N_X"])
        self.observed = fitter.counts
        self._best = (float(best.values["N_X"]), float(best.fval))
        #: the fits to the observed data at fixed N_X: the Asimov data and q~ both need the
        #: one at N_X = 0 (and the scan's q0 too)
        self._observed_fits: dict[float, Minuit] = {}

    def _fit(self, data, n: float | None) -> Minuit:
        if data is self.observed and n is not None:
            if n not in self._observed_fits:
                self._observed_fits[n] = self._minimise(data, n)
            return self._observed_fits[n]
        return self._minimise(data, n)

    def _minimise(self, data, n: float | None) -> Minuit:
        m = self.fitter.minuit(self.start if n is None else {**self.start, "N_X": n}, data)
        for name in self.fixed if n is None else ("N_X", *self.fixed):
            m.fixed[name] = True
        m.migrad(ncall=100000)
        if not m.valid:  # as _Fitter.run: once more from there, then MINUIT's careful strategy
            m.migrad(ncall=100000)
        if not m.valid:
            m.strategy = 2
            m.migrad(ncall=100000)
        if not m.valid:
            what = "N_X free" if n is None else f"N_X = {n:.4g}"
            msg = f"profile scan: no valid minimum at {what}"
            raise AnalysisError(msg)
        return m

    def best(self, data) -> tuple[float, float]:
        """``(N_X hat, S)``: the step-2 fit itself on the observed data."""
        if data is self.observed:
            return self._best
        m = self._fit(data, None)
        return float(m.values["N_X"]), float(m.fval)

    def deviance(self, mu: float, data) -> float:
        """The statistic at N_X = ``mu`` minimised over every other parameter."""
        return float(self._fit(data, float(mu)).fval)

    def asimov(self, mu: float):
        """The expected counts at N_X = ``mu``, the rest fitted to the observed data there."""
        m = self._fit(self.observed, float(mu))
        return self.fitter.expected(jnp.asarray(np.array(m.values)))
