"""From X-ray counts to the PEP-violation probability beta^2/2 (Ramberg-Snow).

Seed 000 eq. 2 (and seed 001 eqs. 1-2)::

    N_X >= beta^2/2 * N_new * (1/10) * N_int * efficiency,      N_new = sum(I dt) / e

so an upper limit on N_X gives ``beta^2/2 <= N_X / (N_new * capture * N_int * efficiency)``.

``N_int`` is the number of chances an electron has to make the transition:

- ``"rs"``: the Ramberg-Snow straight path, ``D / mu`` (seed 000 eq. 2);
- ``"close-encounter"``: the close encounters with atoms during the traversal time of the
  transport model (seed 001 sec. 3), which needs the current and the strip's cross-section;
results always name the model used.

Seed 000's published number: 3 x 67 = 201 counts, 34 days at 100 A, D = 7.1 cm,
mu = 3.9e-6 cm, efficiency 1.8 % give 3.345e-29 with these formulas; the seed prints
3.4e-29 (docs/classic.md discusses the 1.6 % difference).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bayes_vip.errors import InputError
from bayes_vip.physics.constants import CAPTURE_PROBABILITY, E_CHARGE

__all__ = ["N_INT_MODELS", "Exposure", "beta2half_from_counts", "exposure", "n_int", "n_new"]


def _rs_n_int(length_cm: float, mean_free_path_cm: float, **_: float | None) -> float:
    """Ramberg-Snow straight path: N_int = D / mu (seed 000 eq. 2)."""
    return length_cm / mean_free_path_cm


def _close_encounter_n_int(
    length_cm: float,
    mean_free_path_cm: float,
    *,
    current_A: float | None = None,
    cross_section_cm2: float | None = None,
    fermi_velocity_factor: float = 0.75,
    **_: float | None,
) -> float:
    """Close encounters during the traversal (seed 001 sec. 3): dt_T / (l / v_F).

    Here dt_T = n e A L / I (eq. 12). Needs the current and the strip's cross-section.
    """
    from bayes_vip.physics import transport as tr

    if current_A is None or cross_section_cm2 is None:
        msg = (
            "the close-encounter N_int needs the current and the target's "
            "cross-section (the manifest's target.cross_section_cm2, or cross_section_cm2)"
        )
        raise InputError(
            msg,
            field="n_int",
        )
    _positive("current_A", current_A)
    area = _positive("cross_section_cm2", cross_section_cm2) * 1e-4
    cu = tr.Copper(fermi_velocity_factor=fermi_velocity_factor)
    dt_T = tr.electron_density(cu) * E_CHARGE * area * (length_cm / 100.0) / current_A
    return dt_T / tr.close_encounter_time(cu)


#: Registered N_int models: name -> function(length_cm, mean_free_path_cm, **context).
#: ``rs``: D/mu (seed 000 eq. 2); ``close-encounter``: seed 001 sec. 3.
N_INT_MODELS: dict[str, Callable[..., float]] = {
    "rs": _rs_n_int,
    "close-encounter": _close_encounter_n_int,
}


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        msg = f"must be a finite number > 0, got {value!r}"
        raise InputError(msg, field=name)
    return float(value)


def n_new(charge_C: float) -> float:
    """Number of new electrons injected: sum(I dt) / e, ``charge_C`` = sum(I dt) [C]."""
    if not (math.isfinite(charge_C) and charge_C >= 0):
        msg = f"must be a finite number >= 0, got {charge_C!r}"
        raise InputError(msg, field="charge")
    return charge_C / E_CHARGE


def n_int(
    model: str, *, length_cm: float, mean_free_path_cm: float, **context: float | None
) -> float:
    """Number of electron-atom interactions per electron under ``model`` (see N_INT_MODELS)."""
    if model not in N_INT_MODELS:
        msg = f"unknown N_int model {model!r}; available: {sorted(N_INT_MODELS)}"
        raise InputError(msg, field="n_int")
    return N_INT_MODELS[model](
        length_cm=_positive("length_cm", length_cm),
        mean_free_path_cm=_positive("mean_free_path_cm", mean_free_path_cm),
        **context,
    )


@dataclass(frozen=True)
class Exposure:
    """Everything that multiplies beta^2/2 to give the expected PEP counts."""

    charge_C: float
    n_new: float
    capture_probability: float
    n_int_model: str
    n_int: float
    efficiency: float

    @property
    def counts_per_beta2half(self) -> float:
        """Expected N_X for beta^2/2 = 1."""
        return self.n_new * self.capture_probability * self.n_int * self.efficiency

    def to_dict(self) -> dict[str, Any]:
        """The fields and ``counts_per_beta2half``, as a JSON-serialisable dict."""
        return {**asdict(self), "counts_per_beta2half": self.counts_per_beta2half}


def exposure(
    *,
    charge_C: float,
    length_cm: float,
    mean_free_path_cm: float,
    efficiency: float,
    n_int_model: str = "rs",
    capture_probability: float = CAPTURE_PROBABILITY,
    **context: float | None,
) -> Exposure:
    """The exposure of a measurement. ``charge_C`` = sum over current-on periods of I*dt."""
    eff = _positive("efficiency", efficiency)
    if eff > 1:
        msg = f"must be <= 1 (a fraction, not a percentage), got {eff}"
        raise InputError(msg, field="efficiency")
    charge = _positive("charge (current x time)", charge_C)
    return Exposure(
        charge_C=charge,
        n_new=n_new(charge),
        capture_probability=capture_probability,
        n_int_model=n_int_model,
        n_int=n_int(
            n_int_model, length_cm=length_cm, mean_free_path_cm=mean_free_path_cm, **context
        ),
        efficiency=eff,
    )


def beta2half_from_counts(counts: float, exp: Exposure) -> float:
    """beta^2/2 corresponding to ``counts`` PEP X-rays (seed 000 eq. 2 solved for beta^2/2)."""
    if not math.isfinite(counts):
        msg = f"must be finite, got {counts!r}"
        raise InputError(msg, field="counts")
    return counts / exp.counts_per_beta2half
