"""Terminal rendering of every command's result (rich), and the terminal progress reporter.

Each ``render_*`` takes a rich ``Console`` and the record a pipeline function returned, and
prints what a user reads; nothing here computes. ``TerminalProgress`` implements the
pipeline's progress protocol (``pipeline.progress``) with rich: a dim line per stage and a
transient bar per counted task.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import Progress as RichProgress
from rich.progress import TaskID
from rich.table import Table

__all__ = [
    "TerminalProgress",
    "expected_band",
    "render_calibrate",
    "render_convert",
    "render_fit",
    "render_info",
    "render_report",
    "render_reproduce",
    "render_sample",
    "render_scan",
    "render_sensitivity",
    "render_simulate",
    "render_study_bands",
    "render_study_coverage",
    "render_study_frequentist",
    "render_study_sbc",
    "render_train",
    "render_transport",
]


class TerminalProgress:
    """Progress on a rich console: ``stage`` prints a dim line, ``update`` drives a bar.

    ``bars`` says whether numpyro may draw its own bars (not when stdout carries JSON).
    Use it as a context manager, so that the bars are removed when the work ends.
    """

    def __init__(self, console: Console, *, bars: bool = True):
        self.console = console
        self.bars = bars
        self._progress: RichProgress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> TerminalProgress:
        """Enter the context: the reporter itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave the context: stop and remove the bars, also on an exception."""
        self._close()

    def _close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress, self._tasks = None, {}

    def stage(self, name: str) -> None:
        """Print the stage that starts.

        The bars of the previous stage are removed first, so that they never share the terminal
        with numpyro's own bars.
        """
        self._close()
        self.console.print(f"[dim]{name} ...[/]")

    def update(self, task: str, done: float, total: float | None, info: str = "") -> None:
        """Advance ``task``'s bar (created on first use)."""
        if self._progress is None:
            self._progress = RichProgress(console=self.console, transient=True)
            self._progress.start()
        if task not in self._tasks:
            self._tasks[task] = self._progress.add_task(task, total=total)
        desc = f"{task} ({info})" if info else task
        self._progress.update(self._tasks[task], completed=done, total=total, description=desc)


def render_info(console: Console, s: dict[str, Any]) -> None:
    """``bayes-vip info``: periods, SDD counts and binning of a Campaign."""
    b = s["binning"]
    width = f"{b['width']:g} {b['unit']}" if b["width"] else "non-uniform"
    console.print(
        f"[bold]{s['run']}[/] ({s['kind']}, {s['level']} level): "
        f"{len(s['periods'])} periods x {len(s['sdds'])} SDDs, "
        f"{s['n_batches_max']} batch{'es' if s['n_batches_max'] > 1 else ''} at most per period"
    )
    console.print(f"binning: {b['lo']:g}-{b['hi']:g} {b['unit']}, {b['n_bins']} bins of {width}")
    t = Table("period", "current (A)", "time (s)", "time (d)", "batches", "counts")
    for p in s["periods"]:
        t.add_row(
            p["name"],
            f"{p['current_A']:g}",
            f"{p['time_s']:.0f}",
            f"{p['time_days']:.2f}",
            str(p["batches"]),
            f"{p['counts']:,}",
        )
    console.print(t)
    t = Table("SDD", *s["counts"].keys())
    for sdd in s["sdds"]:
        t.add_row(str(sdd), *(f"{s['counts'][p][str(sdd)]:,}" for p in s["counts"]))
    console.print(t)
    if s["outside_binning"]:
        console.print(
            f"entries outside the binning (ROOT under/overflow or events outside "
            f"\\[binning]), not analysed: {s['outside_binning']:,}"
        )


def render_simulate(console: Console, r: dict[str, Any]) -> None:
    """``bayes-vip simulate``: what was written."""
    console.print(
        f"wrote {r['manifest']} and {r['data']}: {r['events']:,} events, "
        f"{r['signal_counts_realised']} PEP events"
    )


def render_fit(console: Console, out: dict[str, Any]) -> None:
    """``bayes-vip fit``: fit quality of both steps, N_X and the limits table."""
    q1, q2 = out["step1"], out["step2"]
    console.print(
        f"[bold]{out['run']}[/]: classic fit ({out['statistic']}), PEP line {out['signal']['key']}"
    )
    for name, q in (("step 1", q1), ("step 2", q2)):
        console.print(
            f"  {name} {q['range_eV'][0]:g}-{q['range_eV'][1]:g} eV: valid "
            f"{q['is_valid']}, accurate covariance {q['has_accurate_covar']}, "
            f"chi2/ndf = {q['statistic']:.1f}/{q['ndf']} = {q['chi2_ndf']:.3f}, at "
            f"limit: {q['parameters_at_limit'] or 'none'}"
        )
    fw = out["fwhm_cu_ka1_eV"]
    console.print(
        f"  FWHM at Cu Ka1: on {fw['on'][0]:.1f} +- {fw['on'][1]:.1f} eV, off "
        f"{fw['off'][0]:.1f} +- {fw['off'][1]:.1f} eV; energy shift "
        f"{out['energy_shift_eV'][0]:+.1f} +- {out['energy_shift_eV'][1]:.1f} eV"
    )
    console.print(f"  N_X = {out['N_X']:.1f} +- {out['sigma_N_X']:.1f}")
    n_int = out["conversion"]["n_int_model"]
    t = Table(
        "upper limit",
        "N_X (counts)",
        f"beta^2/2 (N_int: {n_int})",
        "expected: median (+-1 sigma)",
    )
    b = out["conversion"]["beta2half_upper_limits"]
    for k, v in out["upper_limits_counts"].items():
        t.add_row(k, f"{v:.1f}", f"{b[k]:.3e}", _band(expected_band(out, k)))
    console.print(t)
    if "toys" in out:
        tt = out["toys"]

        def lim(v: float | None) -> str:
            if v is not None:
                return f"{v:.1f}"
            why = tt.get("unresolved", {}).get("0.95")
            return f"not resolved ({why})" if why else "above the grid"

        console.print(
            f"  from toys ({tt['toys_per_mu']} per N_X value, {tt['toys_background']} "
            f"background-only): CLs 95 % {lim(tt['cls'].get('0.95'))}, profile 95 % "
            f"{lim(tt['profile'].get('0.95'))}; {tt['study']}"
        )
    if "scan" in out:
        sc, lee = out["scan"], out["scan"]["largest_excess"]
        console.print(
            f"  energy scan {sc['window_eV'][0]:g}-{sc['window_eV'][1]:g} eV: largest local "
            f"Z = {lee['z_local']:.2f} at {lee['energy_eV']:g} eV, global p = "
            f"{lee['p_global']:.3g} (Gross-Vitells); {sc['json']}"
        )
    console.print(f"wrote {out['json']} and {len(out['figures'])} figures")
    if out.get("report"):
        console.print(f"report: {out['report']}")


def expected_band(classic: dict[str, Any], limit: str) -> list[float] | None:
    """``[-1 sigma, median, +1 sigma]`` expected counts of a limit of ``classic.json``.

    ``limit`` is a key of its ``upper_limits_counts`` ("CLs 0.95", "profile 0.9"); None for
    a limit without asymptotic bands (the 3-sigma one) or a record without them.
    """
    method, _, level = limit.partition(" ")
    bands = classic.get("expected_limits", {}).get("counts", {})
    got = bands.get({"CLs": "cls", "profile": "profile"}.get(method, ""), {}).get(level)
    return None if got is None else [got["-1"], got["+0"], got["+1"]]


def _band(band: list[float] | None) -> str:
    """An expected limit as "median (lower-upper)", or "" without one."""
    return "" if band is None else f"{band[1]:.0f} ({band[0]:.0f}-{band[2]:.0f})"


def render_reproduce(console: Console, out: dict[str, Any]) -> None:
    """``bayes-vip reproduce``: one row per published analysis, and (d)'s diagnostics."""
    t = Table(
        "analysis",
        "N_X [counts]",
        "limit on N_X",
        f"limit on beta^2/2 (N_int {out['n_int_model']})",
        "limit",
        title=f"{out['run']}: the published analyses, spectra summed as {out['sum']}",
    )
    for r in out["rows"]:
        t.add_row(
            r["method"],
            f"{r['N_X']:.1f} +- {r['sigma_N_X']:.1f}",
            f"{r['limit']:.1f}",
            f"{r['limit_beta2half']:.3e}",
            r["limit_rule"],
        )
    console.print(t)
    d = out["rows"][-1]
    if "r_hat" in d:
        console.print(
            f"  (d): {d['draws']} draws, R-hat {d['r_hat']:.3f}, bulk ESS {d['ess_bulk']:.0f}, "
            f"{d['divergences']} divergences"
        )
    console.print(f"wrote {out['json']}")


def render_scan(console: Console, out: dict[str, Any]) -> None:
    """``bayes-vip scan``: the limits at each energy and the largest excess."""
    level = 100 * out["level"]
    t = Table(
        "energy [eV]",
        "N_X [counts]",
        "local Z",
        f"profile {level:g} %",
        f"CLs {level:g} %",
        "expected CLs (+-1 sigma)",
        f"CLs {level:g} %: beta^2/2",
        title=f"{out['run']}: a line at {out['window_eV'][0]:g}-{out['window_eV'][1]:g} eV",
    )
    for p in out["points"]:
        if not p["valid"]:
            t.add_row(f"{p['energy_eV']:g}", "no valid fit", "", "", "", "", "")
            continue
        ex = p["expected_cls"]
        t.add_row(
            f"{p['energy_eV']:g}",
            f"{p['N_X']:.1f} +- {p['sigma_N_X']:.1f}",
            f"{p['z_local']:.2f}",
            f"{p['profile']:.1f}",
            f"{p['cls']:.1f}",
            _band([ex["-1"], ex["+0"], ex["+1"]]),
            f"{p['beta2half']['cls']:.3e}",
        )
    console.print(t)
    lee = out["largest_excess"]
    console.print(
        f"  largest excess at {lee['energy_eV']:g} eV: local Z = {lee['z_local']:.2f} "
        f"(p = {lee['p_local']:.3g}); {lee['upcrossings']} upcrossing(s) of Z = 1 in the "
        f"window; global p = {lee['p_global']:.3g} (Gross-Vitells)"
    )
    console.print(f"wrote {out['json']}" + (" and a figure" if out.get("figures") else ""))


def render_calibrate(console: Console, out: dict[str, Any], written: str) -> None:
    """``bayes-vip calibrate``: cells, warnings and seed 002's table 1."""
    c = out["cells"]
    console.print(
        f"[bold]{out['run']}[/]: {c['calibrated']} batches calibrated, {c['excluded']} "
        f"excluded, {c['fallback_peak_search']} with the fallback peak search "
        f"({out['seconds']:.1f} s)"
    )
    for w in out["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")
    t = Table("Cu Ka (eq. 4)", "position [eV]", "FWHM [eV]", "chi2/ndf")
    for k, v in out["table_1"].items():
        t.add_row(
            k,
            f"{v['position_eV'][0]:.1f} +- {v['position_eV'][1]:.1f}",
            f"{v['fwhm_eV'][0]:.1f} +- {v['fwhm_eV'][1]:.1f}",
            f"{v['chi2_ndf']:.2f}",
        )
    console.print(t)
    console.print(f"wrote {written}, calibration.json and figures")


def render_sample(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip sample``: diagnostics, the classic-vs-Bayesian table and the gates."""
    d = res["diagnostics"]
    console.print(
        f"[bold]{res['run']}[/] ({res['level']} level, {res['model']['cells']} cells, "
        f"{res['model']['bins']} bins): {d['chains']} chains x {d['draws']} draws in "
        f"{res['seconds']['nuts']:.0f} s ({res['model']['chain_method']})"
    )
    console.print(
        f"  R-hat max {d['r_hat_max']:.4f} ({d['r_hat_max_site']}), ESS bulk min "
        f"{d['ess_bulk_min']:.0f}, tail min {d['ess_tail_min']:.0f}, divergences "
        f"{d['divergences']}; ESS/s of beta^2/2: {res['ess_per_second_beta2half']:.1f}"
    )
    sp = res.get("sampler", {})
    if sp:
        ext = sp.get("extensions", [])
        console.print(
            f"  {sp['gradients']} gradients, {sp['gradients_per_effective_draw']:.1f} per "
            f"effective draw of beta^2/2"
            + (f"; extended {len(ext)} time(s) to {sp['draws_per_chain']} draws" if ext else "")
        )
        for r in sp.get("retries", []):
            console.print(
                f"  run again at target acceptance {sp['target_accept']:g}: the run at "
                f"{r['target_accept']:g} failed ({'; '.join(r['failed'])})"
            )
    t = Table(
        "upper limit",
        "N_X [counts]",
        f"beta^2/2 (N_int {res['n_int_model']})",
        "expected: median (+-1 sigma)",
        title=f"classic and Bayesian limits, PEP line {res['signal']['key']}",
    )
    for r in res["comparison"]:
        n = f"{r['N_X']:.1f}" + (f" +- {r['mcse_N_X']:.1f}" if r["mcse_N_X"] is not None else "")
        b = f"{r['beta2half']:.3e}" + (
            f" +- {r['mcse_beta2half']:.1e}" if r["mcse_beta2half"] is not None else ""
        )
        t.add_row(r["method"], n, b, _band(r.get("expected_N_X")))
    console.print(t)
    bf = res["bayes_factor"]
    console.print(
        f"  Savage-Dickey Bayes factor, signal vs none: {bf['BF_10_signal_vs_no_signal']:.3g} "
        f"(prior upper bound {res['prior_upper']:.3g})"
    )
    if res["gates"]["passed"]:
        console.print(
            "[green]sampler gates passed[/] (R-hat <= 1.01, ESS >= 400, no divergences, "
            "MCSE of the 99.7 % limits <= 3 %)"
        )
    else:
        console.print(
            "[bold red]SAMPLER GATES FAILED[/]: "
            + "; ".join(res["gates"]["failed"])
            + f" (after {d['draws']} draws per chain; sample.max_draws raises the bound)"
            + " -- these limits are NOT reliable"
        )
    console.print(
        f"wrote {res['posterior']}, {res['json']} and {len(res.get('figures', []))} figures"
        + (f"; report: {res['report']}" if res.get("report") else "")
    )


def _cp(c: dict[str, Any]) -> str:
    """A coverage fraction with its Clopper-Pearson 95 % interval, as percent."""
    if not c["n"]:
        return "-"
    lo, hi = c["cp95"]
    return f"{100 * c['fraction']:.1f} ({100 * lo:.1f}-{100 * hi:.1f}) of {c['n']}"


def render_study_coverage(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip study coverage``: coverage per injected signal, false detections."""
    console.print(
        f"[bold]coverage of the {res['run']} layout[/] ({res['level']} level, "
        f"{', '.join(res['methods'])}): {res['toys_done']} of {res['toys_total']} toys done, "
        f"sigma(N_X) {res['reference']['sigma_N_X']:.1f} counts (reference toy)"
    )
    bayes = "bayes" in res["methods"]
    cols = ["injected [sigma]", "toys (errors)", "classic profile 95 %"]
    if bayes:
        cols += ["Bayesian 95 %, all", "Bayesian 95 %, gates passed", "gates passed"]
    t = Table(*cols, title="P(upper limit >= truth) [%] with Clopper-Pearson 95 % intervals")
    for lv in res["multiples"]:
        c = lv["coverage"]["95"]
        row = [f"{lv['multiple']:g}", f"{lv['toys']} ({lv['errors']})", _cp(c["classic_profile"])]
        if bayes:
            row += [_cp(c["bayes_all"]), _cp(c["bayes_gates_passed"]), _cp(lv["gates_passed"])]
        t.add_row(*row)
    console.print(t)
    for lv in res["multiples"]:
        for name, c in lv.get("false_detection", {}).items():
            console.print(f"  false detections at zero signal, {name}: {_cp(c)}")
        for msg in lv["error_messages"]:
            console.print(f"  [red]toy error[/] at {lv['multiple']:g} sigma: {msg}")
    console.print(
        f"{res['toys_per_s_per_worker']:.4f} toys per second per worker; "
        f"wrote {res['store']}, {res['json']} and {res['figure']}"
    )


def render_study_bands(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip study bands``: the expected limits' median and bands, the observed ones."""
    console.print(
        f"[bold]expected limits of the {res['run']} layout[/] ({res['level']} level): "
        f"{res['toys_done']} of {res['toys_total']} background-only toys, "
        f"{res['errors']} failed"
        + (f", gates passed in {res['gates_passed']}" if "gates_passed" in res else "")
    )
    t = Table(
        "limit on N_X",
        "-2 sigma",
        "-1 sigma",
        "median",
        "+1 sigma",
        "+2 sigma",
        "observed (percentile)",
        title="upper limits of background-only toys [counts]",
    )
    for col, v in res["limits"].items():
        b = v["counts"]
        obs = (
            f"{v['observed_counts']:.1f} ({100 * v['observed_percentile']:.0f} %)"
            if "observed_counts" in v
            else "-"
        )
        t.add_row(col, *(f"{b[k]['value']:.1f}" for k in ("-2", "-1", "median", "+1", "+2")), obs)
    console.print(t)
    for msg in res["error_messages"]:
        console.print(f"  [red]toy error[/]: {msg}")
    console.print(
        f"{res['toys_per_s_per_worker']:.4f} toys per second per worker; "
        f"wrote {res['store']}, {res['json']} and {res['figure']}"
    )


def render_sensitivity(console: Console, res: dict[str, Any]) -> None:
    """The sensitivity decomposition: per variant, sigma, expected limit, bias, coverage."""
    console.print(
        f"[bold]sensitivity decomposition[/] ({res['preset']}-like toys, {res['statistic']}): "
        f"{res['toys_done']} of {res['toys_total']} toys, {res['errors']} failed"
    )
    verdicts = res["choice"]["verdicts"]
    t = Table(
        "variant",
        "sd of N_X hat (0)",
        "quoted sigma",
        "exp. CLs 95 %",
        *(f"mean pull ({s:g})" for s in res["injected"]),
        *(f"UL95 covers ({s:g})" for s in res["injected"] if s > 0),
        "kept",
        title="background-only toys (0) and injected counts; uncertainties are standard errors",
    )
    for key, v in res["variants"].items():
        lv = {x["injected"]: x for x in v["injected"]}
        z = lv.get(0.0, {})
        row = [
            key,
            f"{z['N_X']['sd']:.1f} +- {z['N_X']['sd_err']:.1f}" if z else "-",
            f"{z['sigma_quoted_median']:.1f}" if z else "-",
            f"{z.get('expected_cls95_median', float('nan')):.1f}" if z else "-",
        ]
        row += [f"{lv[s]['pull']['mean']:+.2f} +- {lv[s]['pull']['mean_err']:.2f}" for s in lv]
        row += [_cp(lv[s]["coverage_ul95"]) for s in lv if s > 0]
        d = verdicts[key]
        row.append("yes" if d["passes"] else "no: " + "; ".join(d["reasons"]))
        t.add_row(*row)
    console.print(t)
    console.print(f"chosen: {res['choice']['chosen']}; wrote {res['store']} and {res['figure']}")


def render_study_frequentist(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip study frequentist``: the limits from toys beside the asymptotic ones."""
    console.print(
        f"[bold]frequentist limits of {res['run']} from toys[/]: {res['toys_per_mu']} per "
        f"N_X value ({len(res['grid'])} values, 0-{res['grid'][-1]:.0f} counts), "
        f"{res['toys_background']} background-only; {res['toys_failed']} failed"
    )
    asym = res["asymptotic"]

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    t = Table(
        "CL",
        "CLs (toys)",
        "CLs (asymptotic)",
        "profile (toys)",
        "profile (asymptotic)",
        "expected CLs, toys: median (+-1 sigma)",
        "Feldman-Cousins (toys)",
        title="upper limits on N_X [counts]",
    )
    for cl, v in res["cls"].items():
        e = res["expected_cls"][cl] or {}
        fc = res["feldman_cousins"][cl]
        t.add_row(
            cl,
            num(v),
            num(asym["cls"][cl]),
            num(res["profile"][cl]),
            num(asym["profile"][cl]),
            f"{num(e.get('+0'))} ({num(e.get('-1'))}-{num(e.get('+1'))})",
            "-" if fc is None else f"[{fc[0]:.1f}, {num(fc[1])}]",
        )
    console.print(t)
    for cl, why in res.get("unresolved", {}).items():
        console.print(f"  {cl}: not resolved by the toys ({why})")
    for msg in res["error_messages"]:
        console.print(f"  [red]toy error[/]: {msg}")
    console.print(f"wrote {res['store']}, {res['json']} and {res['figure']}")


def render_study_sbc(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip study sbc``: uniformity of every quantity's ranks."""
    control = res["fano_shift"]
    what = f"negative control (data Fano x {1 + control:g})" if control else "SBC"
    g = res["gates_passed"]
    console.print(
        f"[bold]{what} of the {res['run']} layout[/] ({res['level']} level): "
        f"{res['sims_done']} of {res['sims_total']} simulations, {res['errors']} failed, "
        f"gates passed in {g['k']} of {g['n']}, L = {res['rank_draws']}"
    )
    t = Table(
        "quantity",
        "chi-square / dof",
        "p",
        "ECDF outside the 95 % band",
        "uniform",
        "posterior sd / prior sd",
        title="ranks of the truth among the posterior draws (all simulations)",
    )
    for name, q in res["quantities"].items():
        st = q["all"]
        if st["n"] == 0:
            continue
        t.add_row(
            name,
            f"{st['chi2']:.1f} / {st['chi2_dof']}",
            f"{st['chi2_p']:.3g}",
            f"{st['ecdf_outside_points']} of {len(st['ecdf'])} points",
            "[green]yes[/]" if st["uniform"] else "[red]no[/]",
            f"{q['median_posterior_sd_over_prior_sd']:.3g}",
        )
    console.print(t)
    for msg in res["error_messages"]:
        console.print(f"  [red]simulation error[/]: {msg}")
    console.print(
        f"{res['sims_per_s_per_worker']:.4f} simulations per second per worker; "
        f"wrote {res['store']}, {res['json']} and {res['figure']}"
    )


def render_transport(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip transport``: every quantity with unit and equation."""
    tab = Table(
        "quantity",
        "value",
        "unit",
        "seed 001",
        title=f"{res['experiment']}: I = {res['inputs']['target']['current_A']:g} A",
    )
    for r in res["quantities"]:
        tab.add_row(r["quantity"], f"{r['value']:.4g}", r["unit"], r["equation"])
    console.print(tab)
    console.print(f"wrote {res['json']} and {len(res.get('figures', {}))} figures")


def render_convert(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip convert``: the exposure's factors and beta^2/2."""
    exp = res["exposure"]
    console.print(
        f"N_new = {exp['n_new']:.4e}   capture = {exp['capture_probability']:g}   "
        f"N_int ({exp['n_int_model']}) = {exp['n_int']:.4e}   efficiency = {exp['efficiency']:g}"
    )
    console.print(f"beta^2/2 <= {res['beta2half']:.3e}   (for N_X = {res['counts']:g})")


def render_train(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip train-peakfinder``: time, where the model went, and its metrics."""
    console.print(f"trained in {res['seconds']:.0f} s; wrote {res['out']}")
    t = Table("total counts", "median |err| [ADC]", "95 % |err| [ADC]", "all 5 within 10 ADC")
    for row in res["metrics"]["cnn"]:
        t.add_row(
            f"{row['counts']:.0e}",
            f"{max(row['median_abs_err']):.1f} (worst line)",
            f"{max(row['p95_abs_err']):.1f} (worst line)",
            f"{row['all_within_10']:.1%}",
        )
    console.print(t)


def render_report(console: Console, res: dict[str, Any]) -> None:
    """``bayes-vip report``: the page written, and whether its posterior belongs to its limits."""
    rs = res["result_set"]
    style = {"mismatch": "bold red", "match": "green"}.get(rs["status"], "yellow")
    console.print(f"wrote {res['report']}")
    console.print(f"[{style}]{rs['message']}[/]")
