"""``bayes-vip scan``: the classic limits for a PEP line anywhere in an energy window.

The two-step fit runs once at the configured line (``config.signal``), which fixes its
decisions; then step 2 is refitted with the line at each energy of the window
(``analysis.scan``). Writes ``scan.json`` and ``scan_<statistic>.png`` into ``RUN/results``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayes_vip.analysis.conventions import ROI_EV
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import write_json
from bayes_vip.io.config import AnalysisConfig
from bayes_vip.io.manifest import load_manifest
from bayes_vip.io.outputs import results_dir
from bayes_vip.physics.conversion import beta2half_from_counts
from bayes_vip.pipeline.inputs import fit_inputs
from bayes_vip.pipeline.progress import SILENT, Progress

if TYPE_CHECKING:
    from bayes_vip.analysis.classic import ClassicResult
    from bayes_vip.analysis.spectral import Spectra
    from bayes_vip.io.manifest import Manifest
    from bayes_vip.physics.conversion import Exposure

__all__ = ["ScanRequest", "check_window", "scan", "scan_from_fit", "scan_summary"]

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

    f = config.fit
    man = load_manifest(run)
    s1, s2, exp = fit_inputs(man, config)
    check_window(request, s2)
    progress.stage(f"two-step fit at {config.signal_line().key}")
    res = classic.fit_two_step(
        s1,
        s2,
        signal=config.signal_line(),
        statistic=f.statistic,
        signal_shape=f.signal_shape,
        profile=False,
    )
    return scan_from_fit(man, config, request, res, s2, exp, progress=progress, figures=figures)


def check_window(request: ScanRequest, s2: Spectra) -> None:
    """An ``InputError`` if the window ends above the step-2 spectra."""
    if request.stop > float(s2.edges[-1]):
        msg = f"the window ends at {request.stop:g} eV, above the data's {float(s2.edges[-1]):g}"
        raise InputError(msg, field="scan.stop_eV")


def scan_from_fit(
    man: Manifest,
    config: AnalysisConfig,
    request: ScanRequest,
    res: ClassicResult,
    s2: Spectra,
    exp: Exposure,
    *,
    progress: Progress = SILENT,
    figures: bool = True,
) -> dict[str, Any]:
    """The scan around the two-step fit ``res``: ``scan.json`` (and its figure) written."""
    from bayes_vip.analysis.scan import scan_energy
    from bayes_vip.results.scan import scan_figure

    f = config.fit
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


def scan_summary(rec: dict[str, Any]) -> dict[str, Any]:
    """The scan in brief, for ``classic.json`` and ``limits.json``.

    The window, the level, the largest excess with its look-elsewhere p-value, and per
    energy N_X, its local Z and the observed and expected (median) limits in counts;
    ``scan.json`` has the rest.
    """
    key = "+0"
    return {
        "window_eV": rec["window_eV"],
        "step_eV": rec["step_eV"],
        "level": rec["level"],
        "largest_excess": rec["largest_excess"],
        "json": rec.get("json"),
        "points": [
            {
                "energy_eV": p["energy_eV"],
                "valid": p["valid"],
                **(
                    {
                        "N_X": p["N_X"],
                        "sigma_N_X": p["sigma_N_X"],
                        "z_local": p["z_local"],
                        "profile": p["profile"],
                        "cls": p["cls"],
                        "expected_cls_median": p["expected_cls"][key],
                        "expected_profile_median": p["expected_profile"][key],
                    }
                    if p["valid"]
                    else {}
                ),
            }
            for p in rec["points"]
        ],
    }
