"""The classic fit's result: ``classic.json`` and its figures.

``classic_record`` assembles what ``classic.json`` holds from a ``ClassicResult`` (N_X, the
upper limits, the fit quality of both steps, the decisions, the conversion to beta^2/2);
``classic_figures`` draws both steps and the region of interest (``classic_*.png``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from bayes_vip.analysis.classic import ClassicResult
from bayes_vip.analysis.spectral import SPECTRA, JointModel, Spectra
from bayes_vip.physics.conversion import Exposure, beta2half_from_counts
from bayes_vip.results.plots import brazil, save

__all__ = ["CLASSIC_SCHEMA", "classic_figures", "classic_record", "plot_joint_fit"]

#: The version of what ``classic.json`` holds; ``pipeline.fit.ensure_classic`` fits again
#: where a run's file is older. 2: CLs limits and their expected bands (issue 15).
CLASSIC_SCHEMA = 2

_LABEL = {"on": "current on", "off": "current off"}


def _spectra_dict(sp: Spectra) -> dict[str, Any]:
    return {
        "periods": sp.periods,
        "sdd": sp.sdd,
        "edges_eV": [float(sp.edges[0]), float(sp.edges[-1])],
        "bin_eV": float(np.diff(sp.edges)[0]),
        "counts": {"on": float(sp.counts[0].sum()), "off": float(sp.counts[1].sum())},
    }


def classic_record(
    run_name: str,
    res: ClassicResult,
    s1: Spectra,
    s2: Spectra,
    exp: Exposure,
    *,
    signal_shape: str,
    config: dict[str, Any],
) -> dict[str, Any]:
    """What ``classic.json`` holds (``config``: the analysis configuration used)."""
    limits_counts = {
        "3sigma (seed 000: 3 x sigma(N_X))": res.ul_3sigma,
        **{f"profile {k}": v for k, v in res.profile_limits.items()},
        **{f"CLs {k}": v for k, v in res.cls_limits.items()},
    }
    expected = _expected_record(res, exp)
    return {
        "schema": CLASSIC_SCHEMA,
        "run": run_name,
        "statistic": res.statistic,
        "statistic_note": (
            "chi2: Neyman, variance = observed counts, empty bins variance 1; "
            "poisson: Baker-Cousins likelihood ratio, exact for 0 counts"
        ),
        "signal": res.signal.to_dict(),
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
            "q(N) = S(N) - S(N_hat >= 0) = Phi^-1(CL)^2; CLs: asymptotic CLs = p_mu / "
            "(1 - p_b) of q~_mu with q_A(N) from the background-only Asimov data "
            "(Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554)"
        ),
        **({"expected_limits": expected} if expected else {}),
        "conversion": {
            **exp.to_dict(),
            "n_int_model": exp.n_int_model,
            "beta2half_upper_limits": {
                k: beta2half_from_counts(v, exp) for k, v in limits_counts.items()
            },
            "formula": "beta^2/2 = N_X / (N_new * capture * N_int * efficiency) (seed 000 eq. 2)",
        },
        "config": config,
    }


def _expected_record(res: ClassicResult, exp: Exposure) -> dict[str, Any]:
    """The asymptotic expected limits in counts and in beta^2/2 (empty without them)."""
    ex = res.expected_limits
    if not ex:
        return {}
    return {
        "method": (
            "asymptotic: the background-only Asimov data (the step-2 model at N_X = 0, "
            "every other parameter fitted to the data there) give sigma_A(N) = N / "
            "sqrt(q_A(N)); the data at band n (N_X hat = n sigma_A; n > 0: more counts than "
            "expected, the higher limit) have their CLs limit where sqrt(q_A) = Phi^-1(1 - "
            "alpha Phi(n)) + n, and their profile limit where sqrt(q_A) = z + n (n >= 0) or "
            "n + sqrt(n^2 + z^2) (n < 0), z = Phi^-1(CL)"
        ),
        "reference": "Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554, secs. 3.2 and 3.7",
        "sigma_A_counts": ex["sigma_A"],
        "counts": ex["expected"],
        "beta2half": {
            method: {
                level: {b: beta2half_from_counts(v, exp) for b, v in bands.items()}
                for level, bands in levels.items()
            }
            for method, levels in ex["expected"].items()
        },
    }


def classic_figures(
    run_name: str, res: ClassicResult, s1: Spectra, s2: Spectra, out: Path, *, tag: str
) -> dict[str, str]:
    """Step 1, step 2 and the region of interest with the PEP line at its upper limit."""
    pep = {ln.name: ln.energy_eV for ln in res.signal.lines}
    st = res.statistic
    # each fit's curves are compiled and evaluated once: step 2 and the region share them
    curves1 = _curves(res.jm1, res.step1.x, s1.edges)
    curves2 = _curves(res.jm2, res.step2.x, s2.edges)
    figs = {
        "step1": plot_joint_fit(
            s1,
            curves1,
            f"{run_name}: step 1, {s1.edges[0]:g}-{s1.edges[-1]:g} eV ({st})",
            out / f"classic_step1_{tag}.png",
        ),
        "step2": plot_joint_fit(
            s2,
            curves2,
            f"{run_name}: step 2, {s2.edges[0]:g}-{s2.edges[-1]:g} eV "
            f"({st}); N_X = {res.n_x:.0f} +- {res.sigma_n_x:.0f}",
            out / f"classic_step2_{tag}.png",
            mark=pep,
        ),
    }
    ul = res.profile_limits.get("0.997", res.ul_3sigma)
    figs["roi"] = plot_joint_fit(
        s2,
        curves2,
        f"{run_name}: region of interest; magenta: PEP line at its upper limit {ul:.0f} counts",
        out / f"classic_roi_{tag}.png",
        xlim=(7400.0, 8400.0),
        logy=False,
        mark=pep,
        extra={"PEP at upper limit": ul * curves2.signal},
    )
    if res.expected_limits:
        figs["expected"] = expected_figure(run_name, res, out / f"classic_expected_{tag}.png")
    return {k: str(v) for k, v in figs.items()}


def expected_figure(run_name: str, res: ClassicResult, path: Path) -> Path:
    """The observed profile and CLs limits against their asymptotic expected bands."""
    rows = []
    names = {"profile": ("profile", res.profile_limits), "cls": ("CLs", res.cls_limits)}
    for method, (name, observed) in names.items():
        for level, b in res.expected_limits["expected"][method].items():
            bands = {"median": b["+0"], **{k: v for k, v in b.items() if k != "+0"}}
            rows.append((f"{name} {100 * float(level):g} %", bands, observed.get(level)))
    return brazil(
        rows,
        xlabel="upper limit on $N_X$ [counts]",
        title=f"{run_name}: asymptotic (Asimov), {res.statistic}",
        label="classic limits",
        path=path,
    )


class _Curves(NamedTuple):
    """A fit's expected counts (2, n), its components, and a PEP X-ray's bin probabilities.

    ``signal`` is for the current-on spectrum, and None when the fit has no signal.
    """

    total: np.ndarray
    components: dict[str, np.ndarray]
    signal: np.ndarray | None


def _curves(jm: JointModel, x, edges) -> _Curves:
    """A fit's curves at ``x``, in one compiled call.

    Run op by op, the same curves compiled some 200 small kernels and took about 4 s per
    figure (`bayes-vip fit` on the demo spent 11 of its 28 s in its three figures, 5 s now).
    """
    e = jnp.asarray(edges)

    def curves(v):
        sig = None if jm.signal is None else jm.signal_probabilities(e, jm.full(v))
        return jm.expected(v, e), jm.components(v, e), sig

    mu, comps, sig = jax.jit(curves)(jnp.asarray(x))
    return _Curves(
        np.asarray(mu),
        {k: np.asarray(c) for k, c in comps.items()},
        None if sig is None else np.asarray(sig),
    )


def plot_joint_fit(
    spectra: Spectra,
    curves: _Curves,
    title: str,
    path: Path,
    *,
    xlim: tuple[float, float] | None = None,
    logy: bool = True,
    mark: dict[str, float] | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> Path:
    """Both spectra with the total fit, its components, and the residuals (data - fit)/sqrt(fit).

    ``curves``: the fit's (``_curves``). ``mark``: vertical lines (label -> energy).
    ``extra``: additional curves for the current-on panel (label -> expected counts per
    bin), e.g. the PEP line at its limit.
    """
    mu, comps = curves.total, curves.components
    c = spectra.centres
    sel = np.ones_like(c, dtype=bool) if xlim is None else (c >= xlim[0]) & (c <= xlim[1])
    fig, axes = plt.subplots(4, 1, figsize=(11, 11), height_ratios=[3, 1, 3, 1], sharex=True)
    for j, s in enumerate(SPECTRA):
        ax, axr = axes[2 * j], axes[2 * j + 1]
        n = spectra.counts[j]
        ax.errorbar(
            c[sel],
            n[sel],
            yerr=np.sqrt(np.maximum(n[sel], 1)),
            fmt=".",
            ms=2,
            color="k",
            lw=0.5,
            label=f"data, {_LABEL[s]}",
        )
        ax.plot(c[sel], mu[j][sel], color="C3", lw=1.2, label="fit")
        for k, (name, comp) in enumerate(comps.items()):
            if np.max(comp[j][sel], initial=0.0) <= 0:
                continue
            ax.plot(c[sel], comp[j][sel], lw=0.8, ls="--", color=f"C{k % 10}", label=name)
        if extra and s == "on":
            for name, curve in extra.items():
                ax.plot(c[sel], curve[sel], lw=1.2, color="m", label=name)
        for name, e in (mark or {}).items():
            ax.axvline(e, color="grey", lw=0.6, ls=":")
            ax.text(
                e,
                0.97,
                name,
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                transform=ax.get_xaxis_transform(),
            )
        if logy:
            ax.set_yscale("log")
            ax.set_ylim(max(0.5, 0.3 * np.min(mu[j][sel])), 3 * np.max(n[sel]))
        ax.set_ylabel(f"counts / {np.diff(spectra.edges)[0]:g} eV")
        ax.legend(fontsize=7, ncol=3, loc="upper right")
        res = (n - mu[j]) / np.sqrt(np.maximum(mu[j], 1e-9))
        axr.plot(c[sel], res[sel], ".", ms=2, color="k")
        axr.axhline(0, color="C3", lw=0.8)
        axr.set_ylabel("(data-fit)/sqrt(fit)", fontsize=8)
        axr.set_ylim(-5, 5)
    axes[-1].set_xlabel("energy [eV]")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)
