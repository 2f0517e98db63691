"""The exposure of a run: what multiplies beta^2/2 to give the expected PEP counts.

``run_exposure`` combines the manifest's target and efficiency with the charge that passed
through the target while the detectors were live (seed 000 eq. 2); both analyses call it.
"""

from __future__ import annotations

from bayes_vip.io.manifest import Manifest
from bayes_vip.physics.conversion import Exposure, exposure

__all__ = ["run_exposure"]


def run_exposure(man: Manifest, *, charge_C: float, on_time_s: float, n_int_model: str) -> Exposure:
    """The exposure of the run of ``man``.

    Parameters
    ----------
    charge_C : sum of I * t over the current-on data analysed [C].
    on_time_s : live time of that data [s] (the mean current, charge / time, is what the
        close-encounter N_int needs).
    n_int_model : a key of ``physics.conversion.N_INT_MODELS``.
    """
    return exposure(
        charge_C=charge_C,
        length_cm=man.target.length_cm,
        mean_free_path_cm=man.target.mean_free_path_cm,
        efficiency=man.efficiency.value,
        n_int_model=n_int_model,
        current_A=charge_C / on_time_s,
        cross_section_cm2=man.target.cross_section_cm2,
    )
