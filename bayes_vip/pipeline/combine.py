"""``bayes-vip fit RUN1 RUN2 ...`` and ``bayes-vip sample RUN1 RUN2 ...``: runs combined.

One beta^2/2 for all runs; each run keeps its own nuisances and conversion factor
(``analysis.combine`` for the classic fit, ``bayes.combine`` for the hierarchical model).
The results go to a combination folder (``--out``; default ``runs/combined-NAME1+NAME2``)
holding ``combination.toml`` (the runs, as paths from that folder) and ``results/``:
``classic.json`` and ``combined_profile.png`` from ``fit``; ``posterior.nc``,
``limits.json`` and figures from ``sample``, with each run's own limits beside the combined
ones (from each run's own results, analysed first where they are missing or made otherwise).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bayes_vip.analysis.conventions import CLS
from bayes_vip.bayes.checkpoint import CHECKPOINT_EVERY, Checkpoint, data_hash, read_meta
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import result_set, write_json
from bayes_vip.io.combination import COMBINATION, combination_runs, write_combination
from bayes_vip.io.config import AnalysisConfig, load_config
from bayes_vip.io.manifest import Manifest, load_manifest, manifest_path
from bayes_vip.io.outputs import read_json
from bayes_vip.pipeline.progress import SILENT, Progress

__all__ = [
    "COMBINATION",
    "check_out",
    "check_runs",
    "combination_runs",
    "default_out",
    "fit_runs",
    "sample_runs",
]


def default_out(mans: list[Manifest]) -> Path:
    """``runs/combined-NAME1+NAME2...``: the default combination folder."""
    return Path("runs") / ("combined-" + "+".join(m.name for m in mans))


def check_runs(
    runs: list[Path], *, config_file: Path | None, overrides: dict[str, Any]
) -> tuple[list[Manifest], AnalysisConfig]:
    """The runs' manifests and their common configuration, checked before any work.

    Every manifest must load; no run may be given twice; every run's configuration (its
    ``run.toml``'s ``[analysis]``, ``config_file`` and ``overrides``) must be the same, and
    its prior flat in beta^2/2 (runs with different conversions share no count scale).
    """
    mans = [load_manifest(r) for r in runs]
    seen: dict[Path, str] = {}
    for r, m in zip(runs, mans, strict=True):
        key = m.path.resolve()
        if key in seen:
            msg = f"run given twice ({seen[key]} and {r})"
            raise InputError(msg, file=m.path)
        seen[key] = str(r)
    names = [m.name for m in mans]
    if len(set(names)) < len(names):
        msg = f"two runs have the same name ({', '.join(names)}); each needs its own run.name"
        raise InputError(msg, field="run.name")
    cfgs = [load_config(r, config_file=config_file, overrides=overrides) for r in runs]
    first = cfgs[0].to_dict()
    for r, m, c in zip(runs[1:], mans[1:], cfgs[1:], strict=True):
        have = c.to_dict()
        diff = _first_difference(first, have)
        if diff is not None:
            msg = (
                f"run {m.name!r} is configured otherwise than {mans[0].name!r} ({diff}: "
                f"{_at(have, diff)!r} against {_at(first, diff)!r}); combined runs are analysed "
                "alike"
            )
            raise InputError(msg, file=manifest_path(r), field=f"analysis.{diff}")
    levels = {m.level for m in mans}
    if len(levels) > 1:
        msg = f"the runs are at different levels ({', '.join(m.level for m in mans)})"
        raise InputError(msg, field="run.level")
    if cfgs[0].sample.prior != "flat-beta":
        msg = "several runs are combined in beta^2/2: use --prior flat-beta"
        raise InputError(msg, field="--prior")
    return mans, cfgs[0]


def check_out(out: Path, mans: list[Manifest]) -> None:
    """A combination's folder must not be a run's, nor hold another combination.

    ``out`` holding a ``run.toml`` (a run's folder: its own results would be overwritten), or
    a ``combination.toml`` naming other runs (its posterior would be mixed with new fits),
    is an ``InputError`` naming ``--out``.
    """
    if (out / "run.toml").exists():
        msg = f"{out} is a run's folder (it holds run.toml); give the combination its own"
        raise InputError(msg, field="--out")
    have = combination_runs(out)
    if have is not None:
        want = {m.run_dir.resolve() for m in mans}
        if {Path(p).resolve() for p in have} != want:
            msg = (
                f"{out} holds another combination ({out / COMBINATION}); give another --out, "
                "or remove it"
            )
            raise InputError(msg, field="--out")


def _first_difference(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> str | None:
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            d = _first_difference(va, vb, f"{prefix}{k}.")
            if d is not None:
                return d
        elif va != vb:
            return f"{prefix}{k}"
    return None


def _at(d: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def _results(out: Path) -> Path:
    return out / "results"


def fit_runs(
    runs: list[Path],
    config: AnalysisConfig,
    out: Path,
    *,
    progress: Progress = SILENT,
    figures: bool = True,
) -> dict[str, Any]:
    """The classic fits of ``runs`` combined in beta^2/2: ``OUT/results/classic.json``.

    Each run is fitted as ``bayes-vip fit`` fits it (its own ``classic.json`` is written or
    reused); the joint profile likelihood in beta^2/2 (``analysis.combine.CombinedProfile``)
    gives the combined estimate, its profile-likelihood and CLs limits and their Asimov
    bands, and ``combined_profile.png`` shows every run's curve and the joint one.
    """
    from bayes_vip.analysis import classic
    from bayes_vip.analysis.asymptotic import frequentist_limits
    from bayes_vip.analysis.combine import CombinedProfile
    from bayes_vip.bayes.model import BETA_UNIT
    from bayes_vip.pipeline.fit import ensure_classic
    from bayes_vip.pipeline.inputs import fit_inputs

    mans = [load_manifest(r) for r in runs]
    t0 = time.perf_counter()
    f = config.fit
    per_run, profiles, ks = [], [], []
    for r, man in zip(runs, mans, strict=True):
        progress.stage(f"{man.name}: classic fit")
        own = ensure_classic(r, config, progress=progress, figures=figures)
        s1, s2, exp = fit_inputs(man, config)
        res = classic.fit_two_step(
            s1,
            s2,
            signal=config.signal_line(),
            statistic=f.statistic,
            signal_shape=f.signal_shape,
            profile=False,
        )
        fitter = classic._Fitter(res.jm2, s2, f.statistic)
        profiles.append(classic._ClassicProfile(fitter, res.step2))
        ks.append(exp.counts_per_beta2half * BETA_UNIT)
        per_run.append(_run_classic(man, own, ks[-1]))
    progress.stage("joint profile likelihood in beta^2/2")
    prof = CombinedProfile(profiles, ks)
    freq = frequentist_limits(prof, prof.observed, CLS)
    b_hat, s_hat = prof.best(prof.observed)
    K = float(sum(ks))
    lim_b = {
        "3sigma (3 x sigma)": 3.0 * prof.scale,
        **{f"profile {k}": v for k, v in freq["profile"].items()},
        **{f"CLs {k}": v for k, v in freq["cls"].items()},
    }
    rec: dict[str, Any] = {
        "schema": 1,
        "combined": True,
        "run": "+".join(m.name for m in mans),
        "runs": per_run,
        "statistic": f.statistic,
        "signal": config.signal_line().to_dict(),
        "beta2half_hat": b_hat * BETA_UNIT,
        "sigma_beta2half": prof.scale * BETA_UNIT,
        "statistic_at_best": s_hat,
        "N_X": b_hat * K,
        "sigma_N_X": prof.scale * K,
        "N_X_note": (
            f"counts summed over the runs at their nominal efficiencies (counts per 1e-29: {K:.6g})"
        ),
        "upper_limits_counts": {k: v * K for k, v in lim_b.items()},
        "expected_limits": {
            "sigma_A_counts": freq["sigma_A"] * K,
            "counts": {
                m: {lv: {b: v * K for b, v in bands.items()} for lv, bands in levels.items()}
                for m, levels in freq["expected"].items()
            },
        },
        "conversion": {
            "n_int_model": config.n_int,
            "counts_per_beta2half": K / BETA_UNIT,
            "beta2half_upper_limits": {k: v * BETA_UNIT for k, v in lim_b.items()},
            "formula": (
                "S(b) = sum over runs of S_r(N_X = b k_r), each minimised over the run's own "
                "nuisances; k_r = N_new * capture * N_int * efficiency per unit beta^2/2 "
                "(seed 000 eq. 2), efficiencies nominal"
            ),
        },
        "config": config.to_dict(),
    }
    res_dir = _results(out)
    write_combination(out, mans)
    with result_set(res_dir) as stage:
        figs = {}
        if figures:
            progress.stage("figures")
            path = _profile_figure(prof, per_run, b_hat, s_hat, stage / "combined_profile.png")
            figs["profile"] = str(res_dir / path.name)
        rec["figures"] = figs
        rec["seconds"] = time.perf_counter() - t0
        write_json(stage / "classic.json", rec)
    rec["json"] = str(res_dir / "classic.json")
    _report(out, rec, figures)
    return rec


def _report(out: Path, rec: dict[str, Any], figures: bool) -> None:
    """The combination's ``report.html`` (``results.report``), as ``fit`` and ``sample`` do."""
    from bayes_vip.pipeline.fit import reports_on

    if figures and reports_on():
        from bayes_vip.results.report import write_report

        rec["report"] = str(write_report(out))


def _run_classic(man: Manifest, own: dict[str, Any], k: float) -> dict[str, Any]:
    """A run's own classic result for the combined record: N_X, sigma, limits in beta^2/2."""
    return {
        "run": man.name,
        "N_X": own["N_X"],
        "sigma_N_X": own["sigma_N_X"],
        "counts_per_1e-29": k,
        "beta2half_hat": own["N_X"] / k * 1e-29,
        "beta2half_upper_limits": own["conversion"]["beta2half_upper_limits"],
        "classic_json": str(Path(man.run_dir) / "results" / "classic.json"),
    }


def _profile_figure(prof: Any, per_run: list[dict], b_hat: float, s_hat: float, path: Path):
    """Each run's profile curve and the joint one, Delta S against beta^2/2."""
    import matplotlib.pyplot as plt
    import mplhep
    import numpy as np

    from bayes_vip.results.plots import save

    lo = b_hat - 3.0 * prof.scale
    hi = b_hat + 5.0 * prof.scale
    x = np.linspace(min(lo, -prof.scale), hi, 25)
    with plt.style.context(mplhep.style.ROOT):
        fig, ax = plt.subplots(figsize=(8, 5.5))
        for p, kr, r, d in zip(prof.profiles, prof.k, per_run, prof.observed, strict=True):
            n_hat, s_r = p.best(d)
            y = [p.deviance(b * kr, d) - s_r for b in x]
            ax.plot(x, y, lw=1.5, label=f"{r['run']} ($\\hat N_X$ = {n_hat:.1f})")
        y = [prof.deviance(b, prof.observed) - s_hat for b in x]
        ax.plot(x, y, color="k", lw=2.5, label="combined")
        ax.axhline(2.706, color="0.5", ls=":", lw=1)
        ax.text(x[0], 2.8, "$\\Delta S$ = 2.71 (one-sided 95 %)", fontsize=11, color="0.4")
        ax.axvline(0.0, color="0.7", lw=0.8)
        ax.set_xlabel(r"$\beta^2/2$ [$10^{-29}$]")
        ax.set_ylabel(r"$\Delta S$ (profile)")
        ax.set_ylim(0, 12)
        ax.legend(fontsize=11, loc="upper right")
        fig.tight_layout()
        return save(fig, path)


def _run_limits(
    run: Path, config: AnalysisConfig, *, progress: Progress, figures: bool
) -> dict[str, Any]:
    """A run's own Bayesian limits: its ``limits.json`` if made under ``config``, else sampled."""
    from bayes_vip.io.outputs import results_dir
    from bayes_vip.pipeline.sample import sample

    man = load_manifest(run)
    path = results_dir(man) / "limits.json"
    if path.is_file():
        lim = read_json(path)
        made = lim.get("result_set", {})
        if made.get("config") == config.to_dict() and made.get("seed") == config.sample.seed:
            return lim
    progress.stage(f"{man.name}: sampled alone")
    return sample(run, config, progress=progress, figures=figures)


def _run_row(man: Manifest, lim: dict[str, Any]) -> dict[str, Any]:
    """A run's own limits in the combined record."""
    ul = lim["upper_limits"]["beta2half"]
    return {
        "run": man.name,
        "beta2half_upper_limits": {
            q: {"value": v["value"], "mcse": v["mcse"]}
            for q, v in ul.items()
            if isinstance(v, dict)
        },
        "N_X_upper_limits": {
            q: v["value"] for q, v in lim["upper_limits"]["N_X"].items() if isinstance(v, dict)
        },
        "gates_passed": lim["gates"]["passed"],
        "limits_json": str(Path(man.run_dir) / "results" / "limits.json"),
    }


def _ensure_combined_classic(
    runs: list[Path], config: AnalysisConfig, out: Path, *, progress: Progress, figures: bool
) -> dict[str, Any]:
    """``OUT/results/classic.json`` if made from these runs under ``config``, else fitted."""
    path = _results(out) / "classic.json"
    names = [load_manifest(r).name for r in runs]
    if path.is_file():
        c = read_json(path)
        have = c.get("config", {})
        want = config.to_dict()
        same = [r.get("run") for r in c.get("runs", [])] == names
        if same and all(have.get(k) == want[k] for k in ("signal", "n_int", "fit")):
            return c
    return fit_runs(runs, config, out, progress=progress, figures=figures)


def sample_runs(
    runs: list[Path],
    config: AnalysisConfig,
    out: Path,
    *,
    progress: Progress = SILENT,
    figures: bool = True,
    resume: bool = False,
    extend: int = 0,
    checkpoint_every: int | None = None,
) -> dict[str, Any]:
    """The hierarchical analysis of ``runs`` together: one beta^2/2 (``bayes.combine``).

    Each run is first analysed alone (``bayes-vip sample RUN``, where its results are missing
    or made otherwise), and the classic fits are combined (``fit_runs``); the combined model
    is then sampled with the production sampler, gates and checkpoints, into ``OUT/results``.
    """
    import numpy as np

    from bayes_vip.bayes.combine import RunEstimate, combine_data, combined_estimate
    from bayes_vip.bayes.model import model_inputs
    from bayes_vip.pipeline.sample import (
        CHECKPOINT,
        bayes_data,
        run_sampler,
        sampler_seconds,
        write_results,
    )
    from bayes_vip.results.bayes import limits_record

    s = config.sample
    mans = [load_manifest(r) for r in runs]
    res_dir = _results(out)
    if resume or extend:
        read_meta(res_dir / CHECKPOINT)  # a missing or damaged one stops here
    t0 = time.perf_counter()
    rows = [
        _run_row(m, _run_limits(r, config, progress=progress, figures=figures))
        for r, m in zip(runs, mans, strict=True)
    ]
    classic = _ensure_combined_classic(runs, config, out, progress=progress, figures=figures)
    progress.stage("the runs' model data")
    datas, estimates = [], []
    for r in runs:
        d, c = bayes_data(r, config, progress=progress, figures=figures)
        datas.append(d)
        estimates.append(RunEstimate.of(c, d.counts_per_beta2half))
    est = combined_estimate(estimates)
    data = combine_data(datas, [m.name for m in mans], [m.efficiency for m in mans], est)
    upper = s.prior_upper if s.prior_upper is not None else max(est.beta, 0.0) + 20.0 * est.sigma
    if not (np.isfinite(upper) and upper > max(est.beta, 0.0)):
        msg = f"prior upper bound {upper:.4g} excludes the combined estimate ({est.beta:.4g})"
        raise InputError(msg, field="sample.prior_upper")
    progress.stage("NUTS")
    identity = {
        "config": config.to_dict(),
        "seed": s.seed,
        "runs": [m.name for m in mans],
        "data": data_hash(model_inputs(data, upper)),
        # the efficiency groups shape the model (eff_g), beside the numbers
        "efficiency_groups": [data.runs["groups"], data.runs["eff_group"].tolist()],
    }
    res_dir.mkdir(parents=True, exist_ok=True)
    ckpt = Checkpoint(res_dir / CHECKPOINT, identity, every=checkpoint_every or CHECKPOINT_EVERY)
    t1 = time.perf_counter()
    run = run_sampler(data, upper, s, ckpt, progress=progress, resume=resume, extend=extend)
    idata, info = run.idata, run.info
    seconds = {"before_nuts": t1 - t0, **sampler_seconds(info)}
    lim = limits_record(
        run.limits,
        run_name="+".join(m.name for m in mans),
        data=data,
        signal=config.signal_line().to_dict(),
        classic=classic,
        sampler=info,
        seconds=seconds,
        config=config.to_dict(),
    )
    lim["combined"] = True
    lim["runs"] = rows
    lim["efficiency_groups"] = data.runs["groups"]
    progress.stage("writing the results" + (" and figures" if figures else ""))
    write_combination(out, mans)
    write_results(res_dir, idata, data, lim, config, figures=figures, t0=t0)
    _report(out, lim, figures)
    return lim
