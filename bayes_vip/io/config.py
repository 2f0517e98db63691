"""The analysis configuration: every option of the analyses, with its default and its validator.

One frozen, typed :class:`AnalysisConfig` holds what ``calibrate``, ``fit`` and ``sample`` may
be told. Each key has a default and a validator (the pattern of ArviZ's ``rcParams``); keys
are dotted names::

    signal, n_int,
    calibration.batch_hours, calibration.refine, calibration.refine_lines,
    calibration.iterations,
    fit.statistic, fit.signal_shape, fit.bin_eV, fit.sdd, fit.background,
    sample.chains, sample.warmup, sample.samples, sample.max_draws, sample.prior,
    sample.prior_upper, sample.priors, sample.seed, sample.bin_eV, sample.line_sd_eV,
    sample.background, sample.drift_days

Values are read, in increasing precedence, from the defaults, the ``[analysis]`` table of the
run's ``run.toml``, a ``--config FILE`` (a TOML file with the same ``[analysis]`` table) and
the command line (:func:`load_config`). Everything is validated here, once, before any
computation; a bad value raises ``InputError`` naming the key (and the file it came from).
The library below names keys, never command-line flags: the CLI alone maps keys to flags.

This module imports no JAX, so a bad option is reported at once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bayes_vip.errors import InputError
from bayes_vip.io.manifest import read_toml
from bayes_vip.physics.conversion import N_INT_MODELS
from bayes_vip.physics.lines import SIGNAL_CHOICES, LineGroup, pep_signal

__all__ = [
    "BACKGROUNDS",
    "COMMAND_LINE",
    "DEFAULT",
    "PRIORS",
    "PRIOR_SETS",
    "REFINE_LINES",
    "SIGNAL_SHAPES",
    "STATISTICS",
    "AnalysisConfig",
    "CalibrationConfig",
    "FitConfig",
    "SampleConfig",
    "default_config",
    "load_config",
    "validate_signal",
]

#: Signal priors of the hierarchical model: flat in beta^2/2, or flat in the counts N_X.
PRIORS = ("flat-beta", "flat-counts")
#: Where the nuisance priors are centred (``docs/bayes.md``, "Where each prior comes from"):
#: on the run's own classic fit (an empirical-Bayes step: the region's counts enter twice),
#: or outside the counts the model fits (the Si Fano factor measured elsewhere, the lines
#: below the region, the current-off period for the current-on background).
PRIOR_SETS = ("empirical-bayes", "external")
#: Fit statistics of the classic fit: Neyman's chi-square (seed 000) or the Poisson
#: likelihood ratio (Baker-Cousins), the default: on low-count spectra Neyman's estimate of
#: N_X spreads 20-45 % more than its quoted sigma, and its limits under-cover
#: (docs/validation.md, "Coverage").
STATISTICS = ("chi2", "poisson")
#: Shapes of the PEP line in the classic fit: the full detector response, or seed 000's
#: pure Gaussian core.
SIGNAL_SHAPES = ("response", "gaussian")
#: The classic fit's step-2 background: each spectrum its own (seed 000), or one rate for
#: both scaled by live time (``analysis.classic.Freedoms.background``; docs/modulation.md).
BACKGROUNDS = ("separate", "shared")
#: Line windows of the calibration refinement: Cu Ka only (seed 002 eq. 3), or Cu, Ti, Mn.
REFINE_LINES = ("cu", "all")

#: Where a value came from (``AnalysisConfig.sources``).
DEFAULT = "default"
COMMAND_LINE = "command line"


@dataclass(frozen=True)
class CalibrationConfig:
    """Options of the calibration of an ADC-level run (seed 002)."""

    batch_hours: float | None = None  # merge batches into groups this long; None: as recorded
    refine: bool = True  # the differentiable refinement after the standard calibration
    refine_lines: str = "cu"  # see REFINE_LINES
    iterations: int = 200  # Adam iterations of the refinement (loglik levels off after ~50)


@dataclass(frozen=True)
class FitConfig:
    """Options of the classic two-step fit (seed 000)."""

    statistic: str = "poisson"  # see STATISTICS
    signal_shape: str = "response"  # see SIGNAL_SHAPES
    bin_eV: float = 10.0  # fit bin width [eV], a multiple of the data's bins
    sdd: int | None = None  # fit one SDD instead of the sum
    background: str = "separate"  # see BACKGROUNDS


@dataclass(frozen=True)
class SampleConfig:
    """Options of the hierarchical model and its NUTS run."""

    chains: int = 4
    warmup: int = 300  # warm-up iterations per chain
    samples: int = 1000  # draws per chain before the gates are checked
    max_draws: int | None = None  # draws per chain at most, extensions included; None: 4 x samples
    prior: str = "flat-beta"  # see PRIORS
    prior_upper: float | None = None  # bound of the flat signal prior; None: 20 classic sigmas
    priors: str = "empirical-bayes"  # where the nuisance priors are centred; see PRIOR_SETS
    seed: int = 0  # random seed of the chains
    bin_eV: float = 40.0  # model bin width [eV] (docs/bayes.md: 10 -> 40 eV moved UL95 by 1 %)
    # sd [eV] of a Normal prior on the PEP line's position around its nominal energy; 0: fixed
    line_sd_eV: float = 0.0
    background: str = "separate"  # see BACKGROUNDS (shared: one background, drifting)
    drift_days: float = 7.0  # length of a shared background's drift blocks [days]

    @property
    def draw_bound(self) -> int:
        """Draws per chain at most, extensions included: ``max_draws``, or 4 x ``samples``."""
        return self.max_draws or 4 * self.samples


@dataclass(frozen=True)
class AnalysisConfig:
    """The whole configuration of an analysis. Build it with :func:`load_config`.

    ``signal`` is ``"ka1"``, ``"ka2"``, ``"doublet"`` or an energy in eV (float);
    ``n_int`` a key of ``physics.conversion.N_INT_MODELS``. ``sources`` says where each
    value that is not a default came from (a file path or ``"command line"``).
    """

    signal: str | float = "ka1"
    n_int: str = "rs"
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def signal_line(self) -> LineGroup:
        """The PEP line group that ``signal`` names."""
        return pep_signal(self.signal)

    def get(self, key: str) -> Any:
        """The value of a dotted key (``"sample.chains"``)."""
        obj: Any = self
        for part in key.split("."):
            obj = getattr(obj, part)
        return obj

    def source(self, key: str) -> str:
        """Where ``key``'s value came from: a file path, ``"command line"`` or ``"default"``."""
        return self.sources.get(key, DEFAULT)

    def locate(self, exc: InputError) -> InputError:
        """``exc``, made to name the file its key came from and ``analysis.KEY``.

        Only an error about a key whose value came from a file is changed; any other error is
        returned unchanged.
        """
        src = self.sources.get(exc.field or "", DEFAULT)
        if exc.file is not None or src in (DEFAULT, COMMAND_LINE):
            return exc
        return InputError(exc.message, file=src, field=f"analysis.{exc.field}")

    def to_dict(self) -> dict[str, Any]:
        """Every key's value as nested JSON-serialisable dicts (what result files record)."""
        d = asdict(self)
        d.pop("sources")
        return d


# ------------------------------------------------------------------------- validators
def validate_signal(value: object) -> str | float:
    """``ka1``, ``ka2``, ``doublet`` (any case) or a finite energy in eV > 0."""
    if isinstance(value, str):
        c = value.strip().lower()
        if c in SIGNAL_CHOICES:
            return c
        try:
            value = float(c)
        except ValueError:
            msg = f"must be one of {list(SIGNAL_CHOICES)} or an energy in eV, got {value!r}"
            raise ValueError(msg) from None
    return _number(value, positive=True)


def _number(value: object, *, positive: bool = False, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        msg = f"must be a number, got {value!r}"
        # ValueError, not TypeError: load_config reports a validator's ValueError
        raise ValueError(msg)  # noqa: TRY004
    try:
        v = float(value)
    except ValueError:
        msg = f"must be a number, got {value!r}"
        raise ValueError(msg) from None
    if not math.isfinite(v):
        msg = f"must be a finite number, got {value!r}"
        raise ValueError(msg)
    if positive and v <= 0:
        msg = f"must be > 0, got {v:g}"
        raise ValueError(msg)
    if minimum is not None and v < minimum:
        msg = f"must be >= {minimum:g}, got {v:g}"
        raise ValueError(msg)
    return v


def _integer(minimum: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool):
            msg = f"must be an integer, got {value!r}"
            # ValueError, not TypeError: load_config reports a validator's ValueError
            raise ValueError(msg)  # noqa: TRY004
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                msg = f"must be an integer, got {value!r}"
                raise ValueError(msg) from None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            msg = f"must be an integer, got {value!r}"
            # ValueError, not TypeError: load_config reports a validator's ValueError
            raise ValueError(msg)  # noqa: TRY004
        if value < minimum:
            msg = f"must be >= {minimum}, got {value}"
            raise ValueError(msg)
        return value

    return check


def _choice(options: tuple[str, ...]) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            msg = f"must be one of {list(options)}, got {value!r}"
            raise ValueError(msg)
        return value

    return check


def _optional(check: Callable[[object], Any]) -> Callable[[object], Any]:
    def opt(value: object) -> Any:
        return None if value is None else check(value)

    return opt


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    msg = f"must be true or false, got {value!r}"
    raise ValueError(msg)


def _positive(value: object) -> float:
    return _number(value, positive=True)


def _line_sd(value: object) -> float:
    v = _number(value, minimum=0.0)
    if v > MAX_LINE_SD_EV:
        msg = f"must be at most {MAX_LINE_SD_EV:g} eV (the line would leave the region), got {v:g}"
        raise ValueError(msg)
    return v


#: The widest prior on the PEP line's position [eV]: 100 eV keeps +-3 sd of the line at
#: 7.73 keV clear of the Ni Ka lines (7.46-7.48 keV) and of Cu Ka (8.03-8.05 keV).
MAX_LINE_SD_EV = 100.0


#: Every key: its validator (the defaults are the dataclass defaults).
VALIDATORS: dict[str, Callable[[object], Any]] = {
    "signal": validate_signal,
    "n_int": _choice(tuple(N_INT_MODELS)),
    "calibration.batch_hours": _optional(_positive),
    "calibration.refine": _boolean,
    "calibration.refine_lines": _choice(REFINE_LINES),
    "calibration.iterations": _integer(1),
    "fit.statistic": _choice(STATISTICS),
    "fit.signal_shape": _choice(SIGNAL_SHAPES),
    "fit.bin_eV": _positive,
    "fit.sdd": _optional(_integer(0)),
    "fit.background": _choice(BACKGROUNDS),
    "sample.background": _choice(BACKGROUNDS),
    "sample.drift_days": _positive,
    "sample.chains": _integer(1),
    "sample.warmup": _integer(10),
    "sample.samples": _integer(10),
    "sample.max_draws": _optional(_integer(10)),
    "sample.prior": _choice(PRIORS),
    "sample.prior_upper": _optional(_positive),
    "sample.priors": _choice(PRIOR_SETS),
    "sample.seed": _integer(0),
    "sample.bin_eV": _positive,
    "sample.line_sd_eV": _line_sd,
}

_SECTIONS = {"calibration": CalibrationConfig, "fit": FitConfig, "sample": SampleConfig}


def _check_schema() -> None:
    """Every dataclass field has a validator and vice versa (a programming error otherwise)."""
    names = {f.name for f in fields(AnalysisConfig) if f.name not in (*_SECTIONS, "sources")}
    for sec, cls in _SECTIONS.items():
        names |= {f"{sec}.{f.name}" for f in fields(cls)}
    if names != set(VALIDATORS):
        msg = f"config schema and validators disagree: {sorted(names ^ set(VALIDATORS))}"
        raise RuntimeError(msg)


_check_schema()


def _flatten(table: Mapping[str, Any], file: Path) -> dict[str, Any]:
    """Dotted keys of an ``[analysis]`` table; unknown keys and misplaced tables are errors."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        if k in _SECTIONS:
            if not isinstance(v, dict):
                msg = "must be a table"
                raise InputError(msg, file=file, field=f"analysis.{k}")
            for kk, vv in v.items():
                out[f"{k}.{kk}"] = vv
        else:
            out[k] = v
    for k in out:
        if k not in VALIDATORS:
            msg = f"unknown key; the keys are {sorted(VALIDATORS)}"
            raise InputError(msg, file=file, field=f"analysis.{k}")
    return out


def _read_table(path: Path) -> dict[str, Any]:
    """The ``[analysis]`` table of a TOML file (empty if it has none)."""
    data = read_toml(path, missing="configuration file not found")
    table = data.get("analysis", {})
    if not isinstance(table, dict):
        msg = "must be a table"
        raise InputError(msg, file=path, field="analysis")
    return table


def _build(values: dict[str, Any], sources: dict[str, str]) -> AnalysisConfig:
    sections: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    top: dict[str, Any] = {}
    for k, v in values.items():
        sec, _, name = k.rpartition(".")
        (sections[sec] if sec else top)[name] = v
    s = sections["sample"]
    draws, bound = s.get("samples", SampleConfig.samples), s.get("max_draws")
    if bound is not None and bound < draws:
        msg = f"must be at least sample.samples ({draws}), got {bound}"
        raise InputError(msg, field="sample.max_draws")
    return AnalysisConfig(
        **top,
        **{s: cls(**sections[s]) for s, cls in _SECTIONS.items()},
        sources=dict(sources),
    )


def default_config() -> AnalysisConfig:
    """Every key at its default."""
    return AnalysisConfig()


def load_config(
    run: str | os.PathLike[str] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> AnalysisConfig:
    """The validated configuration of an analysis.

    Parameters
    ----------
    run : a run directory (or its run.toml); its ``[analysis]`` table is read if the manifest
        exists (a missing manifest is reported by the pipeline, not here).
    config_file : a TOML file with an ``[analysis]`` table; overrides the run's.
    overrides : dotted keys to values, from the command line; override both files. ``None``
        values are ignored (an option not given).

    Raises
    ------
    InputError
        naming the key, and the file when the value came from one.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    layers: list[tuple[dict[str, Any], Path | None]] = []
    if run is not None:
        p = Path(run)
        manifest = p if p.suffix == ".toml" else p / "run.toml"
        if manifest.is_file():
            layers.append((_flatten(_read_table(manifest), manifest), manifest))
    if config_file is not None:
        cf = Path(config_file)
        layers.append((_flatten(_read_table(cf), cf), cf))
    cli = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(cli) - set(VALIDATORS))
    if unknown:
        msg = f"unknown configuration keys {unknown}"
        raise InputError(msg)
    layers.append((cli, None))
    for table, file in layers:
        for k, v in table.items():
            try:
                values[k] = VALIDATORS[k](v)
            except ValueError as exc:
                raise InputError(
                    str(exc), file=file, field=k if file is None else f"analysis.{k}"
                ) from None
            sources[k] = COMMAND_LINE if file is None else str(file)
    return _build(values, sources)


def with_values(cfg: AnalysisConfig, **section_values: Mapping[str, Any]) -> AnalysisConfig:
    """A copy of ``cfg`` with some section values replaced (already valid, e.g. by code)."""
    out = cfg
    for sec, vals in section_values.items():
        out = replace(out, **{sec: replace(getattr(out, sec), **vals)})
    return out
