"""Run the classic analysis on a run directory and write ``results/classic.json`` + figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayes_vip.analysis import classic
from bayes_vip.analysis.spectral import Spectra, spectra_from_campaign
from bayes_vip.calibration.report import energy_campaign
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import write_json
from bayes_vip.io.manifest import load_manifest
from bayes_vip.physics.conversion import beta2half_from_counts, exposure
from bayes_vip.physics.lines import pep_signal
from bayes_vip.results.plots import plot_joint_fit

__all__ = ["run_fit", "signal_from_option"]


def signal_from_option(value: str):
    """``--signal-energy``: ka1, ka2, doublet or an energy in eV."""
    try:
        return pep_signal(value)
    except ValueError as exc:
        raise InputError(str(exc), field="--signal-energy") from None


def _spectra_dict(sp: Spectra) -> dict:
    return {
        "periods": sp.periods,
        "sdd": sp.sdd,
        "edges_eV": [float(sp.edges[0]), float(sp.edges[-1])],
        "bin_eV": float(np.diff(sp.edges)[0]),
        "counts": {"on": float(sp.counts[0].sum()), "off": float(sp.counts[1].sum())},
    }


def run_fit(
    run: str | Path,
    *,
    signal: str = "ka1",
    statistic: str = "chi2",
    sdd: int | None = None,
    bin_eV: float = 10.0,
    n_int_model: str = "rs",
    figures: bool = True,
    out_dir: Path | None = None,
    signal_shape: str = "response",
) -> dict:
    """The classic two-step analysis of ``run``; returns the result written to classic.json.

    Nothing is written unless both fits are valid (``AnalysisError`` otherwise).
    """
    classic.cost_function(statistic)  # validates the choice before any work
    from bayes_vip.physics.conversion import N_INT_MODELS

    if n_int_model not in N_INT_MODELS:
        raise InputError(
            f"unknown N_int model {n_int_model!r}; available: {sorted(N_INT_MODELS)}",
            field="--n-int",
        )
    if signal_shape not in ("response", "gaussian"):
        raise InputError(
            f"must be response or gaussian, got {signal_shape!r}", field="--signal-shape"
        )
    sig = signal_from_option(signal)
    man = load_manifest(run)
    # ADC-level runs are analysed through their calibration (bayes-vip calibrate)
    ds = energy_campaign(man)
    top = float(ds["channel_hi"].values[-1])
    hi1 = min(classic.STEP1_RANGE[1], top)
    hi2 = min(classic.STEP2_RANGE[1], top)
    s1 = spectra_from_campaign(ds, classic.STEP1_RANGE[0], hi1, bin_eV, sdd, run=man.path)
    s2 = spectra_from_campaign(ds, classic.STEP2_RANGE[0], hi2, bin_eV, sdd, run=man.path)
    res = classic.fit_two_step(s1, s2, signal=sig, statistic=statistic, signal_shape=signal_shape)

    on_time = sum(float(ds["time_s"].sel(period=p)) for p in s2.periods["on"])
    exp = exposure(
        charge_C=s2.charge_C,
        length_cm=man.target.length_cm,
        mean_free_path_cm=man.target.mean_free_path_cm,
        efficiency=man.efficiency.value,
        n_int_model=n_int_model,
        current_A=s2.charge_C / on_time,
        cross_section_cm2=man.target.cross_section_cm2,
    )
    limits_counts = {
        "3sigma (seed 000: 3 x sigma(N_X))": res.ul_3sigma,
        **{f"profile {k}": v for k, v in res.profile_limits.items()},
    }
    out = {
        "run": man.name,
        "statistic": statistic,
        "statistic_note": (
            "chi2: Neyman, variance = observed counts, empty bins variance 1; "
            "poisson: Baker-Cousins likelihood ratio, exact for 0 counts"
        ),
        "signal": sig.to_dict(),
        "signal_shape": signal_shape,
        "signal_shape_note": (
            "response: Gaussian + tail + shelf like every line, N_X counts all "
            "detected PEP X-rays; gaussian: the core only (seed 000)"
        ),
        "spectra": {"step1": _spectra_dict(s1), "step2": _spectra_dict(s2)},
        "step1": res.step1.to_dict(),
        "step2": res.step2.to_dict(),
        "decisions": res.decisions,
        "energy_shift_eV": [res.step2.values["shift"], res.step2.errors["shift"]],
        "fwhm_cu_ka1_eV": {s: list(v) for s, v in res.fwhm_cu_ka.items()},
        "N_X": res.n_x,
        "sigma_N_X": res.sigma_n_x,
        "upper_limits_counts": limits_counts,
        "profile_limit_note": (
            "one-sided asymptotic profile-likelihood limits on N_X >= 0: "
            "q(N) = S(N) - S(N_hat >= 0) = Phi^-1(CL)^2"
        ),
        "conversion": {
            **exp.to_dict(),
            "n_int_model": n_int_model,
            "beta2half_upper_limits": {
                k: beta2half_from_counts(v, exp) for k, v in limits_counts.items()
            },
            "formula": "beta^2/2 = N_X / (N_new * capture * N_int * efficiency) (seed 000 eq. 2)",
        },
    }
    results = (Path(man.run_dir) if out_dir is None else Path(out_dir)) / "results"
    figs = {}
    if figures:
        tag = f"{statistic}" + (f"_sdd{sdd}" if sdd is not None else "")
        figs["step1"] = plot_joint_fit(
            s1,
            res.jm1,
            res.step1.x,
            f"{man.name}: step 1, {s1.edges[0]:g}-{s1.edges[-1]:g} eV ({statistic})",
            results / f"classic_step1_{tag}.png",
        )
        pep = {ln.name: ln.energy_eV for ln in sig.lines}
        figs["step2"] = plot_joint_fit(
            s2,
            res.jm2,
            res.step2.x,
            f"{man.name}: step 2, {s2.edges[0]:g}-{s2.edges[-1]:g} eV "
            f"({statistic}); N_X = {res.n_x:.0f} +- {res.sigma_n_x:.0f}",
            results / f"classic_step2_{tag}.png",
            mark=pep,
        )
        import jax.numpy as jnp

        d = res.jm2.full(jnp.asarray(res.step2.x))
        ul = res.profile_limits.get("0.997", res.ul_3sigma)
        at_ul = ul * np.asarray(res.jm2.signal_probabilities(jnp.asarray(s2.edges), d))
        figs["roi"] = plot_joint_fit(
            s2,
            res.jm2,
            res.step2.x,
            f"{man.name}: region of interest; magenta: PEP line at its upper limit {ul:.0f} counts",
            results / f"classic_roi_{tag}.png",
            xlim=(7400.0, 8400.0),
            logy=False,
            mark=pep,
            extra={"PEP at upper limit": at_ul},
        )
    out["figures"] = {k: str(v) for k, v in figs.items()}
    write_json(results / "classic.json", out)
    out["json"] = str(results / "classic.json")
    return out
