"""One self-contained page of a run's results: ``RUN/results/report.html``.

``write_report`` gathers what the commands wrote into ``RUN/results`` (the run's Campaign,
``calibration.json``, ``classic.json``, ``posterior.nc``, ``limits.json`` and their figures)
into one HTML file: the figures embedded as base64 PNG ``data:`` URIs, the style inline,
nothing loaded from elsewhere. It is rendered from a Jinja2 template
(``templates/report.html.j2``, autoescaped). A section whose results do not exist yet says so
in one line, so the page can be written after ``fit`` alone and again after ``sample``.

``check_result_set`` checks that ``posterior.nc`` is the file ``limits.json`` was made from
(its ``result_set.posterior_sha256``). ``screenshot`` and ``dump_dom`` render a page with
headless Chromium (the tests, the documentation's figure).
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import math
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import jinja2

from bayes_vip import __version__
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import atomic_path, recover, sha256
from bayes_vip.io.combination import combination_runs
from bayes_vip.io.manifest import Manifest, load_manifest
from bayes_vip.io.outputs import read_json, results_dir
from bayes_vip.io.provenance import provenance, scrub

__all__ = [
    "CHROMIUM_FLAGS",
    "check_result_set",
    "chromium",
    "dump_dom",
    "render",
    "report_context",
    "screenshot",
    "write_report",
]

#: The template, in ``bayes_vip/results/templates/`` (package data).
TEMPLATE: Final = "report.html.j2"
#: The report's file name in ``RUN/results``.
REPORT_NAME: Final = "report.html"
#: Draws per chain drawn in the trace plots (thinned evenly beyond it): the page is written
#: in a few seconds whatever the chains' length.
TRACE_DRAWS: Final = 250
#: At most this many sites in the trace and rank plots.
MAX_PLOT_SITES: Final = 6
#: Sites shown in the trace and rank plots after the signal and the worst-diagnosed sites,
#: where the posterior has them.
NUISANCE_SITES: Final = ("efficiency", "fano", "tail_frac", "noise_mu", "offset", "cal_m1")
#: The result files whose SHA-256 the report records.
RESULT_FILES: Final = (
    "calibration.nc", "calibration.json", "classic.json", "posterior.nc", "limits.json",
)  # fmt: skip
#: Packages whose versions the report records.
PACKAGES: Final = (
    "numpy", "scipy", "jax", "jaxlib", "numpyro", "arviz", "iminuit", "xarray", "h5netcdf",
    "uproot", "matplotlib", "mplhep", "jinja2",
)  # fmt: skip
#: Headless Chromium's options for ``screenshot`` and ``dump_dom``: no network, no profile
#: of the user, no GPU.
CHROMIUM_FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

MISMATCH: Final = "posterior.nc does not belong to limits.json"
NO_RECORD: Final = "no integrity record (older run)"


# ---------------------------------------------------------------------------------------------
# integrity


def check_result_set(results_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Whether ``posterior.nc`` in ``results_dir`` is the one ``limits.json`` was made from.

    ``limits.json`` records the SHA-256 of its posterior in ``result_set.posterior_sha256``
    (with the seed and configuration of the sampling). Returns ``status``: ``"match"``,
    ``"mismatch"`` (the hashes differ, or the posterior is missing), ``"no-record"``
    (``limits.json`` without ``result_set``: an older run) or ``"no-limits"`` (nothing to
    check); ``ok`` (True, False, or None where nothing can be said), a ``message`` in words,
    the ``recorded`` and ``actual`` hashes (None where absent), and the record's ``seed`` and
    ``config``. A ``limits.json`` that cannot be read is an ``InputError`` naming it.
    """
    d = Path(results_dir)
    lim_path, post_path = d / "limits.json", d / "posterior.nc"
    actual = sha256(post_path) if post_path.is_file() else None
    out: dict[str, Any] = {"recorded": None, "actual": actual, "seed": None, "config": None}
    if not lim_path.is_file():
        return {**out, "status": "no-limits", "ok": None, "message": "no limits.json yet"}
    rs = read_json(lim_path).get("result_set")
    if not isinstance(rs, dict) or not rs.get("posterior_sha256"):
        return {**out, "status": "no-record", "ok": None, "message": NO_RECORD}
    out |= {"recorded": str(rs["posterior_sha256"]), "seed": rs.get("seed")}
    out["config"] = rs.get("config")
    if actual is None:
        msg = f"{MISMATCH}: limits.json records a posterior.nc, and there is none"
        return {**out, "status": "mismatch", "ok": False, "message": msg}
    if actual != out["recorded"].lower():
        return {**out, "status": "mismatch", "ok": False, "message": MISMATCH}
    msg = "posterior.nc is the one limits.json was made from (SHA-256 matches)"
    return {**out, "status": "match", "ok": True, "message": msg}


# ---------------------------------------------------------------------------------------------
# the page


def write_report(run: str | os.PathLike[str], *, argv: list[str] | None = None) -> Path:
    """Write ``RUN/results/report.html``, the run's results on one self-contained page.

    ``run`` is the run's folder (or its ``run.toml``); ``argv`` the command recorded in the
    page's provenance (``sys.argv`` by default). Returns the file written.
    """
    runs = combination_runs(run) if Path(run).is_dir() else None
    if runs is not None:  # a combination's folder (bayes-vip fit/sample RUN1 RUN2 ...)
        out = Path(run) / "results"
        recover(out)
        html = render(combination_context(Path(run), runs, argv=argv))
        path = out / REPORT_NAME
        with atomic_path(path) as tmp:
            tmp.write_text(html, encoding="utf-8")
        return path
    man = load_manifest(run)
    out = results_dir(man)
    recover(out)  # an interrupted result set made whole before it is read
    html = render(report_context(man, argv=argv))
    path = out / REPORT_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def render(ctx: dict[str, Any]) -> str:
    """The page of a ``report_context``: the template rendered with autoescaping."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bayes_vip.results", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["sci"] = _sci
    env.filters["pm"] = _pm
    return env.get_template(TEMPLATE).render(**ctx)


def report_context(man: Manifest, *, argv: list[str] | None = None) -> dict[str, Any]:
    """Everything the template shows, section by section (each with ``available``)."""
    out = results_dir(man)
    classic, classic_error = _read(out / "classic.json")
    lim, lim_error = _read(out / "limits.json")
    run, ds = _run_section(man)
    try:
        integrity = check_result_set(out)
    except InputError as exc:
        integrity = {"status": "unreadable", "ok": False, "message": str(exc), "recorded": None}
    return {
        "title": f"bayes_vip report: {man.name}",
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "integrity": integrity,
        "combination": None,
        "run": run,
        "calibration": _calibration_section(man, out),
        "classic": _classic_section(out, classic, classic_error),
        "posterior": _posterior_section(out, lim, ds),
        "limits": _limits_section(out, lim, lim_error),
        "gates": _gates_section(lim, lim_error),
        "provenance": _provenance_section([man], out, classic, lim, argv),
    }


def combination_context(
    folder: Path, runs: list[Path], *, argv: list[str] | None = None
) -> dict[str, Any]:
    """The page of a combination's folder: the runs side by side, then the combined results."""
    mans = [load_manifest(r) for r in runs]
    out = folder / "results"
    classic, classic_error = _read(out / "classic.json")
    lim, lim_error = _read(out / "limits.json")
    try:
        integrity = check_result_set(out)
    except InputError as exc:
        integrity = {"status": "unreadable", "ok": False, "message": str(exc), "recorded": None}
    name = "+".join(m.name for m in mans)
    missing = "no combined classic fit yet: run `bayes-vip fit RUN1 RUN2 ...`"
    return {
        "title": f"bayes_vip report: {name} (runs combined)",
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "integrity": integrity,
        "combination": _combination_section(folder, mans, classic, lim),
        "run": {"name": name},
        "calibration": {"available": False, "reason": "see each run's report"},
        "classic": {
            "available": classic is not None,
            "record": classic,
            "reason": classic_error or missing,
        },
        "posterior": _posterior_section(out, lim, None),
        "limits": _limits_section(out, lim, lim_error),
        "gates": _gates_section(lim, lim_error),
        "provenance": _provenance_section(mans, out, classic, lim, argv),
    }


def _combination_section(
    folder: Path, mans: list[Manifest], classic: dict[str, Any] | None, lim: dict[str, Any] | None
) -> dict[str, Any]:
    """Every run's facts and own limits beside the combined ones."""
    cl_runs = {r["run"]: r for r in (classic or {}).get("runs", [])}
    by_runs = {r["run"]: r for r in (lim or {}).get("runs", [])}
    rows = []
    for m in mans:
        c, b = cl_runs.get(m.name, {}), by_runs.get(m.name, {})
        report = Path(m.run_dir) / "results" / REPORT_NAME
        rows.append(
            {
                "name": m.name,
                "kind": m.kind,
                "level": m.level,
                "efficiency": [m.efficiency.value, m.efficiency.rel_uncertainty],
                "group": m.efficiency.group,
                "shared_rel": m.efficiency.shared_rel,
                "classic_hat": c.get("beta2half_hat"),
                "classic_ul95": c.get("beta2half_upper_limits", {}).get("profile 0.95"),
                "bayes_ul95": b.get("beta2half_upper_limits", {}).get("0.95", {}).get("value"),
                "gates": b.get("gates_passed"),
                "report": os.path.relpath(report, folder / "results") if report.is_file() else None,
            }
        )
    groups = sorted({m.efficiency.group for m in mans if m.efficiency.group})
    note = (
        "each run's own, independent"
        if not groups
        else "correlated within the group(s) " + ", ".join(groups) + " by their shared parts"
    )
    ul = (lim or {}).get("upper_limits", {}).get("beta2half", {}).get("0.95", {})
    return {
        "runs": rows,
        "efficiency_note": note,
        "classic_hat": (classic or {}).get("beta2half_hat"),
        "classic_ul95": (classic or {})
        .get("conversion", {})
        .get("beta2half_upper_limits", {})
        .get("profile 0.95"),
        "bayes_ul95": ul.get("value") if isinstance(ul, dict) else None,
        "gates": None if lim is None else bool(lim.get("gates", {}).get("passed")),
        "profile": _png_uri(folder / "results" / "combined_profile.png"),
    }


def _read(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A JSON record and None; (None, None) where it is absent; (None, the error) if unreadable."""
    if not path.is_file():
        return None, None
    try:
        return read_json(path), None
    except InputError as exc:
        return None, str(exc)


def _run_section(man: Manifest) -> tuple[dict[str, Any], Any]:
    """The run: manifest facts and ``io.campaign.summary``; and its Campaign (or None)."""
    from bayes_vip.io.campaign import load_campaign, summary

    sec: dict[str, Any] = {
        "name": man.name,
        "kind": man.kind,
        "level": man.level,
        "description": man.description,
        "manifest": scrub(str(Path(man.path).resolve())),
        "notes": {p.name: p.note for p in man.periods if p.note},
        "efficiency": [man.efficiency.value, man.efficiency.rel_uncertainty],
        "target": [man.target.length_cm, man.target.mean_free_path_cm],
    }
    try:
        ds = load_campaign(man.path)
    except InputError as exc:
        return {**sec, "available": False, "error": str(exc)}, None
    return {**sec, "available": True, "summary": summary(ds)}, ds


def _calibration_section(man: Manifest, out: Path) -> dict[str, Any]:
    """``calibration.json`` and its figures; energy-level runs have none."""
    if man.level == "energy":
        return {
            "available": False,
            "reason": "energy-level run: its spectra are calibrated in eV already, "
            "so it has no calibration of its own (bayes-vip calibrate is for ADC-level runs)",
        }
    rec, err = _read(out / "calibration.json")
    if rec is None:
        return {
            "available": False,
            "reason": err or "not calibrated yet: run `bayes-vip calibrate RUN` (or fit)",
        }
    figs = [
        (name, uri)
        for name in ("calibration_cu_ka.png", "calibration_shift.png", "calibration_loglik.png")
        if (uri := _png_uri(out / name)) is not None
    ]
    return {"available": True, "record": rec, "figures": figs}


def _limit_slug(method: str, level: str) -> str:
    """A limit's id in the page: ``ul95-cls``, ``ul997-profile``, ``ul-3sigma``."""
    if method == "3sigma":
        return "ul-3sigma"
    return f"ul{100 * float(level):g}".replace(".", "") + f"-{method.lower()}"


def _classic_section(
    out: Path, classic: dict[str, Any] | None, error: str | None
) -> dict[str, Any]:
    """``classic.json``: fit quality, N_X, the limits with their expected bands, figures."""
    if classic is None:
        return {
            "available": False,
            "reason": error or "no classic fit yet: run `bayes-vip fit RUN`",
        }
    b2 = classic["conversion"]["beta2half_upper_limits"]
    bands = classic.get("expected_limits", {}).get("counts", {})
    rows = []
    for key, value in classic["upper_limits_counts"].items():
        method, _, level = key.partition(" ")
        b = bands.get({"CLs": "cls", "profile": "profile"}.get(method, ""), {}).get(level)
        rows.append(
            {
                "name": key,
                "id": "classic-" + _limit_slug(method, level),
                "N_X": value,
                "beta2half": b2.get(key),
                "expected": None if b is None else [b["-1"], b["+0"], b["+1"]],
            }
        )
    figs = _figures_of(out, classic.get("figures", {}))
    return {
        "available": True,
        "record": classic,
        "limits": rows,
        "toys": _toy_rows(classic.get("toys")),
        "figures": figs,
    }


def _toy_rows(toys: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The limits from toys (``bayes-vip study frequentist``) per CL, or [] without a study."""
    if not toys:
        return []
    rows = []
    for cl, v in toys.get("cls", {}).items():
        fc = toys.get("feldman_cousins", {}).get(cl)
        e = (toys.get("expected_cls") or {}).get(cl) or {}
        rows.append(
            {
                "cl": cl,
                "cls": v,
                "profile": toys.get("profile", {}).get(cl),
                "fc": fc,
                "expected": [e.get("-1"), e.get("+0"), e.get("+1")] if e else None,
                "unresolved": toys.get("unresolved", {}).get(cl),
            }
        )
    return rows


def _figures_of(out: Path, figures: dict[str, str] | list[str]) -> list[tuple[str, str]]:
    """(name, data URI) of a record's figures, looked up by file name in ``out``.

    Records hold the paths as written (relative to the folder the command ran in), so only
    the file name is trusted.
    """
    names = figures.values() if isinstance(figures, dict) else figures
    return [(Path(f).name, uri) for f in names if (uri := _png_uri(out / Path(f).name)) is not None]


def _limits_section(out: Path, lim: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    """``limits.json``: every method's limit, the Bayes factor and the Brazil figure."""
    if lim is None:
        return {
            "available": False,
            "reason": error or "no limits.json yet: run `bayes-vip sample RUN`",
        }
    rows = []
    for r in lim.get("comparison", []):
        m = r["method"]
        if m.startswith("Bayesian"):  # "Bayesian 95.0% credible (flat-beta)"
            method = "Bayes"
            level = str(r.get("level") or float(m.split()[1].rstrip("%")) / 100)
        else:
            method, _, level = m.removeprefix("classic ").partition(" ")
        bayesian = m.startswith("Bayesian")
        slug = _limit_slug(method, level)
        rows.append({**r, "id": slug, "short": method, "bayesian": bayesian})
    bf = lim.get("bayes_factor", {})
    return {
        "available": True,
        "rows": rows,
        "prior": lim.get("prior"),
        "prior_upper": lim.get("prior_upper"),
        "estimator": lim.get("limit_estimator"),
        "n_int_model": lim.get("n_int_model"),
        "bayes_factor": bf,
        "expected_from": lim.get("expected_from"),
        "toys": _toy_rows(lim.get("classic", {}).get("toys")),
        "brazil": _png_uri(out / "limits_brazil.png"),
    }


def _gates_section(lim: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    """The sampler's gates of ``limits.json`` in words."""
    if lim is None or "gates" not in lim:
        return {"available": False, "reason": error or "no sampler gates yet (no limits.json)"}
    g = lim["gates"]
    t = g.get("thresholds", {})
    rules = []
    if "r_hat_max" in t:
        rules.append(f"R-hat at most {t['r_hat_max']:g} on every sampled site")
    if "ess_bulk_min" in t:
        rules.append(f"bulk ESS at least {t['ess_bulk_min']:g}")
    if "ess_tail_min" in t:
        rules.append(f"tail ESS at least {t['ess_tail_min']:g}")
    if "divergences_max" in t:
        n = t["divergences_max"]
        rules.append("no divergent transition" if n == 0 else f"at most {n} divergences")
    if "limit_mcse_rel_max" in t:
        rules.append(
            f"Monte Carlo error of the 99.7 % limits at most {100 * t['limit_mcse_rel_max']:g} "
            "% of their value"
        )
    return {
        "available": True,
        "passed": bool(g.get("passed")),
        "failed": list(g.get("failed", [])),
        "rules": rules,
        "diagnostics": lim.get("diagnostics", {}),
    }


def _provenance_section(
    mans: list[Manifest],
    out: Path,
    classic: dict[str, Any] | None,
    lim: dict[str, Any] | None,
    argv: list[str] | None,
) -> dict[str, Any]:
    """The report's command and commit, the results' configuration and seed, hashes."""
    config = (lim or {}).get("config") or (classic or {}).get("config")
    seed = (lim or {}).get("result_set", {}).get("seed")
    if seed is None and lim is not None and config:
        seed = config.get("sample", {}).get("seed")
    files = []
    for man in mans:  # each run's manifest and data files
        files += [man.path, *sorted({s.path for s in man.sources})]
    input_hashes = [
        {"path": scrub(str(p.resolve())), "sha256": sha256(p) if p.is_file() else None}
        for p in files
    ]
    results = [
        {"path": name, "sha256": sha256(out / name)}
        for name in RESULT_FILES
        if (out / name).is_file()
    ]
    versions = {"python": platform.python_version(), "bayes_vip": __version__}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {
        "report": provenance(argv),
        "records": {
            name: rec["provenance"]
            for name, rec in (("classic.json", classic), ("limits.json", lim))
            if rec is not None and "provenance" in rec
        },
        "seed": seed,
        "sampled": lim is not None,
        "config": None if config is None else json.dumps(config, indent=2),
        "inputs": input_hashes,
        "results": results,
        "versions": versions,
    }


# ---------------------------------------------------------------------------------------------
# the posterior


def _posterior_section(out: Path, lim: dict[str, Any] | None, ds: Any) -> dict[str, Any]:
    """Trace and rank plots, R-hat and ESS per site, divergences, the posterior predictive."""
    path = out / "posterior.nc"
    if not path.is_file():
        return {"available": False, "reason": "no posterior yet: run `bayes-vip sample RUN`"}
    import arviz as az
    from matplotlib import MatplotlibDeprecationWarning

    try:
        idata = az.from_netcdf(path)
    except (OSError, ValueError, KeyError) as exc:
        return {"available": False, "reason": f"posterior.nc cannot be read: {exc}"}
    lim = lim or {}
    with warnings.catch_warnings():
        # ArviZ 0.23's plotting calls a matplotlib API deprecated in 3.11 (their chatter)
        warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
        post = idata.posterior
        sites = _site_table(az, post, lim)
        chosen = _plot_sites(post, lim, sites)
        series = _scalar_series(post, chosen, sites)
        trace = _trace_uri(az, series)
        rank = _rank_uri(az, series)
        ppc = _ppc(idata, lim, ds, out)
    div = idata.sample_stats["diverging"].values if "sample_stats" in idata.groups() else None
    return {
        "available": True,
        "chains": int(post.sizes["chain"]),
        "draws": int(post.sizes["draw"]),
        "divergences": None if div is None else int(div.sum()),
        "divergences_per_chain": None if div is None else [int(x) for x in div.sum(axis=1)],
        "sites": sites,
        "plotted": [s["label"] for s in series],
        "trace": trace,
        "rank": rank,
        "trace_thinned": post.sizes["draw"] > TRACE_DRAWS,
        "trace_draws": TRACE_DRAWS,
        "ppc": ppc,
        "sampler": lim.get("sampler", {}),
        "line_position": lim.get("line_position"),
        "drift": _png_uri(out / "bayes_background_drift.png"),
    }


def _site_table(az: Any, post: Any, lim: dict[str, Any]) -> list[dict[str, Any]]:
    """R-hat (max), bulk and tail ESS (min) of every posterior site, as the gates see them.

    Sites the gates leave out (the deterministic ``noise`` and the signal variable not
    sampled under the prior) are marked ``gated: False``.
    """
    import numpy as np

    prior = lim.get("prior", "flat-beta")
    ungated = {"noise", "N_X" if prior == "flat-beta" else "beta2half_1e29"}
    if "eff_z" in post:  # several runs: the efficiencies follow eff_z and eff_g
        ungated.add("efficiency")
    rhat = az.rhat(post)
    ess_b = az.ess(post, method="bulk")
    ess_t = az.ess(post, method="tail")
    t = lim.get("gates", {}).get("thresholds", {})
    rows = []
    for v in post.data_vars:
        x = post[v].values
        r, eb, et = (np.asarray(d[v].values, float) for d in (rhat, ess_b, ess_t))
        row = {
            "name": str(v),
            "shape": list(x.shape[2:]),
            "size": int(np.prod(x.shape[2:], dtype=int)),
            "mean": float(x.mean()) if x.ndim == 2 else None,
            "sd": float(x.std(ddof=1)) if x.ndim == 2 else None,
            "r_hat": float(np.nanmax(r)),
            "ess_bulk": float(np.nanmin(eb)),
            "ess_tail": float(np.nanmin(et)),
            "gated": str(v) not in ungated,
            "worst_index": tuple(int(i) for i in np.unravel_index(np.nanargmax(r), r.shape))
            if r.ndim
            else (),
        }
        row["bad"] = row["gated"] and (
            row["r_hat"] > t.get("r_hat_max", math.inf)
            or row["ess_bulk"] < t.get("ess_bulk_min", 0.0)
            or row["ess_tail"] < t.get("ess_tail_min", 0.0)
        )
        rows.append(row)
    return rows


def _plot_sites(post: Any, lim: dict[str, Any], sites: list[dict[str, Any]]) -> list[str]:
    """The signal site, the worst-diagnosed sites, then a few nuisance sites."""
    signal = "N_X" if lim.get("prior") == "flat-counts" else "beta2half_1e29"
    d = lim.get("diagnostics", {})
    worst = [d.get(k) for k in ("r_hat_max_site", "ess_bulk_min_site", "ess_tail_min_site")]
    if not any(worst):  # no limits.json: the table's worst instead
        gated = [s for s in sites if s["gated"]]
        if gated:
            worst = [
                max(gated, key=lambda s: s["r_hat"])["name"],
                min(gated, key=lambda s: s["ess_bulk"])["name"],
            ]
    names = [signal, *(w for w in worst if w), *NUISANCE_SITES]
    return [n for n in dict.fromkeys(names) if n in post.data_vars][:MAX_PLOT_SITES]


def _scalar_series(post: Any, names: list[str], sites: list[dict[str, Any]]) -> list[dict]:
    """One (chain, draw) series per site: a vector site by its element of largest R-hat."""
    import numpy as np

    by_name = {s["name"]: s for s in sites}
    out = []
    for n in names:
        x = np.asarray(post[n].values, float)
        s = by_name[n]
        if x.ndim == 2:
            out.append({"label": n, "values": x})
            continue
        idx = s["worst_index"]
        label = f"{n}[{','.join(map(str, idx))}]"
        out.append(
            {
                "label": label,
                "values": x[(slice(None), slice(None), *idx)],
                "note": f"{label}: the largest R-hat of its {s['size']} elements",
            }
        )
    return out


def _series_dataset(series: list[dict], *, thin: int = 1) -> Any:
    import xarray as xr

    return xr.Dataset({s["label"]: (("chain", "draw"), s["values"][:, ::thin]) for s in series})


def _trace_uri(az: Any, series: list[dict]) -> str | None:
    """``az.plot_trace`` of the series, thinned to ``TRACE_DRAWS`` draws per chain."""
    if not series:
        return None
    draws = series[0]["values"].shape[1]
    thin = max(1, math.ceil(draws / TRACE_DRAWS))
    axes = az.plot_trace(
        _series_dataset(series, thin=thin),
        compact=False,
        figsize=(11, 1.7 * len(series)),
        backend_kwargs={"layout": "constrained"},
    )
    return _fig_uri(axes.ravel()[0].figure)


def _rank_uri(az: Any, series: list[dict]) -> str | None:
    """``az.plot_rank`` of the series (every draw): flat bars for chains that mix."""
    if not series:
        return None
    import matplotlib.pyplot as plt

    n = len(series)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.6 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    az.plot_rank(_series_dataset(series), ax=axes.ravel()[:n])
    fig.tight_layout()
    return _fig_uri(fig)


def _ppc(idata: Any, lim: dict[str, Any], ds: Any, out: Path) -> dict[str, Any]:
    """The observed and posterior-predictive spectra summed over the model's cells.

    At energy level every cell (one per period and SDD with live time, in that order) has the
    same bins over the model's region, so the spectra add up bin by bin and split into
    current on and off; at ADC level each cell has its own channels, and the page shows
    ``sample``'s figure (``bayes_ppc.png``, through each cell's calibration) instead.
    """
    import numpy as np

    if "posterior_predictive" not in idata.groups() or "observed_data" not in idata.groups():
        return {"available": False, "reason": "posterior.nc holds no posterior predictive"}
    obs = np.asarray(idata.observed_data["obs"].values, float)
    pp = np.asarray(idata.posterior_predictive["obs"].values, float)
    pp = pp.reshape(-1, pp.shape[-1])
    model = lim.get("model", {})
    level = lim.get("level", None if ds is None else ds.attrs.get("level"))
    fallback = _png_uri(out / "bayes_ppc.png")
    if level != "energy" or ds is None or "roi_eV" not in model or "bin_eV" not in model:
        why = (
            "ADC-level cells have their own channels"
            if level == "adc"
            else "the model's layout is unknown (no limits.json or no run data)"
        )
        return {"available": False, "reason": why, "fallback": fallback}
    live = ds["live_time_s"].sum("batch").values
    cells = [(p, s) for p in range(live.shape[0]) for s in range(live.shape[1]) if live[p, s] > 0]
    if not cells or obs.size % len(cells):
        reason = f"{obs.size} bins do not divide among {len(cells)} cells"
        return {"available": False, "reason": reason, "fallback": fallback}
    n = obs.size // len(cells)
    edges = model["roi_eV"][0] + model["bin_eV"] * np.arange(n + 1)
    on = np.array([ds["current_A"].values[p] > 0 for p, _ in cells])
    o = obs.reshape(len(cells), n)
    sims = pp.reshape(pp.shape[0], len(cells), n)
    groups = [
        (sel, label) for sel, label in ((on, "current on"), (~on, "current off")) if sel.any()
    ]
    uri = _ppc_uri(
        edges,
        [(o[sel].sum(0), sims[:, sel].sum(1), label) for sel, label in groups],
        bin_eV=model["bin_eV"],
        run=lim.get("run", ""),
    )
    return {"available": True, "figure": uri, "draws": int(pp.shape[0])}


def _ppc_uri(edges: Any, panels: list[tuple[Any, Any, str]], *, bin_eV: float, run: str) -> str:
    """Observed spectra (points, sqrt(N) errors) against the predictive median and 5-95 %."""
    import matplotlib.pyplot as plt
    import mplhep as hep
    import numpy as np

    with plt.style.context(hep.style.ROOT):
        fig, axes = plt.subplots(
            2,
            len(panels),
            figsize=(7.5 * len(panels), 7),
            sharex=True,
            squeeze=False,
            gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05},
        )
        for j, (o, sims, label) in enumerate(panels):
            lo, med, hi = np.percentile(sims, [5, 50, 95], axis=0)
            ax, rax = axes[0, j], axes[1, j]
            ax.stairs(hi, edges, baseline=lo, fill=True, color="#9ecae1", label="predictive 5-95 %")
            hep.histplot(
                med, edges, ax=ax, histtype="step", color="#08519c", label="predictive median"
            )
            hep.histplot(
                o, edges, ax=ax, histtype="errorbar", yerr=np.sqrt(o), color="k", label="data"
            )
            ax.set_yscale("log")
            if j == 0:
                ax.set_ylabel(f"counts / {bin_eV:g} eV")
                rax.set_ylabel("(data - med) / sqrt(med)", fontsize=11)
            ax.legend(fontsize=12, title=label, title_fontsize=13, loc="upper right")
            pull = (o - med) / np.sqrt(np.maximum(med, 1.0))
            hep.histplot(pull, edges, ax=rax, histtype="step", color="k")
            rax.axhline(0, color="0.5", lw=1)
            rax.set_ylim(-4.5, 4.5)
            rax.set_xlabel("energy [eV]")
        hep.label.exp_text("VIP-2", f"{run} posterior predictive", ax=axes[0, 0], loc=0)
        return _fig_uri(fig)


# ---------------------------------------------------------------------------------------------
# figures and numbers


def _fig_uri(fig: Any) -> str:
    """A matplotlib figure as a PNG ``data:`` URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _png_uri(path: Path) -> str | None:
    """A PNG file as a ``data:`` URI, or None where there is none."""
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _num(v: Any, fmt: str = ".1f") -> str:
    """A number with ``fmt``; an en dash for None, the words for NaN and infinity."""
    if v is None:
        return "\u2013"
    if isinstance(v, float) and not math.isfinite(v):
        return "not established" if math.isinf(v) else "NaN"
    return format(v, fmt)


def _sci(v: Any, digits: int = 3) -> str:
    """A number in scientific notation with ``digits`` significant digits."""
    return _num(v, f".{digits - 1}e")


def _pm(v: Any, err: Any, fmt: str = ".1f") -> str:
    """``v +- err`` (``v`` alone where there is no error)."""
    return _num(v, fmt) if err is None else f"{_num(v, fmt)} \u00b1 {_num(err, fmt)}"


# ---------------------------------------------------------------------------------------------
# Chromium


def chromium() -> str | None:
    """The headless browser on this machine (Debian's ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if (exe := shutil.which(name)) is not None:
            return exe
    return None


def _chromium(html: str | os.PathLike[str], *args: str, timeout: float) -> str:
    """Run headless Chromium on a local page with a throw-away profile; its stdout."""
    exe = chromium()
    if exe is None:
        msg = "chromium not found on PATH (Debian: apt-get install chromium)"
        raise FileNotFoundError(msg)
    url = Path(html).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="bayes-vip-chromium-") as profile:
        r = subprocess.run(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if r.returncode != 0:
        msg = f"chromium exited with {r.returncode}: {r.stderr.strip()[-2000:]}"
        raise subprocess.SubprocessError(msg)
    return r.stdout


def screenshot(
    html: str | os.PathLike[str],
    png: str | os.PathLike[str],
    *,
    width: int = 1280,
    height: int = 4000,
    trim: bool = False,
    colours: int | None = None,
    timeout: float = 120.0,
) -> Path:
    """A PNG of the page ``html`` as headless Chromium draws it, ``width`` x ``height`` px.

    ``trim``: cut the blank window below the page's end (take a tall window to get the whole
    page); ``colours``: keep the PNG with a palette of that many colours (smaller files, for
    the documentation).
    """
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _chromium(html, f"--screenshot={png}", f"--window-size={width},{height}", timeout=timeout)
    if not png.is_file():
        msg = f"chromium wrote no screenshot at {png}"
        raise FileNotFoundError(msg)
    if trim or colours:
        from PIL import Image, ImageChops

        with Image.open(png) as im:
            img = im.convert("RGB")
        if trim:
            blank = Image.new("RGB", img.size, (255, 255, 255))
            box = ImageChops.difference(img, blank).getbbox()
            if box is not None:
                img = img.crop((0, 0, img.width, min(img.height, box[3] + 24)))
        if colours:
            img = img.quantize(colors=colours)
        with atomic_path(png) as tmp:
            img.save(tmp, format="png", optimize=True)
    return png


def dump_dom(html: str | os.PathLike[str], *, timeout: float = 120.0) -> str:
    """The page's DOM after Chromium has loaded it (``--dump-dom``), as HTML text."""
    return _chromium(html, "--dump-dom", timeout=timeout)
