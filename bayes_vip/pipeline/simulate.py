"""``bayes-vip simulate``: write a simulated campaign.

Also the demo run every command falls back on (``DEMO_RUN``, ``ensure_demo``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayes_vip.errors import InputError
from bayes_vip.io.config import validate_signal
from bayes_vip.io.manifest import manifest_path
from bayes_vip.pipeline.progress import SILENT, Progress
from bayes_vip.simulate.presets import PRESETS, preset

__all__ = ["DEMO_RUN", "DEMO_SEED", "LEVELS", "SimulationRequest", "ensure_demo", "simulate"]

#: The run every command uses when it is given none (DESIGN.md, "CLI").
DEMO_RUN = Path("runs/demo")
#: Seed of the demo campaign, simulated when ``runs/demo`` is missing.
DEMO_SEED = 2016
#: What a simulation writes: an ADC event list, or energy histograms through the true
#: calibration.
LEVELS = ("adc", "energy")


@dataclass(frozen=True)
class SimulationRequest:
    """A validated simulation: preset, seed, expected PEP counts, PEP line and data level.

    Build it with :meth:`validated`; errors name the keys ``simulation.preset``, ...
    """

    preset: str = "demo"
    seed: int = 0
    signal_counts: float = 0.0
    signal: str | float = "ka1"
    level: str = "adc"
    cycle_s: float | None = None  # None: the preset's (0: periods one after the other)
    background_drift: float | None = None  # None: the preset's

    @classmethod
    def validated(
        cls,
        preset: str = "demo",
        *,
        seed: int = 0,
        signal_counts: float = 0.0,
        signal: str | float = "ka1",
        level: str = "adc",
        cycle_s: float | None = None,
        background_drift: float | None = None,
    ) -> SimulationRequest:
        """Check every field; ``InputError`` naming the first bad one."""
        if preset not in PRESETS:
            msg = f"unknown preset {preset!r}; choose from {sorted(PRESETS)}"
            raise InputError(msg, field="simulation.preset")
        if level not in LEVELS:
            msg = f"must be one of {list(LEVELS)}, got {level!r}"
            raise InputError(msg, field="simulation.level")
        if not (isinstance(seed, int) and seed >= 0):
            msg = f"must be an integer >= 0, got {seed!r}"
            raise InputError(msg, field="simulation.seed")
        if not (math.isfinite(signal_counts) and signal_counts >= 0):
            msg = f"must be a finite number >= 0, got {signal_counts}"
            raise InputError(msg, field="simulation.signal_counts")
        try:
            sig = validate_signal(signal)
        except ValueError as exc:
            raise InputError(str(exc), field="simulation.signal") from None
        if cycle_s is not None and not (math.isfinite(cycle_s) and cycle_s > 0):
            msg = f"must be a number of seconds > 0, got {cycle_s}"
            raise InputError(msg, field="simulation.cycle_s")
        if background_drift is not None and not (
            math.isfinite(background_drift) and abs(background_drift) < 2
        ):
            msg = f"must be a relative change between -2 and 2, got {background_drift}"
            raise InputError(msg, field="simulation.background_drift")
        if cycle_s is not None:
            cur = sorted((p.current_A for p in PRESETS[preset].periods), reverse=True)
            if len(set(cur)) != len(cur) or [p.current_A for p in PRESETS[preset].periods] != cur:
                msg = f"preset {preset!r} cannot be switched: its periods are not one per current"
                raise InputError(msg, field="simulation.cycle_s")
        return cls(preset, seed, float(signal_counts), sig, level, cycle_s, background_drift)

    def preset_object(self):
        """The ``simulate.presets.Preset`` this request simulates."""
        over: dict[str, float] = {}
        if self.cycle_s is not None:
            over["cycle_s"] = float(self.cycle_s)
        if self.background_drift is not None:
            over["background_drift"] = float(self.background_drift)
        return preset(self.preset, **over)


def simulate(
    request: SimulationRequest, out: Path, *, progress: Progress = SILENT
) -> dict[str, Any]:
    """Simulate ``request`` into the run directory ``out``; returns what was written."""
    import numpy as np

    from bayes_vip.simulate.simulator import (
        simulate_campaign,
        write_campaign,
        write_energy_campaign,
    )

    r = request
    task = f"simulating {r.preset}"
    progress.update(task, 0, 3)
    done = [0]

    def advance(k: int) -> None:
        done[0] += k
        progress.update(task, done[0], 3)

    sim = simulate_campaign(
        r.preset_object(),
        rng=np.random.default_rng(r.seed),
        signal_counts=r.signal_counts,
        signal=r.signal,
        progress=advance,
    )
    if r.level == "adc":
        path = write_campaign(sim, out, signal=r.signal)
    else:
        path = write_energy_campaign(sim, out, signal=r.signal, rng=np.random.default_rng(r.seed))
    advance(1)
    histograms = r.level == "energy" and sim.schedule is None
    return {
        "run": str(out),
        "manifest": str(path),
        "data": str(out / ("energyHistograms.root" if histograms else "events.parquet")),
        "intervals": 0 if sim.schedule is None else int(sim.schedule.start_s.size),
        "preset": r.preset,
        "seed": r.seed,
        "level": r.level,
        "events": int(sim.adc.size),
        "signal_counts_realised": sim.truth["signal_counts_realised"],
    }


def ensure_demo(run: Path, *, progress: Progress = SILENT) -> Path:
    """``run``; the demo run is simulated first when ``run`` is ``DEMO_RUN`` and missing."""
    if Path(run) == DEMO_RUN and not manifest_path(run).is_file():
        progress.stage(f"{run} is missing: simulating the demo preset (seed {DEMO_SEED})")
        simulate(SimulationRequest.validated("demo", seed=DEMO_SEED), Path(run), progress=progress)
    return Path(run)
