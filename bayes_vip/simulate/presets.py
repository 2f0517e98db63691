"""Simulation presets and the physics numbers behind them.

Spectral parameters (``MEASURED_2016_17``) come from a Poisson maximum-likelihood fit of
the summed measured 2016-17 spectra (six SDDs, 1-10 keV, 10 eV bins) with
``physics.spectrum.SpectrumModel``: see ``docs/scripts/fit_measured_for_simulation.py``,
which prints these numbers, and ``docs/simulation.md`` for each choice. Rates are per SDD
per second of live time; where the current-on and current-off fits differ we take their
mean, except the noise, which the data show to be worse with current on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bayes_vip.physics.constants import SECONDS_PER_DAY

__all__ = [
    "MEASURED_2016_17",
    "OPTIONAL_SETTINGS",
    "PRESETS",
    "PeriodSpec",
    "Preset",
    "cycle_schedule",
    "preset",
    "preset_from_settings",
    "preset_settings",
]

#: Fitted to the measured 2016-17 spectra (docs/scripts/fit_measured_for_simulation.py).
MEASURED_2016_17: dict = {
    # line-group rates [counts/s per SDD]: mean of the current-on and current-off fits
    "rates": {
        "Ti Ka": 0.0919,
        "Ti Kb": 0.0164,
        "Mn Ka": 0.0172,
        "Mn Kb": 0.0089,
        "Ni Ka": 2.3e-5,
        "Cu Ka": 5.16e-4,
        "Cu Kb": 7.96e-5,
    },
    "noise_eV": {"on": 40.2, "off": 27.5},  # sigma; current-on vs current-off fits
    "fano": 0.160,
    "tail_frac": 0.080,
    "tail_beta": 4.0,
    "escape_frac": 0.0117,
    "shelf_frac": 0.071,
    "level": 5.1e-7,  # continuum at 7 keV [counts/s/eV per SDD]
    "slope": -0.021,  # per keV
    "exp_level": 8.2e-6,  # low-energy exponential at 1 keV [counts/s/eV per SDD]
    "exp_len": 200.0,  # eV
}


@dataclass(frozen=True)
class PeriodSpec:
    """A period of a preset: name, current [A], live days, calibration-batch length [days]."""

    name: str
    current_A: float
    days: float
    batch_days: float


@dataclass(frozen=True)
class Preset:
    """Everything the simulator needs besides the random seed and the signal.

    Calibration: per SDD, ``p0 ~ N(0, p0_sd)``, ``p1 ~ gain * (1 + N(0, gain_rel_sd))``,
    ``p2 ~ N(p2_mean, p2_sd)``; per batch an AR(1) drift around them with lag-one
    correlation ``drift_rho`` and marginal sd ``drift_p0_sd`` [eV] on the offset and
    ``drift_gain_rel_sd`` on the gain (relative).
    """

    name: str
    description: str
    n_sdd: int
    periods: tuple[PeriodSpec, ...]
    spectrum: dict = field(default_factory=lambda: dict(MEASURED_2016_17))
    sdd_rate_sd: float = 0.25  # log-normal spread of per-SDD rates (measured: 0.63-1.33 M counts)
    sdd_noise_rel_sd: float = 0.10  # relative spread of per-SDD noise
    n_adc: int = 4096  # 12-bit ADC
    gain: float = 2.9  # eV per channel: 4096 channels span about 12 keV
    gain_rel_sd: float = 0.02
    p0_sd: float = 15.0
    p2_mean: float = 1.0e-6
    p2_sd: float = 3.0e-7
    drift_rho: float = 0.7
    drift_p0_sd: float = 5.0
    drift_gain_rel_sd: float = 2.5e-3
    efficiency: float = 0.0182
    efficiency_rel_uncertainty: float = 0.10
    length_cm: float = 7.1
    mean_free_path_cm: float = 3.91e-6
    cross_section_cm2: float = 0.01  # z w = 50 um x 20 mm, seed 001 table 1 (VIP-2)
    #: > 0: the current is switched in time: the periods take turns of ``cycle_s`` seconds
    #: (in their order, a period that has used its days leaving the rotation), and the run
    #: is written with a ``[schedule]``; calibration batches of the first period's
    #: ``batch_days`` on the run clock. 0: the periods follow one another.
    cycle_s: float = 0.0
    #: Relative change of every background rate (lines and continuum) from the run's start
    #: to its end, linear on the run clock and 1 on average (a source decaying, a shielding
    #: changed...): 0.1 makes the rates 0.95x at the start and 1.05x at the end. The PEP
    #: signal follows the current only.
    background_drift: float = 0.0


#: Optional fields a simulated run records only when they differ from their defaults (so
#: that the settings of runs simulated before they existed stay the same).
OPTIONAL_SETTINGS = {"cycle_s": 0.0, "background_drift": 0.0}

#: Live days of each period of the measured 2016-17 run: 7034400 s (data README).
_MEASURED_DAYS = 7034400.0 / SECONDS_PER_DAY
_SEED000_NOTE = "seed 000 sec. 2: 34 days with 100 A, 28 days without, six SDDs (two 1x3 arrays)"

PRESETS: dict[str, Preset] = {
    "demo": Preset(
        name="demo",
        description="small demo campaign: 2 SDDs, 10 + 10 days, 2 batches per period",
        n_sdd=2,
        periods=(
            PeriodSpec("current-on", 100.0, 10.0, 5.0),
            PeriodSpec("current-off", 0.0, 10.0, 5.0),
        ),
    ),
    "vip2-2016": Preset(
        name="vip2-2016",
        description=_SEED000_NOTE + "; weekly calibration batches",
        n_sdd=6,
        periods=(
            PeriodSpec("current-on", 100.0, 34.0, 7.0),
            PeriodSpec("current-off", 0.0, 28.0, 7.0),
        ),
        efficiency=0.018,  # seed 000 eq. 2
        mean_free_path_cm=3.9e-6,  # seed 000 eq. 2
    ),
    "vip2-2016-17": Preset(
        name="vip2-2016-17",
        description="measured-like: the layout of the measured 2016-17 run, six SDDs and "
        "7034400 s with 100 A and as long without (data README), one batch per period",
        n_sdd=6,
        periods=(
            PeriodSpec("current-on", 100.0, _MEASURED_DAYS, _MEASURED_DAYS),
            PeriodSpec("current-off", 0.0, _MEASURED_DAYS, _MEASURED_DAYS),
        ),
    ),
    "vip2-2018": Preset(
        name="vip2-2018",
        description="32 SDDs and 39 + 39 days (seed 000 sec. 2 and fig. 3); "
        "2-day calibration batches (seed 002 sec. 2)",
        n_sdd=32,
        periods=(
            PeriodSpec("current-on", 100.0, 39.0, 2.0),
            PeriodSpec("current-off", 0.0, 39.0, 2.0),
        ),
    ),
    "vip2-switched": Preset(
        name="vip2-switched",
        description="the current switched on and off every 50 s for 68 days (the later VIP-2 "
        "test of Porcelli et al., EPJC 2024, as issue 17 cites it), six SDDs as in 2016-17, "
        "daily calibration batches",
        n_sdd=6,
        periods=(
            PeriodSpec("current-on", 100.0, 34.0, 1.0),
            PeriodSpec("current-off", 0.0, 34.0, 1.0),
        ),
        cycle_s=50.0,
    ),
}


def preset_settings(pre: Preset) -> dict:
    """What a simulated run records of its preset (``[simulation.settings]``).

    Every field but ``spectrum`` (the measured run's shape for every preset), the periods
    as tables; ``OPTIONAL_SETTINGS`` only where they differ from their defaults. The
    inverse of ``preset_from_settings``.
    """
    from dataclasses import asdict

    settings = asdict(pre)
    settings.pop("spectrum")
    settings["periods"] = [asdict(p) for p in pre.periods]
    for k, v in OPTIONAL_SETTINGS.items():
        if settings[k] == v:
            del settings[k]
    return settings


def preset_from_settings(settings: dict) -> Preset:
    """The preset that a simulated run's ``[simulation.settings]`` table describes.

    The inverse of what ``simulator`` writes there (every field but ``spectrum``, which is
    the measured run's shape for every preset).
    """
    s = dict(settings)
    try:
        periods = tuple(PeriodSpec(**p) for p in s.pop("periods"))
        return Preset(**s, periods=periods)
    except (KeyError, TypeError) as exc:
        msg = f"not a preset's settings: {exc}"
        raise ValueError(msg) from None


def preset(name: str, **overrides) -> Preset:
    """The preset ``name`` with fields replaced by ``overrides``."""
    if name not in PRESETS:
        msg = f"unknown preset {name!r}; choose from {sorted(PRESETS)}"
        raise KeyError(msg)
    return replace(PRESETS[name], **overrides)


def batch_lengths_s(spec: PeriodSpec) -> list[float]:
    """Live times [s] of a period's batches: full batches, then the remainder."""
    total = spec.days * SECONDS_PER_DAY
    step = spec.batch_days * SECONDS_PER_DAY
    out = []
    t = 0.0
    while total - t > 1e-6 * step:
        out.append(min(step, total - t))
        t += out[-1]
    return out


def cycle_schedule(pre: Preset) -> tuple[list[float], list[float], list[float]]:
    """The intervals (start_s, stop_s, current_A) of a switched preset (``cycle_s`` > 0).

    The periods take turns of ``cycle_s`` seconds in their order from t = 0; a period whose
    days are used up leaves the rotation (its last turn may be shorter).
    """
    if not pre.cycle_s > 0:
        msg = "cycle_schedule needs cycle_s > 0"
        raise ValueError(msg)
    left = [p.days * SECONDS_PER_DAY for p in pre.periods]
    start: list[float] = []
    stop: list[float] = []
    cur: list[float] = []
    t = 0.0
    while any(x > 1e-6 for x in left):
        for i, p in enumerate(pre.periods):
            if left[i] <= 1e-6:
                continue
            d = min(pre.cycle_s, left[i])
            if cur and cur[-1] == p.current_A:  # one period left: merge its turns
                stop[-1] += d
            else:
                start.append(t)
                stop.append(t + d)
                cur.append(p.current_A)
            t += d
            left[i] -= d
    return start, stop, cur
