"""The ``bayes-vip`` command line (Typer). It parses arguments, calls the library and writes
results; no physics lives here.

Every command exits 0 on success and 2 with one line on stderr, naming the bad file or
field, on bad input (``BayesVipError``). Heavy libraries are imported inside the commands so
that ``bayes-vip --version`` answers at once.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from bayes_vip import __version__
from bayes_vip.errors import BayesVipError, InputError

__all__ = ["app", "main", "DEFAULT_RUN", "DEMO_SEED"]

#: The run used when a command is given none (DESIGN.md, "CLI").
DEFAULT_RUN = Path("runs/demo")
#: Seed of the demo campaign regenerated when runs/demo is missing.
DEMO_SEED = 2016

app = typer.Typer(
    name="bayes-vip",
    help="Classic and hierarchical-Bayesian analysis of VIP-2 Pauli-exclusion-principle "
    "X-ray searches.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bayes-vip {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """bayes-vip COMMAND [RUN]: RUN is a run directory holding run.toml (default runs/demo)."""


def _console(json_out: bool):
    from rich.console import Console

    # With --json, stdout carries exactly one JSON object; everything else goes to stderr.
    return Console(stderr=json_out)


def _ensure_run(run: Path, console) -> Path:
    """The run directory; the demo run is simulated when it is the default and missing."""
    from bayes_vip.io.manifest import manifest_path

    if run == DEFAULT_RUN and not manifest_path(run).is_file():
        console.print(f"[yellow]{run} is missing: simulating the demo preset (seed {DEMO_SEED})")
        _simulate("demo", run, DEMO_SEED, 0.0, "ka1", console)
    return run


def _simulate(preset_name, out, seed, signal_counts, signal, console, level="adc"):
    from rich.progress import Progress

    from bayes_vip.simulate.presets import PRESETS, preset
    from bayes_vip.simulate.simulator import (
        simulate_campaign,
        write_campaign,
        write_energy_campaign,
    )

    if level not in ("adc", "energy"):
        raise InputError(f"must be adc or energy, got {level!r}", field="--level")
    if preset_name not in PRESETS:
        raise InputError(
            f"unknown preset {preset_name!r}; choose from {sorted(PRESETS)}", field="--preset"
        )
    pre = preset(preset_name)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"simulating {preset_name}", total=3)
        sim = simulate_campaign(
            pre,
            seed=seed,
            signal_counts=signal_counts,
            signal=signal,
            progress=lambda k: bar.advance(task, k),
        )
        writer = write_campaign if level == "adc" else write_energy_campaign
        path = writer(sim, out, signal=signal)
        bar.advance(task, 1)
    return sim, path


RunArg = Annotated[Path, typer.Argument(help="run directory holding run.toml")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as one JSON object")]


@app.command()
def info(run: RunArg = DEFAULT_RUN, json_out: JsonOpt = False) -> None:
    """Print a campaign: periods, SDDs and batches, counts per period and SDD, binning."""
    from bayes_vip.io.campaign import load_campaign, summary

    console = _console(json_out)
    run = _ensure_run(run, console)
    s = summary(load_campaign(run))
    if json_out:
        typer.echo(json.dumps(s))
        return
    from rich.table import Table

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


@app.command()
def simulate(
    preset_name: Annotated[
        str, typer.Option("--preset", help="demo, vip2-2016 or vip2-2018")
    ] = "demo",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="output run directory (default runs/demo or runs/sim-PRESET)"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    signal_counts: Annotated[
        float, typer.Option("--signal-counts", help="expected PEP events over all current-on data")
    ] = 0.0,
    signal: Annotated[
        str,
        typer.Option(
            "--signal", help="PEP line: ka1 (7746.73 eV), ka2 (7728.83 eV), doublet, or eV"
        ),
    ] = "ka1",
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="adc: raw event list (default); energy: TH1 histograms through the true "
            "calibration",
        ),
    ] = "adc",
    json_out: JsonOpt = False,
) -> None:
    """Write a simulated campaign: data files, and run.toml with the truth."""
    from bayes_vip.physics.lines import pep_signal

    console = _console(json_out)
    if out is None:
        out = DEFAULT_RUN if preset_name == "demo" else Path(f"runs/sim-{preset_name}")
    try:
        pep_signal(signal)
    except ValueError as exc:
        raise InputError(str(exc), field="--signal") from None
    sim, path = _simulate(preset_name, out, seed, signal_counts, signal, console, level)
    result = {
        "run": str(out),
        "manifest": str(path),
        "preset": preset_name,
        "seed": seed,
        "events": int(sim.adc.size),
        "signal_counts_realised": sim.truth["signal_counts_realised"],
    }
    if json_out:
        typer.echo(json.dumps(result))
    else:
        data = "events.parquet" if level == "adc" else "energyHistograms.root"
        console.print(
            f"wrote {path} and {out / data}: {result['events']:,} events, "
            f"{result['signal_counts_realised']} PEP events"
        )


@app.command()
def fit(
    run: RunArg = DEFAULT_RUN,
    signal_energy: Annotated[
        str,
        typer.Option(
            "--signal-energy",
            help="PEP line: ka1 (7746.73 eV, default), ka2 (7728.83 eV), "
            "doublet, or an energy in eV",
        ),
    ] = "ka1",
    statistic: Annotated[
        str, typer.Option("--statistic", help="chi2 (seed 000) or poisson")
    ] = "chi2",
    sdd: Annotated[int | None, typer.Option("--sdd", help="fit one SDD instead of the sum")] = None,
    bin_ev: Annotated[float, typer.Option("--bin-eV", help="fit bin width [eV]")] = 10.0,
    n_int_model: Annotated[
        str,
        typer.Option(
            "--n-int", help="N_int model: rs (D/mu, seed 000) or close-encounter (seed 001)"
        ),
    ] = "rs",
    signal_shape: Annotated[
        str,
        typer.Option(
            "--signal-shape",
            help="response: PEP line with the full detector response (default); "
            "gaussian: pure Gaussian core (seed 000)",
        ),
    ] = "response",
    json_out: JsonOpt = False,
) -> None:
    """Classic two-step simultaneous fit (seed 000): N_X, upper limits, beta^2/2."""
    from bayes_vip.results.classic_report import run_fit

    console = _console(json_out)
    run = _ensure_run(run, console)
    with console.status("two-step fit and profile-likelihood scan ..."):
        out = run_fit(
            run,
            signal=signal_energy,
            statistic=statistic,
            sdd=sdd,
            bin_eV=bin_ev,
            n_int_model=n_int_model,
            signal_shape=signal_shape,
        )
    if json_out:
        typer.echo(json.dumps(out, default=str))
        return
    from rich.table import Table

    q1, q2 = out["step1"], out["step2"]
    console.print(
        f"[bold]{out['run']}[/]: classic fit ({statistic}), PEP line {out['signal']['key']}"
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
    t = Table("upper limit", "N_X (counts)", f"beta^2/2 (N_int: {n_int_model})")
    b = out["conversion"]["beta2half_upper_limits"]
    for k, v in out["upper_limits_counts"].items():
        t.add_row(k, f"{v:.1f}", f"{b[k]:.3e}")
    console.print(t)
    console.print(f"wrote {out['json']} and {len(out['figures'])} figures")


@app.command("train-peakfinder")
def train_peakfinder_cmd(
    out: Annotated[Path, typer.Option("--out", help="model directory")] = Path("models/peakfinder"),
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 2024,
    n_train: Annotated[int, typer.Option("--n-train", help="training spectra")] = 100_000,
    epochs: Annotated[int, typer.Option("--epochs", help="training epochs")] = 40,
    n_finetune: Annotated[
        int, typer.Option("--n-finetune", help="low-count fine-tuning spectra")
    ] = 20_000,
    finetune_epochs: Annotated[int, typer.Option("--finetune-epochs")] = 10,
    metrics_n: Annotated[
        int, typer.Option("--metrics-n", help="held-out spectra per count level for the metrics")
    ] = 300,
    json_out: JsonOpt = False,
) -> None:
    """Train the seed-002 peak-finder CNN on synthetic spectra (CPU, about 10 minutes)."""
    from rich.progress import Progress

    from bayes_vip.calibration.metrics import evaluate_levels
    from bayes_vip.calibration.train import TrainSpec, save_model, train_peakfinder

    for name, v in (
        ("--n-train", n_train),
        ("--epochs", epochs),
        ("--n-finetune", n_finetune),
        ("--metrics-n", metrics_n),
    ):
        if v < 1:
            raise InputError(f"must be >= 1, got {v}", field=name)
    if finetune_epochs < 0:
        raise InputError(f"must be >= 0, got {finetune_epochs}", field="--finetune-epochs")
    console = _console(json_out)
    spec = TrainSpec(
        seed=seed,
        n_train=n_train,
        epochs=epochs,
        n_finetune=n_finetune,
        finetune_epochs=finetune_epochs,
    )
    with Progress(console=console, transient=True) as bar:
        tasks = {
            "data": bar.add_task("drawing synthetic spectra", total=3),
            "train": bar.add_task("training", total=epochs),
            "finetune": bar.add_task("low-count fine-tune", total=max(finetune_epochs, 1)),
        }

        def progress(stage, done, total, val):
            desc = f"{stage} (val loss {val:.2e})" if val is not None else None
            bar.update(tasks[stage], completed=done, **({"description": desc} if desc else {}))

        model, record = train_peakfinder(spec, progress=progress)
        task = bar.add_task("metrics on held-out spectra", total=None)
        metrics = evaluate_levels(model, seed=seed + 1, n=metrics_n)
        bar.remove_task(task)
    path = save_model(
        model, out, {"training": spec.to_dict(), "record": record, "metrics": metrics}
    )
    result = {"out": str(path), "seconds": record["total_seconds"], "metrics": metrics}
    if json_out:
        typer.echo(json.dumps(result))
        return
    console.print(f"trained in {record['total_seconds']:.0f} s; wrote {path}")
    _print_peakfinder_metrics(console, metrics)


def _print_peakfinder_metrics(console, metrics: dict) -> None:
    from rich.table import Table

    t = Table("total counts", "median |err| [ADC]", "95 % |err| [ADC]", "all 5 within 10 ADC")
    for row in metrics["cnn"]:
        t.add_row(
            f"{row['counts']:.0e}",
            f"{max(row['median_abs_err']):.1f} (worst line)",
            f"{max(row['p95_abs_err']):.1f} (worst line)",
            f"{row['all_within_10']:.1%}",
        )
    console.print(t)


@app.command()
def calibrate(
    run: RunArg = DEFAULT_RUN,
    batch_hours: Annotated[
        float | None,
        typer.Option("--batch-hours", help="merge batches into groups this long (e.g. 720)"),
    ] = None,
    no_refine: Annotated[
        bool, typer.Option("--no-refine", help="standard calibration only (no optax step)")
    ] = False,
    refine_lines: Annotated[
        str,
        typer.Option(
            "--refine-lines", help="cu: Cu Ka only (seed 002 eq. 3); all: Cu, Ti and Mn lines"
        ),
    ] = "cu",
    iterations: Annotated[
        int | None,
        typer.Option("--iterations", help="Adam iterations of the refinement (default 200)"),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Calibrate an ADC-level run (seed 002): CNN seeds, line fits, quadratic, refinement."""
    from rich.progress import Progress

    from bayes_vip.calibration.report import run_calibrate

    console = _console(json_out)
    run = _ensure_run(run, console)
    with Progress(console=console, transient=True) as bar:
        tasks: dict = {}

        def progress(stage, done, total):
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        out = run_calibrate(
            run,
            batch_hours=batch_hours,
            refine=not no_refine,
            refine_lines=refine_lines,
            progress=progress,
            **({} if iterations is None else {"iterations": iterations}),
        )
    if json_out:
        typer.echo(json.dumps(out, default=str))
        return
    from rich.table import Table

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
    console.print(f"wrote {run / 'results' / 'calibration.nc'}, calibration.json and figures")


def _host_devices(chains: int) -> None:
    """One JAX host device per chain (at most 16), so that numpyro runs the chains in
    parallel (pmap) on the CPU cores; with more chains than cores they share them, which
    still beats one chain after the other. Only effective before JAX starts (the CLI
    imports it lazily)."""
    if "jax" in sys.modules:
        return
    n = max(1, min(chains, 16))
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


@app.command()
def sample(
    run: RunArg = DEFAULT_RUN,
    chains: Annotated[int, typer.Option("--chains", help="NUTS chains")] = 4,
    warmup: Annotated[int, typer.Option("--warmup", help="warm-up iterations per chain")] = 300,
    samples: Annotated[int, typer.Option("--samples", help="draws per chain")] = 400,
    prior: Annotated[
        str, typer.Option("--prior", help="flat-beta (flat in beta^2/2) or flat-counts (in N_X)")
    ] = "flat-beta",
    prior_upper: Annotated[
        float | None,
        typer.Option(
            "--prior-upper",
            help="upper bound of the flat signal prior (1e-29 units or counts); "
            "default: 20 classic sigmas",
        ),
    ] = None,
    signal_energy: Annotated[
        str, typer.Option("--signal-energy", help="PEP line: ka1, ka2, doublet or eV")
    ] = "ka1",
    n_int_model: Annotated[
        str, typer.Option("--n-int", help="N_int model: rs or close-encounter")
    ] = "rs",
    seed: Annotated[int, typer.Option("--seed", help="random seed of the chains")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Hierarchical Bayesian analysis (NUTS): calibrates and fits first where needed, then
    writes posterior.nc, limits.json and figures. Exit code 3 when a sampler gate fails."""
    _host_devices(chains)
    from bayes_vip.results.bayes_report import run_sample

    console = _console(json_out)
    run = _ensure_run(run, console)
    res = run_sample(
        run,
        chains=chains,
        warmup=warmup,
        samples=samples,
        prior=prior,
        prior_upper=prior_upper,
        signal=signal_energy,
        n_int_model=n_int_model,
        seed=seed,
        progress=lambda stage: console.print(f"[dim]{stage} ...[/]"),
        progress_bar=not json_out,
    )
    if json_out:
        typer.echo(json.dumps(res, default=str))
    else:
        _print_sample(console, res)
    if not res["gates"]["passed"]:
        raise typer.Exit(3)


def _print_sample(console, res: dict) -> None:
    from rich.table import Table

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
    t = Table(
        "upper limit",
        "N_X [counts]",
        f"beta^2/2 (N_int {res['n_int_model']})",
        title=f"classic and Bayesian limits, PEP line {res['signal']['key']}",
    )
    for r in res["comparison"]:
        n = f"{r['N_X']:.1f}" + (f" +- {r['mcse_N_X']:.1f}" if r["mcse_N_X"] is not None else "")
        b = f"{r['beta2half']:.3e}" + (
            f" +- {r['mcse_beta2half']:.1e}" if r["mcse_beta2half"] is not None else ""
        )
        t.add_row(r["method"], n, b)
    console.print(t)
    bf = res["bayes_factor"]
    console.print(
        f"  Savage-Dickey Bayes factor, signal vs none: {bf['BF_10_signal_vs_no_signal']:.3g} "
        f"(prior upper bound {res['prior_upper']:.3g})"
    )
    if res["gates"]["passed"]:
        console.print("[green]sampler gates passed[/] (R-hat <= 1.01, ESS >= 400, no divergences)")
    else:
        console.print(
            "[bold red]SAMPLER GATES FAILED[/]: "
            + "; ".join(res["gates"]["failed"])
            + " -- these limits are NOT reliable"
        )
    console.print(
        f"wrote {res['posterior']}, {res['json']} and {len(res.get('figures', []))} figures"
    )


@app.command()
def transport(
    experiment: Annotated[
        str, typer.Option("--experiment", help="vip or vip2 (seed 001 table 1)")
    ] = "vip2",
    current_a: Annotated[
        float | None, typer.Option("--current-A", help="override the preset's current [A]")
    ] = None,
    fermi_velocity_factor: Annotated[
        float,
        typer.Option(
            "--fermi-velocity-factor",
            help="factor in eq. 8: 0.75 as printed; 1 reproduces the "
            "seed's mu = 39 nm (docs/transport.md)",
        ),
    ] = 0.75,
    rs_bound: Annotated[
        float | None,
        typer.Option(
            "--rs-bound", help="an RS bound on beta^2/2 to improve by the close-encounter gain"
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="folder for transport.json and figures")
    ] = Path("results/transport"),
    json_out: JsonOpt = False,
) -> None:
    """Seed 001 transport model: every quantity with unit and equation, figures."""
    from bayes_vip.results.transport_report import run_transport

    console = _console(json_out)
    with console.status("transport model and figures ..."):
        res = run_transport(
            experiment,
            current_A=current_a,
            fermi_velocity_factor=fermi_velocity_factor,
            rs_bound=rs_bound,
            out_dir=out,
        )
    if json_out:
        typer.echo(json.dumps(res, default=str))
        return
    from rich.table import Table

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


@app.command()
def convert(
    counts: Annotated[
        float, typer.Option("--counts", help="N_X: (an upper limit on) the PEP X-ray counts")
    ],
    current_a: Annotated[float, typer.Option("--current-A", help="current [A]")],
    time_s: Annotated[float, typer.Option("--time-s", help="data-taking time with current [s]")],
    length_cm: Annotated[float, typer.Option("--length-cm", help="effective target length D [cm]")],
    mfp_cm: Annotated[float, typer.Option("--mfp-cm", help="mean free path mu [cm]")],
    efficiency: Annotated[
        float, typer.Option("--efficiency", help="detection efficiency (fraction, e.g. 0.018)")
    ],
    n_int_model: Annotated[
        str,
        typer.Option(
            "--n-int", help="N_int model: rs (D/mu, seed 000) or close-encounter (seed 001)"
        ),
    ] = "rs",
    cross_section_cm2: Annotated[
        float | None,
        typer.Option(
            "--cross-section-cm2",
            help="strip cross-section z*w [cm^2], for close-encounter (VIP-2: 0.01)",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Convert counts to beta^2/2 with the Ramberg-Snow formula (seed 000 eq. 2)."""
    import math

    from bayes_vip.physics.conversion import beta2half_from_counts, exposure

    for name, v in (("--counts", counts), ("--time-s", time_s), ("--current-A", current_a)):
        if not math.isfinite(v) or v < 0 or (name != "--counts" and v == 0):
            raise InputError(
                f"must be a finite number {'>= 0' if name == '--counts' else '> 0'}, got {v}",
                field=name,
            )
    exp = exposure(
        charge_C=current_a * time_s,
        length_cm=length_cm,
        mean_free_path_cm=mfp_cm,
        efficiency=efficiency,
        n_int_model=n_int_model,
        current_A=current_a,
        cross_section_cm2=cross_section_cm2,
    )
    b = beta2half_from_counts(counts, exp)
    result = {
        "counts": counts,
        "beta2half": b,
        "exposure": exp.to_dict(),
        "formula": "beta^2/2 = N_X / (N_new * capture * N_int * efficiency), "
        "N_new = I*t/e (seed 000 eq. 2)",
    }
    if json_out:
        typer.echo(json.dumps(result))
        return
    console = _console(False)
    console.print(
        f"N_new = {exp.n_new:.4e}   capture = {exp.capture_probability:g}   "
        f"N_int ({n_int_model}) = {exp.n_int:.4e}   efficiency = {exp.efficiency:g}"
    )
    console.print(f"beta^2/2 <= {b:.3e}   (for N_X = {counts:g})")


def main(argv: list[str] | None = None) -> int:
    """Entry point: float64 JAX, then run the app; BayesVipError -> one line, exit 2."""
    # x64 must be on before JAX is first imported (JAX reads this at import time); the
    # counts reach 1e6 per bin and the likelihoods need double precision.
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    try:
        app(args=argv, standalone_mode=True)  # click handles usage errors (exit 2) and --help
    except BayesVipError as exc:
        print(f"bayes-vip: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
