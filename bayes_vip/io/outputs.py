"""Where a run's results live, and reading them back.

Every command writes into ``RUN/results/`` (``results_dir``): ``calibration.nc`` and
``calibration.json`` (``calibrate``), ``classic.json`` (``fit``), ``posterior.nc`` and
``limits.json`` (``sample``), and figures. Writers are atomic (``io.atomic``); readers raise
``InputError`` naming the file when it is missing or cannot be read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bayes_vip.errors import InputError
from bayes_vip.io.atomic import atomic_path

if TYPE_CHECKING:
    import xarray as xr

    from bayes_vip.io.manifest import Manifest

__all__ = [
    "BANDS_DIR",
    "FREQUENTIST_DIR",
    "NETCDF_ENGINE",
    "calibration_path",
    "check_writable",
    "classic_path",
    "load_calibration",
    "read_json",
    "results_dir",
    "save_netcdf",
]

#: netCDF engine of every file we write (HDF5 through h5netcdf).
NETCDF_ENGINE: Final = "h5netcdf"


#: Where ``bayes-vip study frequentist`` writes in RUN/results by default; ``fit`` and
#: ``sample`` take the limits from toys from there.
FREQUENTIST_DIR = "study-frequentist"
#: The bands study's folder under ``RUN/results`` by default (``bayes-vip study bands``);
#: ``sample`` takes the expected Bayesian limits from there.
BANDS_DIR = "study-bands"


def results_dir(man: Manifest) -> Path:
    """``RUN/results``: where the commands write the results of the run of ``man``."""
    return Path(man.path).parent / "results"


def check_writable(folder: str | os.PathLike, *, field: str | None = None) -> None:
    """Raise ``InputError`` unless files can be written in ``folder`` (made where missing).

    Checked before any work: the nearest existing folder on the way must be a folder, not a
    file, and writable. ``field`` names the option that gave the folder (``--out``), if any.
    """
    path = Path(folder)
    probe = path
    while not probe.exists() and not probe.is_symlink() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == path else f"cannot be made: {probe} is a file"
        msg = f"{where}, not a folder"
        raise InputError(msg, file=path, field=field)
    if not probe.exists():  # a dangling link on the way
        msg = f"cannot be made: {probe} is a broken link"
        raise InputError(msg, file=path, field=field)
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "is" if probe == path else f"cannot be made: {probe} is"
        msg = f"{where} not writable"
        raise InputError(msg, file=path, field=field)


def calibration_path(man: Manifest) -> Path:
    """Where ``calibrate`` writes the calibration of the run of manifest ``man``."""
    return results_dir(man) / "calibration.nc"


def classic_path(man: Manifest) -> Path:
    """Where ``fit`` writes the classic result of the run of manifest ``man``."""
    return results_dir(man) / "classic.json"


def load_netcdf(path: Path, *, what: str, missing: str) -> xr.Dataset:
    """A netCDF file fully loaded; a missing (``missing``) or damaged file is an InputError."""
    import xarray as xr

    if not path.is_file():
        raise InputError(missing, file=path)
    try:
        with xr.open_dataset(path, engine=NETCDF_ENGINE) as d:
            return d.load()
    except Exception as exc:  # h5py/xarray raise many types for a damaged file
        msg = f"cannot read {what}: {exc}"
        raise InputError(msg, file=path) from None


def load_calibration(path: Path) -> xr.Dataset:
    """The calibration dataset written by ``calibrate`` (fully loaded)."""
    return load_netcdf(
        path, what="calibration", missing="no calibration; run `bayes-vip calibrate RUN` first"
    )


def read_json(path: Path) -> dict[str, Any]:
    """A JSON result file; a truncated or corrupt one is an ``InputError`` naming it."""
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = "file not found"
        raise InputError(msg, file=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"not valid JSON (truncated?): {exc}"
        raise InputError(msg, file=path) from None
    if not isinstance(out, dict):
        msg = "expected a JSON object"
        raise InputError(msg, file=path)
    return out


def save_netcdf(ds: xr.Dataset, path: Path) -> None:
    """Write an xarray dataset (or ArviZ InferenceData) to netCDF, atomically."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=NETCDF_ENGINE)
