"""``bayes-vip calibrate``: calibrate an ADC-level run; and the energy-level view of any run.

Calibrating writes ``calibration.nc``, ``calibration.json`` and figures.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayes_vip.errors import InputError
from bayes_vip.io.atomic import write_json
from bayes_vip.io.campaign import build_campaign
from bayes_vip.io.config import AnalysisConfig
from bayes_vip.io.manifest import Manifest, load_manifest
from bayes_vip.io.outputs import calibration_path, load_calibration, results_dir, save_netcdf
from bayes_vip.pipeline.progress import SILENT, Progress

__all__ = ["DITHER_SEED", "calibrate", "dither_rng", "energy_campaign", "ensure_calibration"]

#: Seed of the dither that places ADC counts uniformly within their channel when a
#: calibrated energy spectrum is made: fixed, so that the same calibration gives the same
#: spectra and reports.
DITHER_SEED = 0


def dither_rng() -> np.random.Generator:
    """A fresh generator for the dither of ADC counts (``DITHER_SEED``)."""
    return np.random.default_rng(DITHER_SEED)


def calibrate(
    run: str | Path,
    config: AnalysisConfig,
    *,
    progress: Progress = SILENT,
    figures: bool = True,
) -> dict[str, Any]:
    """Calibrate ``run`` (``config.calibration``) and write calibration.nc / .json and figures.

    Returns the summary that calibration.json holds.
    """
    from bayes_vip.calibration.calibrate import CalibrationWarning, regroup_batches
    from bayes_vip.calibration.calibrate import calibrate as calibrate_cells
    from bayes_vip.calibration.cu_ka import fit_cu_ka, summed_energy_spectrum
    from bayes_vip.results.calibration import calibration_figures, calibration_record

    c = config.calibration
    man = load_manifest(run)
    ds = build_campaign(man)
    if ds.attrs["level"] != "adc":
        msg = "this run is already energy-calibrated (run.level = energy); calibrate needs ADC data"
        raise InputError(
            msg,
            file=man.path,
            field="run.level",
        )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # collected into the result
        cal = calibrate_cells(
            ds,
            batch_hours=c.batch_hours,
            refine=c.refine,
            refine_lines=c.refine_lines,
            progress=lambda task, done, total: progress.update(task, done, total),
            refine_kwargs={"iterations": c.iterations},
        )
    seconds = time.perf_counter() - t0
    ok = cal["status"].values == 0
    counts = regroup_batches(ds, c.batch_hours)["counts"].values
    table = {}
    for which in ("standard", "refined") if c.refine else ("standard",):
        h, e = summed_energy_spectrum(counts, cal[f"p_{which}"].values, ok, rng=dither_rng())
        table["reference" if which == "standard" else "optimized"] = fit_cu_ka(h, e)
    truth = man.raw.get("truth")
    if truth is not None and "calibration" in truth and c.batch_hours is None:
        p_true = np.asarray(truth["calibration"])
        if p_true.shape[:3] == ok.shape:
            h, e = summed_energy_spectrum(counts, p_true, ok, rng=dither_rng())
            table["true calibration"] = fit_cu_ka(h, e)
    summary = calibration_record(
        man.name, cal, table, batch_hours=c.batch_hours, refine=c.refine, seconds=seconds
    )
    summary["config"] = {"calibration": config.to_dict()["calibration"]}
    out = results_dir(man)
    out.mkdir(parents=True, exist_ok=True)
    save_netcdf(cal, calibration_path(man))
    write_json(out / "calibration.json", summary)
    if figures:
        summary["figures"] = calibration_figures(cal, table, out)
        write_json(out / "calibration.json", summary)
    return summary


def ensure_calibration(
    run: str | Path, config: AnalysisConfig, *, progress: Progress = SILENT
) -> xr.Dataset | None:
    """The calibration of an ADC-level run, calibrating it first if it has none.

    None for an energy-level run.
    """
    man = load_manifest(run)
    if man.level != "adc":
        return None
    if not calibration_path(man).is_file():
        progress.stage("calibration")
        calibrate(run, config, progress=progress)
    return load_calibration(calibration_path(man))


def energy_campaign(man: Manifest, ds: xr.Dataset | None = None) -> xr.Dataset:
    """The energy-level Campaign of a run.

    The run itself, or its ADC data through ``calibrate``'s refined constants
    (``RUN/results/calibration.nc``).
    """
    ds = build_campaign(man) if ds is None else ds
    if ds.attrs.get("level") == "energy":
        return ds
    from bayes_vip.calibration.calibrate import calibrated_campaign

    cal = load_calibration(calibration_path(man))
    return calibrated_campaign(ds, cal, which="refined", rng=dither_rng())
