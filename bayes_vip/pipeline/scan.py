"""``bayes-vip scan``: the classic limits for a PEP line anywhere in an energy window.

The two-step fit runs once at the configured line (``config.signal``), which fixes its
decisions; then step 2 is refitted with the line at each energy of the window
(``analysis.scan``). Writes ``scan.json`` and ``scan_<statistic>.png`` into ``RUN/results``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayes_vip.analysis.conventions import ROI_EV
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import write_json
from bayes_vip.io.config import AnalysisConfig
from bayes_vip.io.manifest import load_manifest
from bayes_vip.io.outputs import results_dir
from bayes_vip.physics.conversion import beta2half_from_counts
from bayes_vip.pipeline.progress import SILENT, Progress

__all__ = ["ScanRequest", "scan"]

#: The window of the scan by default [eV]: the PEP Ka lines (7729 and 7747 eV, seed 000)
#: with room for their +-10 eV theoretical uncertainty and more (issue 15: 7.6-7.9 keV).
DEFAULT_WINDOW_EV = (7600.0, 7900.0)
#: At most this many energies in one scan (each is a fit and two limit scans).
MAX_POINTS = 301


@dataclass(frozen=True)
class ScanRequest:
    """A checked energy window: ``start``-``stop`` [eV] in steps of ``step``, at ``level``."""

    start: float
    stop: float
    step: float
    level: float

    @classmethod
    def validated(
        cls,
        start: float = DEFAULT_WINDOW_EV[0],
        stop: float = DEFAULT_WINDOW_EV[1],
        step: float = 10.0,
        level: float = 0.95,
    ) -> ScanRequest:
        """The request, or an ``InputError`` naming the option that is impossible."""
        for name, v in (("scan.start_eV", start), ("scan.stop_eV", stop), ("scan.step_eV", step)):
            if not math.isfinite(v):
                msg = f"must be a finite number of eV, got {v}"
                raise InputError(msg, field=name)
        if step <= 0:
            msg = f"must be positive, got {step:g} eV"
            raise InputError(msg, field="scan.step_eV")
        if stop <= start:
            msg = f"must be above the start ({start:g} eV), got {stop:g} eV"
            raise InputError(msg, field="scan.stop_eV")
        lo, hi = ROI_EV
        if start < lo or stop > hi:
            msg = f"the window {start:g}-{stop:g} eV must lie in the fit's {lo:g}-{hi:g} eV"
            raise InputError(msg, field="scan.start_eV" if start < lo else "scan.stop_eV")
        if round((stop - start) / step) + 1 > MAX_POINTS:
            msg = f"gives over {MAX_POINTS} energies in {start:g}-{stop:g} eV; take a larger step"
            raise InputError(msg, field="scan.step_eV")
        if not 0.5 < level < 1:
            msg = f"must be a confidence level between 0.5 and 1, got {level:g}"
            raise InputError(msg, field="scan.level")
        return cls(float(start), float(stop), float(step), float(level))

    def energies(self) -> list[float]:
        """The energies of the scan [eV], the window's ends included."""
        n = math.floor((self.stop - self.start) / self.step + 1e-9)
        return [self.start + k * self.step for k in range(n + 1)]


def scan(
    run: str | Path,
    config: AnalysisConfig,
    request: ScanRequest,
    *,
    progress: Progress = SILENT,
    figures: bool = True,
) -> dict[str, Any]:
    """The energy scan of ``run``; returns the record written to ``scan.json``."""
    from bayes_vip.analysis import classic
    from bayes_vip.analysis.scan import scan_energy
    from bayes_vip.pipeline.fit import fit_inputs
    from bayes_vip.results.scan import scan_figure

    f = config.fit
    man = load_manifest(run)
    s1, s2, exp = fit_inputs(man, config)
    if request.stop > float(s2.edges[-1]):
        msg = f"the window ends at {request.stop:g} eV, above the data's {float(s2.edges[-1]):g}"
        raise InputError(msg, field="scan.stop_eV")
    progress.stage(f"two-step fit at {config.signal_line().key}")
    res = classic.fit_two_step(
        s1,
        s2,
        signal=config.signal_line(),
        statistic=f.statistic,
        signal_shape=f.signal_shape,
        profile=False,
    )
    energies = request.energies()
    out = scan_energy(
        res,
        s2,
        energies,
        level=request.level,
        on_point=lambda done, total: progress.update("energies", done, total),
    )
    factor = beta2half_from_counts(1.0, exp)
    for p in out["points"]:
        if p["valid"]:
            p["beta2half"] = {k: p[k] * factor for k in ("profile", "cls")}
    out = {
        "run": man.name,
        "statistic": f.statistic,
        "signal_shape": f.signal_shape,
        "window_eV": [request.start, request.stop],
        "step_eV": request.step,
        "decisions_at": config.signal_line().key,
        "decisions": res.decisions,
        "beta2half_per_count": factor,
        "n_int_model": exp.n_int_model,
        **out,
        "method": (
            "step 2 of the two-step fit refitted with the PEP line at each energy (the "
            "decisions of the fit at the configured line kept); limits and bands "
            "asymptotic (analysis.asymptotic); z_local = sqrt(q0), one-sided; the global "
            "p-value of the largest excess after Gross and Vitells, EPJC 70 (2010) 525, with "
            "the upcrossings of q0 = u0 counted in this scan (a noisy estimate of their mean)"
        ),
        "config": config.to_dict(),
    }
    results = results_dir(man)
    results.mkdir(parents=True, exist_ok=True)
    path = results / "scan.json"
    if figures:
        out["figures"] = {
            "scan": str(scan_figure(out, results / f"scan_{f.statistic}.png")),
        }
    write_json(path, out)
    out["json"] = str(path)
    return out
