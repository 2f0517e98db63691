"""Conduction-electron transport in the Cu target: seed 001 (Entropy 2018, 20, 515).

Free-electron quantities of copper (eqs. 5, 7-13), the 1D diffusion-transport model
(eqs. 14-23), the reservoir model (eqs. 24-27) and the "close encounters" of section 3, which
replace the Ramberg-Snow count of interactions D/mu. SI units throughout unless a name says
otherwise. Every function is NumPy/SciPy in float64; the Monte-Carlo cross-check lives in
the tests (JAX).

Where the seed's printed numbers do not follow from its own formulas and inputs, the formula
is implemented as written and ``docs/transport.md`` shows which input reproduces the seed.
In particular ``Copper.fermi_velocity_factor`` (3/4 in eq. 8) can be set to 1 to get the
seed's mean free path of 39 nm.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, special

from bayes_vip.errors import InputError
from bayes_vip.physics.constants import E_CHARGE, EV, H_PLANCK, HBAR, K_B, M_E

__all__ = [
    "EXPERIMENTS",
    "Copper",
    "Target",
    "capture_ratio",
    "close_encounter_distance",
    "close_encounter_time",
    "close_encounters",
    "collision_time",
    "diffusion_constant",
    "drift_coefficient",
    "drift_velocity",
    "electron_density",
    "electron_wavelength",
    "eq22_integral",
    "experiment",
    "fermi_velocity",
    "inputs_dict",
    "mean_free_path",
    "p_x_given_t",
    "prob_in_target",
    "reservoir_density",
    "reservoir_target_integral",
    "rms_distance",
    "scatterings",
    "scatterings_infinite",
    "summary",
    "traversal_time",
    "xray_rate",
    "xray_total",
]


def _pos(name: str, v: float, *, allow_zero: bool = False) -> float:
    if (
        not (isinstance(v, int | float) and math.isfinite(v))
        or v < 0
        or (v == 0 and not allow_zero)
    ):
        msg = f"must be a finite number {'>=' if allow_zero else '>'} 0, got {v!r}"
        raise InputError(msg, field=name)
    return float(v)


@dataclass(frozen=True)
class Copper:
    """Copper's free-electron inputs (seed 001 sec. 2.1)."""

    fermi_energy_eV: float = 7.0  # "the Fermi energy of copper is 7 eV"
    conductivity_S_m: float = 5.9e7  # "sigma ~ 5.9e7 Ohm^-1 m^-1"
    temperature_K: float = 300.0  # "at room temperature (300 K)"
    ka_width_eV: float = 2.73  # Gamma of the Ka complex (sec. 3, ref. [7])
    fermi_velocity_factor: float = 0.75  # eq. 8: 3/4 from averaging over the Fermi sphere


@dataclass(frozen=True)
class Target:
    """Strip geometry (seed 001 table 1): length L, thickness z, width w [m]; current [A]."""

    name: str
    length_m: float
    thickness_m: float
    width_m: float
    current_A: float

    @property
    def cross_section_m2(self) -> float:
        """Cross-section z w of the strip [m^2]."""
        return self.thickness_m * self.width_m

    def validated(self) -> Target:
        """The target itself, once its dimensions are checked (> 0, current >= 0)."""
        _pos("length", self.length_m)
        _pos("thickness", self.thickness_m)
        _pos("width", self.width_m)
        _pos("current_A", self.current_A, allow_zero=True)
        return self


#: Seed 001 table 1 and sec. 2.1: VIP (40 A) and VIP-2 (100 A).
EXPERIMENTS: dict[str, Target] = {
    "vip": Target("VIP", 0.088, 50e-6, 0.28274, 40.0),
    "vip2": Target("VIP-2", 0.071, 50e-6, 0.020, 100.0),
}


def experiment(name: str, **overrides: Any) -> Target:
    """Preset ``vip`` or ``vip2`` with any field overridden (``current_A=...``)."""
    if name not in EXPERIMENTS:
        msg = f"unknown experiment {name!r}; choose from {sorted(EXPERIMENTS)}"
        raise InputError(
            msg,
            field="transport.experiment",
        )
    return replace(EXPERIMENTS[name], **overrides).validated()


# ------------------------------------------------------------------ free electrons (sec. 2.1)
def electron_density(cu: Copper = Copper()) -> float:
    """Electron density n = 8 sqrt(2) pi m^(3/2) / h^3 * (2/3) E_F^(3/2)  [m^-3] (eq. 7)."""
    ef = _pos("fermi_energy_eV", cu.fermi_energy_eV) * EV
    return 8.0 * math.sqrt(2.0) * math.pi * M_E**1.5 / H_PLANCK**3 * (2.0 / 3.0) * ef**1.5


def fermi_velocity(cu: Copper = Copper()) -> float:
    """v_F = (3/4) sqrt(2 E_F / m)  [m/s] (eq. 8; the factor is ``fermi_velocity_factor``)."""
    return cu.fermi_velocity_factor * math.sqrt(2.0 * cu.fermi_energy_eV * EV / M_E)


def mean_free_path(cu: Copper = Copper()) -> float:
    """Mean free path mu = m v_F sigma / (n e^2)  [m] (eq. 9)."""
    return M_E * fermi_velocity(cu) * cu.conductivity_S_m / (electron_density(cu) * E_CHARGE**2)


def collision_time(cu: Copper = Copper()) -> float:
    """Collision time tau = mu / v_F = m sigma / (n e^2)  [s] (eq. 10)."""
    return M_E * cu.conductivity_S_m / (electron_density(cu) * E_CHARGE**2)


def drift_coefficient(t: Target, cu: Copper = Copper()) -> float:
    """v_d / I = 1 / (n e z w)  [m/C] (eq. 11)."""
    return 1.0 / (electron_density(cu) * E_CHARGE * t.validated().cross_section_m2)


def drift_velocity(t: Target, cu: Copper = Copper()) -> float:
    """v_d = I / (n e A)  [m/s] (eqs. 5, 11)."""
    return t.current_A * drift_coefficient(t, cu)


def traversal_time(t: Target, cu: Copper = Copper()) -> float:
    """Delta t_T = n e z w L / I  [s] (eq. 12); infinite without current."""
    if t.validated().current_A == 0:
        return math.inf
    return t.length_m / drift_velocity(t, cu)


def diffusion_constant(cu: Copper = Copper()) -> float:
    """Einstein relation D = sigma k_B T / (n e^2)  [m^2/s] (eq. 13)."""
    return cu.conductivity_S_m * K_B * cu.temperature_K / (electron_density(cu) * E_CHARGE**2)


def rms_distance(t: Target, cu: Copper = Copper()) -> float:
    """r_RMS = sqrt(D Delta t_T)  [m] (sec. 2.1)."""
    return math.sqrt(diffusion_constant(cu) * traversal_time(t, cu))


# ------------------------------------------------------------------ 1D model (sec. 2.2)
def p_x_given_t(x: ArrayLike, t: ArrayLike, v_d: float, D: float) -> NDArray[np.float64]:
    """Green's function of drift-diffusion, eq. 14 [1/m]; ``t`` > 0."""
    x, t = np.asarray(x, float), np.asarray(t, float)
    return np.exp(-((x - v_d * t) ** 2) / (2 * D * t)) / np.sqrt(2 * np.pi * D * t)


def prob_in_target(t: ArrayLike, L: float, v_d: float, D: float) -> NDArray[np.float64]:
    """P(t) = 1/2 [erf((L - v_d t)/sqrt(2Dt)) - erf(-v_d t/sqrt(2Dt))] (eq. 18)."""
    t = np.asarray(t, float)
    s = np.sqrt(2 * D * t)
    return 0.5 * (special.erf((L - v_d * t) / s) - special.erf(-v_d * t / s))


def scatterings(dt_M: float, t: Target, cu: Copper = Copper()) -> float:
    """S(dt_M, I) = (1/tau) int_0^dt_M P(t) dt (eq. 19), by adaptive quadrature."""
    _pos("measurement time", dt_M, allow_zero=True)
    L, v, D = t.length_m, drift_velocity(t, cu), diffusion_constant(cu)
    # P(t) = 1 until the electron can leave, then falls around L/v: split there
    pts = [p for p in (L / v if v > 0 else None, L**2 / D) if p and p < dt_M]
    val, _ = integrate.quad(
        lambda s: prob_in_target(s, L, v, D), 0.0, dt_M, points=pts or None, limit=500
    )
    return val / collision_time(cu)


def scatterings_infinite(t: Target, cu: Copper = Copper()) -> float:
    """S_inf = L / (v_d tau) = Delta t_T / tau (eq. 23)."""
    return traversal_time(t, cu) / collision_time(cu)


def eq22_integral(D: float) -> float:
    """int_0^inf dt int_0^1 N(x; t, D t) dx in dimensionless units (eq. 22): equals 1."""
    return integrate.quad(lambda s: prob_in_target(s, 1.0, 1.0, D), 0.0, np.inf, limit=500)[0]


# ------------------------------------------------------------------ reservoir (eqs. 24-27)
def reservoir_density(
    x: ArrayLike, t: ArrayLike, x_min: float, x_max: float, v_d: float, D: float
) -> NDArray[np.float64]:
    """Single-electron pdf with a uniform start in [x_min, x_max] (eq. 24) [1/m]."""
    x, t = np.asarray(x, float), np.asarray(t, float)
    s = np.sqrt(2 * D * t)
    return (special.erf((x - x_min - v_d * t) / s) - special.erf((x - x_max - v_d * t) / s)) / (
        2.0 * (x_max - x_min)
    )


def _int_erf(u: NDArray[np.float64], s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Antiderivative in u of erf(u / s): u erf(u/s) + s/sqrt(pi) exp(-(u/s)^2)."""
    return u * special.erf(u / s) + s / np.sqrt(np.pi) * np.exp(-((u / s) ** 2))


def reservoir_target_integral(
    t: ArrayLike, L: float, x_min: float, x_max: float, v_d: float, D: float
) -> NDArray[np.float64]:
    """int_0^L [erf((x - x_min - v_d t)/s) - erf((x - x_max - v_d t)/s)] dx, s = sqrt(2Dt) [m].

    The integral in eqs. 26-27, in closed form. Divided by 2 (x_max - x_min) it is the
    probability that one reservoir electron is in the target at time t (eq. 24 integrated).
    """
    t = np.asarray(t, float)
    s = np.sqrt(2 * D * t)
    a, b = x_min + v_d * t, x_max + v_d * t
    return (_int_erf(L - a, s) - _int_erf(-a, s)) - (_int_erf(L - b, s) - _int_erf(-b, s))


def xray_rate(
    t: ArrayLike,
    beta2half: float,
    *,
    n: float,
    area: float,
    L: float,
    x_min: float,
    x_max: float,
    v_d: float,
    D: float,
    r: float,
    nu: float,
    seed_normalisation: bool = False,
) -> NDArray[np.float64]:
    """Expected PEP X-rays per second at time t (eq. 26).

    ``beta2half * r * nu * n * A * (1/2) * integral``: the factor 1/2 follows from eq. 24 (the
    number of new electrons in a slice is n A (x_max - x_min) p dx); the seed's eqs. 25-26 drop
    it. ``seed_normalisation=True`` reproduces the seed as printed (twice ours).
    """
    f = 1.0 if seed_normalisation else 0.5
    return beta2half * r * nu * n * area * f * reservoir_target_integral(t, L, x_min, x_max, v_d, D)


def xray_total(dt_M: float, beta2half: float, **kw: Any) -> float:
    """Total PEP X-rays in [0, dt_M] (eq. 27), by adaptive quadrature; any current, even 0."""
    _pos("measurement time", dt_M, allow_zero=True)
    if dt_M == 0:
        return 0.0
    return integrate.quad(lambda s: float(xray_rate(s, beta2half, **kw)), 0.0, dt_M, limit=500)[0]


# ------------------------------------------------------------------ close encounters (sec. 3)
def electron_wavelength(cu: Copper = Copper()) -> float:
    """lambda_e = h / (m v_F)  [m] (sec. 3)."""
    return H_PLANCK / (M_E * fermi_velocity(cu))


def close_encounter_distance(cu: Copper = Copper()) -> float:
    """Distance between close encounters l = 1 / (n pi (lambda_e/2)^2)  [m] (sec. 3)."""
    return 1.0 / (electron_density(cu) * math.pi * (electron_wavelength(cu) / 2) ** 2)


def close_encounter_time(cu: Copper = Copper()) -> float:
    """Mean time between close encounters, l / v_F  [s] (sec. 3)."""
    return close_encounter_distance(cu) / fermi_velocity(cu)


def close_encounters(t: Target, cu: Copper = Copper()) -> float:
    """Close encounters during the traversal: Delta t_T / (l / v_F) (sec. 3)."""
    return traversal_time(t, cu) / close_encounter_time(cu)


def capture_ratio(cu: Copper = Copper()) -> dict[str, float]:
    """The seed's capture estimate r ~ (hbar/Gamma) x (lambda_e/v_F) ~ 1.6 (sec. 3).

    As printed it multiplies two times; the dimensionless ratio that the argument needs is
    the transit time over the lifetime hbar/Gamma. We return both ratios; neither gives 1.6
    (docs/transport.md), but both say the capture is limited only by beta^2/2.
    """
    life = HBAR / (cu.ka_width_eV * EV)
    transit = electron_wavelength(cu) / fermi_velocity(cu)
    return {
        "lifetime_s": life,
        "transit_s": transit,
        "transit_over_lifetime": transit / life,
        "lifetime_over_transit": life / transit,
    }


# ------------------------------------------------------------------ everything at once
def summary(t: Target, cu: Copper = Copper(), *, rs_bound: float | None = None) -> list[dict]:
    """Every quantity of the module for one target: name, value, unit, equation."""
    t = t.validated()
    n = electron_density(cu)
    rows = [
        ("electron density n", n, "m^-3", "eq. 7"),
        ("Fermi velocity v_F", fermi_velocity(cu), "m/s", "eq. 8"),
        ("mean free path mu", mean_free_path(cu), "m", "eq. 9"),
        ("collision time tau", collision_time(cu), "s", "eq. 10"),
        ("drift coefficient 1/(n e z w)", drift_coefficient(t, cu), "m/C", "eq. 11"),
        ("drift velocity v_d", drift_velocity(t, cu), "m/s", "eqs. 5, 11"),
        ("traversal time dt_T", traversal_time(t, cu), "s", "eq. 12"),
        ("diffusion constant D", diffusion_constant(cu), "m^2/s", "eq. 13"),
        ("RMS diffusion distance in dt_T", rms_distance(t, cu), "m", "sec. 2.1"),
        ("scatterings S_inf = dt_T/tau", scatterings_infinite(t, cu), "", "eq. 23"),
        ("RS straight-path scatterings L/mu", t.length_m / mean_free_path(cu), "", "eq. 2"),
        ("electron wavelength lambda_e", electron_wavelength(cu), "m", "sec. 3"),
        ("distance between close encounters l", close_encounter_distance(cu), "m", "sec. 3"),
        ("time between close encounters l/v_F", close_encounter_time(cu), "s", "sec. 3"),
        ("close encounters in dt_T", close_encounters(t, cu), "", "sec. 3"),
        (
            "gain over RS (close encounters / (L/mu))",
            close_encounters(t, cu) / (t.length_m / mean_free_path(cu)),
            "",
            "sec. 3",
        ),
        (
            "transit time / lifetime hbar/Gamma",
            capture_ratio(cu)["transit_over_lifetime"],
            "",
            "sec. 3",
        ),
    ]
    if math.isfinite(traversal_time(t, cu)):
        rows.insert(
            10,
            (
                "scatterings S(dt_M = 10 dt_T) (numerical)",
                scatterings(10 * traversal_time(t, cu), t, cu),
                "",
                "eq. 19",
            ),
        )
    out = [{"quantity": q, "value": float(v), "unit": u, "equation": e} for q, v, u, e in rows]
    if rs_bound is not None:
        gain = close_encounters(t, cu) / (t.length_m / mean_free_path(cu))
        out.append(
            {
                "quantity": "improved bound on beta^2/2 (RS bound / gain)",
                "value": rs_bound / gain,
                "unit": "",
                "equation": "sec. 3",
            }
        )
    return out


def inputs_dict(t: Target, cu: Copper) -> dict:
    """The target and copper inputs, as plain dicts (for transport.json)."""
    return {"target": asdict(t), "copper": asdict(cu)}
