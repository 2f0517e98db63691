"""The inputs of the classic analyses: a run's step-1 and step-2 spectra and its exposure.

Shared by ``bayes-vip fit``, ``scan`` and ``reproduce``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bayes_vip.analysis.conventions import ROI_EV, STEP1_RANGE_EV
from bayes_vip.analysis.exposure import run_exposure
from bayes_vip.io.config import AnalysisConfig

if TYPE_CHECKING:
    from bayes_vip.analysis.spectral import Spectra
    from bayes_vip.io.manifest import Manifest
    from bayes_vip.physics.conversion import Exposure

__all__ = ["campaign_exposure", "fit_inputs"]


def fit_inputs(man: Manifest, config: AnalysisConfig) -> tuple[Spectra, Spectra, Exposure]:
    """The spectra of steps 1 and 2 (``config.fit``'s bins and SDD) and the exposure."""
    from bayes_vip.analysis.spectral import spectra_from_campaign
    from bayes_vip.pipeline.calibrate import energy_campaign

    f = config.fit
    ds = energy_campaign(man)
    top = float(ds["channel_hi"].values[-1])
    (lo1, hi1), (lo2, hi2) = STEP1_RANGE_EV, ROI_EV
    s1 = spectra_from_campaign(ds, lo1, min(hi1, top), f.bin_eV, f.sdd, run=man.path)
    s2 = spectra_from_campaign(ds, lo2, min(hi2, top), f.bin_eV, f.sdd, run=man.path)
    return s1, s2, campaign_exposure(man, ds, config)


def campaign_exposure(man: Manifest, ds: Any, config: AnalysisConfig) -> Exposure:
    """The exposure of the cells that ``config.fit.sdd`` selects (all SDDs if None)."""
    import numpy as np

    sdd = config.fit.sdd
    cells = ds if sdd is None else ds.sel(sdd=[sdd])
    live = cells["live_time_s"].values  # (period, sdd, batch)
    return run_exposure(
        man,
        current_A=np.broadcast_to(cells["current_A"].values[:, None, None], live.shape),
        live_s=live,
        n_sdd=ds.sizes["sdd"],
        n_int_model=config.n_int,
    )
