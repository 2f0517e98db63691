"""The ``bayes-vip`` command line (Typer): wiring only.

Each command reads its options (declared once, in ``OPTIONS``), validates them before any
computation (``io.config`` for the analysis keys), calls one pipeline function and renders
its record (``results.console``) or prints it as JSON. Exit codes: 0 success, 2 bad input
(one line naming the file, key or option), 3 a sampler gate failed. Heavy libraries load in
the pipeline, so that ``--version`` and option errors answer at once.

Every command takes ``-q/--quiet`` (the result and errors only, no progress) and
``-v/--verbose`` (stage times, the sampler's details, other libraries' warnings), before or
after its name. Progress is a live display on a terminal and plain lines in a file or a
pipe (``results.console.TerminalProgress``).
"""

import functools
import inspect
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.exceptions import TyperException

from bayes_vip import __version__
from bayes_vip.bayes.checkpoint import CHECKPOINT_EVERY, CHUNK, check_continuation, read_meta
from bayes_vip.errors import BayesVipError, InputError
from bayes_vip.io.atomic import recover
from bayes_vip.io.combination import combination_runs
from bayes_vip.io.config import AnalysisConfig, load_config
from bayes_vip.io.manifest import load_manifest, manifest_path
from bayes_vip.io.outputs import check_writable, read_json
from bayes_vip.pipeline import combine as _combine
from bayes_vip.pipeline import convert as _convert
from bayes_vip.pipeline import fit as _fit
from bayes_vip.pipeline import reproduce as _reproduce
from bayes_vip.pipeline import sample as _sample
from bayes_vip.pipeline import scan as _scan
from bayes_vip.pipeline import simulate as _simulate
from bayes_vip.pipeline import train as _train
from bayes_vip.pipeline.devices import compilation_cache, host_devices
from bayes_vip.pipeline.simulate import DEMO_RUN, SimulationRequest, ensure_demo
from bayes_vip.results import console as _render
from bayes_vip.studies.bands import bands_spec, bands_study
from bayes_vip.studies.coverage import coverage_spec, coverage_study
from bayes_vip.studies.frequentist import frequentist_spec, frequentist_study
from bayes_vip.studies.sbc import sbc_spec, sbc_study

__all__ = ["FLAGS", "OPTIONS", "app", "main"]

#: Every option that sets an input field: field -> (flag, type, default, help). Analysis
#: configuration keys (``io.config``) are passed on as typed, with no default, so that the
#: run's ``[analysis]`` table applies and the config's validators name the key in any error.
OPTIONS: dict[str, tuple[str, Any, Any, str]] = {
    "signal": ("--signal-energy", str | None, None, "PEP line: ka1, ka2, doublet, or eV"),
    "n_int": ("--n-int", str | None, None, "N_int: rs (D/mu) or close-encounter (seed 001)"),
    "calibration.batch_hours": ("--batch-hours", str | None, None, "batch length [h]"),
    "calibration.refine_lines": ("--refine-lines", str | None, None, "cu (seed 002) or all"),
    "calibration.iterations": ("--iterations", str | None, None, "Adam iterations (200)"),
    "fit.statistic": ("--statistic", str | None, None, "poisson (the default) or chi2 (seed 000)"),
    "fit.sdd": ("--sdd", str | None, None, "fit one SDD instead of the sum"),
    "fit.bin_eV": ("--bin-eV", str | None, None, "fit bin width [eV] (10)"),
    "fit.signal_shape": ("--signal-shape", str | None, None, "response, or gaussian (seed 000)"),
    "fit.background": (
        "--background",
        str | None,
        None,
        "separate (each spectrum its own), or shared by on and off (scaled by live time)",
    ),
    "sample.chains": ("--chains", str | None, None, "NUTS chains (4)"),
    "sample.warmup": ("--warmup", str | None, None, "warm-up iterations per chain (300)"),
    "sample.samples": ("--samples", str | None, None, "draws per chain (1000)"),
    "sample.max_draws": ("--max-draws", str | None, None, "extend to at most this (4 x samples)"),
    "sample.prior": ("--prior", str | None, None, "flat-beta, or flat-counts (flat in N_X)"),
    "sample.prior_upper": ("--prior-upper", str | None, None, "the flat prior's upper bound"),
    "sample.priors": (
        "--priors",
        str | None,
        None,
        "nuisance priors: empirical-bayes (the run's own classic fit) or external",
    ),
    "sample.seed": ("--seed", str | None, None, "random seed of the chains (0)"),
    "sample.line_sd_eV": (
        "--line-sd-eV",
        str | None,
        None,
        "sd of a Normal prior on the PEP line's position [eV] (0: fixed; 10: the stated "
        "theoretical uncertainty)",
    ),
    "sample.background": (
        "--background",
        str | None,
        None,
        "separate (each period its own), or shared by the currents and drifting in time",
    ),
    "sample.drift_days": (
        "--drift-days",
        float | None,
        None,
        "a shared background's drift blocks [days] (7)",
    ),
    "simulation.preset": (
        "--preset",
        str,
        "demo",
        "demo, vip2-2016, vip2-2016-17, vip2-2018 or vip2-switched",
    ),
    "simulation.seed": ("--seed", int, 0, "random seed"),
    "simulation.signal_counts": ("--signal-counts", float, 0.0, "expected PEP events"),
    "simulation.signal": ("--signal", str, "ka1", "PEP line: ka1, ka2, doublet or eV"),
    "simulation.level": ("--level", str, "adc", "adc, or energy (true calibration)"),
    "simulation.cycle_s": (
        "--cycle-s",
        float,
        None,
        "switch the current every S seconds (a [schedule]; default: the preset's)",
    ),
    "simulation.background_drift": (
        "--background-drift",
        float,
        None,
        "relative change of the background rates over the run (default: the preset's)",
    ),
    "train.seed": ("--seed", int, 2024, "random seed"),
    "train.n_train": ("--n-train", int, 100_000, "training spectra"),
    "train.epochs": ("--epochs", int, 40, "training epochs"),
    "train.n_finetune": ("--n-finetune", int, 20_000, "low-count fine-tuning spectra"),
    "train.finetune_epochs": ("--finetune-epochs", int, 10, "fine-tuning epochs"),
    "train.metrics_n": ("--metrics-n", int, 300, "held-out spectra per count level"),
    "transport.experiment": ("--experiment", str, "vip2", "vip or vip2 (seed 001 table 1)"),
    "transport.current_A": ("--current-A", float | None, None, "current [A] (preset's)"),
    "transport.fermi_velocity_factor": ("--fermi-velocity-factor", float, 0.75, "eq. 8 factor"),
    "transport.rs_bound": ("--rs-bound", float | None, None, "an RS bound on beta^2/2"),
    "study.toys": ("--toys", int, 400, "toys per injected signal"),
    "study.multiples": ("--multiples", str, "0,1,2,3,5", "injected signals [classic sigma]"),
    "study.seed": ("--seed", int, 0, "the study's seed (each toy's seed derives from it)"),
    "study.methods": ("--methods", str, "classic,bayes", "classic, or classic,bayes"),
    "study.scheduler": (
        "--scheduler",
        str | None,
        None,
        "a Dask scheduler's address, or in-process",
    ),
    "study.workers": ("--workers", int | None, None, "local Dask workers (every core)"),
    "study.sims": ("--sims", int, 1000, "SBC simulations"),
    "study.rank_draws": ("--rank-draws", int, 99, "posterior draws each rank counts among"),
    "study.fano_shift": ("--fano-shift", float, 0.0, "negative control: data Fano x (1 + this)"),
    "study.points": ("--points", int, 17, "N_X values of the toys' grid, from 0"),
    "study.reach": ("--reach", float, 4.0, "the grid's top [classic sigma(N_X)]"),
    "counts": ("--counts", float, ..., "N_X: (an upper limit on) the PEP X-ray counts"),
    "current_A": ("--current-A", float, ..., "current [A]"),
    "time_s": ("--time-s", float, ..., "data-taking time with current [s]"),
    "length_cm": ("--length-cm", float, ..., "effective target length D [cm]"),
    "mean_free_path_cm": ("--mfp-cm", float, ..., "mean free path mu [cm]"),
    "efficiency": ("--efficiency", float, ..., "detection efficiency (a fraction)"),
    "reproduce.sum": ("--sum", str, "sdds", "sdds (our sum of the SDDs) or authors (the file's)"),
    "scan.start_eV": ("--from-eV", float, 7600.0, "first energy of the line [eV]"),
    "scan.stop_eV": ("--to-eV", float, 7900.0, "last energy of the line [eV]"),
    "scan.step_eV": ("--step-eV", float, 10.0, "step [eV]"),
    "scan.level": ("--cl", float, 0.95, "confidence level of the limits"),
    "cross_section_cm2": ("--cross-section-cm2", float | None, None, "strip z w [cm^2]"),
}
#: The flag of every field: the library names fields and keys, the CLI alone shows flags.
FLAGS = {field: flag for field, (flag, *_) in OPTIONS.items()} | {
    "calibration.refine": "--no-refine"
}


def _options(*fields: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the options of ``fields``; it receives their values as ``o``."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        names = {f: f.replace(".", "_") for f in fields}
        extra = []
        for f in fields:
            flag, kind, default, text = OPTIONS[f]
            hint = Annotated[kind, typer.Option(flag, help=escape(text))]
            extra.append(inspect.Parameter(names[f], inspect.Parameter.KEYWORD_ONLY,
                                           default=default, annotation=hint))  # fmt: skip
        sig = inspect.signature(fn)
        params = [p for n, p in sig.parameters.items() if n != "o"]

        @functools.wraps(fn)
        def command(**kw: Any) -> Any:
            o = {f: kw.pop(n) for f, n in names.items()}
            return fn(**kw, o=o)

        command.__signature__ = sig.replace(parameters=params + extra)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params + extra}
        return command

    return wrap


def _kwargs(o: dict[str, Any]) -> dict[str, Any]:
    """Option values keyed by their field's last name (``train.n_train`` -> ``n_train``)."""
    return {f.rpartition(".")[2]: v for f, v in o.items()}


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


#: What ``--quiet`` and ``--verbose`` say. Quiet keeps the result: a physicist who asks for
#: less chatter (a batch job, a script that keeps the output) still wants the numbers; only
#: the progress goes. ``--json`` gives the result alone, as data; ``> /dev/null`` nothing.
QUIET_HELP = (
    "no progress and no stages: only the result (its tables and the files written) and "
    "errors; other libraries' warnings are hidden"
)
VERBOSE_HELP = (
    "also each stage's time, the sampler's details (each chain's step size, leapfrog steps "
    "per iteration) and other libraries' warnings"
)
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)]
#: ``--quiet`` and ``--verbose`` of the command being run, given before it or after it; read
#: by ``_run`` and by the warning filter of ``main`` (warnings may come from any thread)
_TERMINAL = {"quiet": False, "verbose": False}


@app.callback()
def _root(
    version: Annotated[bool | None, typer.Option("--version", callback=_version)] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """bayes-vip COMMAND [RUN]: RUN is a run directory holding run.toml (default runs/demo).

    --quiet and --verbose go before the command or after it (bayes-vip sample RUN --quiet).
    """
    _TERMINAL.update(quiet=quiet, verbose=verbose)


def _terminal(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command ``--quiet`` and ``--verbose`` (after the command; also before it)."""
    sig = inspect.signature(fn)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=hint)
        for name, hint in (("quiet", Quiet), ("verbose", Verbose))
    ]

    @functools.wraps(fn)
    def command(*args: Any, quiet: bool = False, verbose: bool = False, **kw: Any) -> Any:
        _TERMINAL["quiet"] = _TERMINAL["quiet"] or quiet
        _TERMINAL["verbose"] = _TERMINAL["verbose"] or verbose
        if _TERMINAL["quiet"] and _TERMINAL["verbose"]:
            msg = "give --quiet or --verbose, not both"
            raise InputError(msg, field="--verbose")
        return fn(*args, **kw)

    params = list(sig.parameters.values()) + extra
    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def _verbosity() -> int:
    """``_render.QUIET``, ``NORMAL`` or ``VERBOSE``, from the options given."""
    if _TERMINAL["quiet"]:
        return _render.QUIET
    return _render.VERBOSE if _TERMINAL["verbose"] else _render.NORMAL


Run = Annotated[Path, typer.Argument(help="run directory holding run.toml")]
Runs = Annotated[
    list[Path] | None,
    typer.Argument(
        help="run directory holding run.toml (default runs/demo); several: analysed together, "
        "one beta^2/2 (--out: the combination's folder)",
        show_default=False,
    ),
]
CombinedOut = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="several runs: the combination's folder (default runs/combined-NAME1+NAME2)",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="print the result as one JSON object")]
Config = Annotated[Path | None, typer.Option(help=escape("TOML file with an [analysis] table"))]
Out = Annotated[Path | None, typer.Option("--out", help="output folder")]
ScanFlag = Annotated[
    bool,
    typer.Option(
        "--scan",
        help="also scan the line energy (--from-eV, --to-eV, --step-eV, --cl): scan.json, "
        "and its summary in classic.json",
    ),
]


def _console(json_out: bool) -> Console:
    """The console of a command: stdout, or stderr with ``--json``.

    On a terminal rich wraps prose at spaces (never inside a number). A file or a pipe has
    no width: lines are never wrapped, and tables are laid out on ``_render.WIDE`` columns.
    """
    # with --json, stdout carries exactly one JSON object; everything else goes to stderr
    console = Console(stderr=json_out)
    if not console.is_terminal:
        console = Console(stderr=json_out, width=_render.WIDE, soft_wrap=True)
    return console


def _run(json_out: bool, render: Callable[..., None], job: Callable[..., dict], *extra: Any):
    """Run ``job(progress)`` with a terminal reporter; print its record as JSON or render it.

    The reporter (``results.console.TerminalProgress``) shows a live display on a terminal
    and plain lines in a file or a pipe; ``--quiet`` silences it, ``--verbose`` adds the
    stages' times and the total.
    """
    console = _console(json_out)
    verbosity = _verbosity()
    t0 = time.perf_counter()
    with _render.TerminalProgress(console, verbosity=verbosity) as progress:
        record = job(progress)
    if json_out:
        typer.echo(json.dumps(record, default=str))
    else:
        render(console, record, *extra)
    if verbosity >= _render.VERBOSE:
        took = _render.duration(time.perf_counter() - t0)
        console.print(f"done in {took}", style="dim", highlight=False)
    return record


def _check_run(run: Path, out: Path | None = None) -> None:
    """Check the run's manifest and that ``out`` (default RUN/results) can be written.

    Before any work; the folder is then made whole (``io.atomic.recover``).
    """
    if run != DEMO_RUN or manifest_path(run).exists():  # the demo is simulated where missing
        load_manifest(run)  # a missing or bad manifest stops here, before JAX loads
    results = manifest_path(run).parent / "results"
    check_writable(out or results, field=None if out is None else "--out")
    recover(out or results)  # an interrupted set made whole, orphaned temporary files removed


def _analysis(cfg: AnalysisConfig, fn: Callable[..., dict], run: Path) -> Callable[..., dict]:
    """The job ``fn(run, cfg)``; an error about a key that came from a file names the file."""

    def job(progress: Any) -> dict:
        compilation_cache()  # loads JAX: after host_devices, after the options are checked
        try:
            return fn(ensure_demo(run, progress=progress), cfg, progress=progress)
        except InputError as exc:
            raise cfg.locate(exc) from None

    return job


@app.command()
@_terminal
def info(run: Run = DEMO_RUN, json_out: Json = False) -> None:
    """Print a campaign: periods, SDDs and batches, counts per period and SDD, binning."""
    from bayes_vip.pipeline.info import info as run_info  # xarray: about 1 s to load

    _run(json_out, _render.render_info, lambda p: run_info(run, progress=p))


@app.command()
@_terminal
@_options(
    *(
        f"simulation.{k}"
        for k in (
            "preset",
            "seed",
            "signal_counts",
            "signal",
            "level",
            "cycle_s",
            "background_drift",
        )
    )
)
def simulate(out: Out = None, json_out: Json = False, *, o) -> None:
    """Write a simulated campaign: data files, and run.toml with the truth.

    Default out: runs/demo for the demo, else runs/sim-PRESET.
    """
    req = SimulationRequest.validated(**_kwargs(o))
    out = out or (DEMO_RUN if req.preset == "demo" else Path(f"runs/sim-{req.preset}"))
    check_writable(out, field="--out")
    _run(json_out, _render.render_simulate, lambda p: _simulate.simulate(req, out, progress=p))


@app.command()
@_terminal
@_options("signal", "n_int", "fit.statistic", "fit.sdd", "fit.bin_eV", "fit.signal_shape",
          "fit.background",
          "scan.start_eV", "scan.stop_eV", "scan.step_eV", "scan.level")  # fmt: skip
def fit(
    runs: Runs = None,
    config: Config = None,
    json_out: Json = False,
    with_scan: ScanFlag = False,
    out: CombinedOut = None,
    *,
    o,
) -> None:
    """Classic two-step simultaneous fit (seed 000): N_X, upper limits, beta^2/2.

    With --scan, also the energy scan of `bayes-vip scan` (--from-eV, --to-eV, --step-eV,
    --cl), whose summary goes into classic.json. Several runs: each is fitted, and their
    profile likelihoods are combined in one beta^2/2 (OUT/results/classic.json).
    """
    keys = ("scan.start_eV", "scan.stop_eV", "scan.step_eV", "scan.level")
    window = [o.pop(k) for k in keys]
    if not with_scan:
        given = [OPTIONS[k][0] for k, v in zip(keys, window, strict=True) if v != OPTIONS[k][2]]
        if given:
            msg = "set without --scan; add --scan to scan the line energy"
            raise InputError(msg, field=", ".join(given))
    run = _one_run(runs, out, o, with_scan=with_scan)
    if run is None:  # several runs
        combination, cfg, paths = _combination(runs, config, o, out)
        job = functools.partial(_combine.fit_runs, paths, cfg, combination)
        _run(json_out, _render.render_fit_runs, _combined_job(cfg, job))
        return
    req = _scan.ScanRequest.validated(*window) if with_scan else None
    cfg = load_config(run, config_file=config, overrides=o)
    _check_run(run)
    job = functools.partial(_fit.fit, scan=req)
    _run(json_out, _render.render_fit, _analysis(cfg, job, run))


@app.command()
@_terminal
@_options("scan.start_eV", "scan.stop_eV", "scan.step_eV", "scan.level", "signal", "n_int",
          "fit.statistic", "fit.bin_eV", "fit.signal_shape")  # fmt: skip
def scan(run: Run = DEMO_RUN, config: Config = None, json_out: Json = False, *, o) -> None:
    """Classic limits for a PEP line anywhere in an energy window, and the local significance.

    The two-step fit runs at --signal-energy; step 2 is then refitted with the line at each
    energy from --from-eV to --to-eV. Writes RUN/results/scan.json and a figure.
    """
    req = _scan.ScanRequest.validated(
        o.pop("scan.start_eV"), o.pop("scan.stop_eV"), o.pop("scan.step_eV"), o.pop("scan.level")
    )
    cfg = load_config(run, config_file=config, overrides=o)
    _check_run(run)

    def job(progress: Any) -> dict:
        compilation_cache()
        try:
            path = ensure_demo(run, progress=progress)
            return _scan.scan(path, cfg, req, progress=progress)
        except InputError as exc:
            raise cfg.locate(exc) from None

    _run(json_out, _render.render_scan, job)


@app.command()
@_terminal
@_options("reproduce.sum", "n_int", "fit.bin_eV", "sample.seed")
def reproduce(run: Run = DEMO_RUN, config: Config = None, json_out: Json = False, *, o) -> None:
    """The published analyses of a measured run, each by its method, in one table.

    (a) ROI subtraction, (b) the simultaneous chi-square fit, (c) Bayesian counting, (d) the
    binned Bayesian fit; writes RUN/results/reproduce_SUM.json.
    """
    sum_of = o.pop("reproduce.sum")
    _reproduce.check_sum(sum_of)  # before JAX loads
    cfg = load_config(run, config_file=config, overrides=o)
    _check_run(run)

    def job(progress: Any) -> dict:
        compilation_cache()
        try:
            path = ensure_demo(run, progress=progress)
            return _reproduce.reproduce(path, cfg, sum_of=sum_of, progress=progress)
        except InputError as exc:
            raise cfg.locate(exc) from None

    _run(json_out, _render.render_reproduce, job)


@app.command()
@_terminal
@_options("calibration.batch_hours", "calibration.refine_lines", "calibration.iterations")
def calibrate(
    run: Run = DEMO_RUN,
    config: Config = None,
    no_refine: Annotated[bool, typer.Option(help="standard calibration only")] = False,
    json_out: Json = False,
    *,
    o,
) -> None:
    """Calibrate an ADC-level run (seed 002): CNN seeds, line fits, quadratic, refinement."""
    o["calibration.refine"] = False if no_refine else None
    cfg = load_config(run, config_file=config, overrides=o)
    _check_run(run)
    from bayes_vip.pipeline.calibrate import calibrate as run_calibrate  # xarray: about 1 s

    written = run / "results" / "calibration.nc"
    _run(json_out, _render.render_calibrate, _analysis(cfg, run_calibrate, run), written)


@app.command()
@_terminal
@_options("sample.chains", "sample.warmup", "sample.samples", "sample.max_draws", "sample.prior",
          "sample.prior_upper", "sample.priors", "signal", "n_int", "sample.seed",
          "sample.line_sd_eV", "sample.background", "sample.drift_days")  # fmt: skip
def sample(
    runs: Runs = None,
    config: Config = None,
    json_out: Json = False,
    out: CombinedOut = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="continue a run that was stopped, from its checkpoint "
            "(RUN/results/sample-checkpoint.npz), with its options",
        ),
    ] = False,
    extend: Annotated[
        int,
        typer.Option(
            "--extend", help="add this many draws per chain to a finished run, with its options"
        ),
    ] = 0,
    checkpoint_every: Annotated[
        int,
        typer.Option("--checkpoint-every", help="draws per chain between checkpoints"),
    ] = CHECKPOINT_EVERY,
    *,
    o,
) -> None:
    """Hierarchical Bayesian analysis (NUTS): calibrates and fits first where needed.

    The sampler is saved as it goes: a stopped run continues with --resume, and a finished
    one gets more draws with --extend N. Exit code 3 when a sampler gate fails or the
    warm-up collapses. Several runs: one model with one beta^2/2, each run with its own
    nuisances and conversion (each run is first analysed alone where it has no such
    results); the table gives every run's limits and the combined ones.
    """
    if resume and extend:
        msg = "give --resume or --extend, not both"
        raise InputError(msg, field="--extend")
    if extend < 0:
        msg = f"must be at least 1, got {extend}"
        raise InputError(msg, field="--extend")
    if checkpoint_every < CHUNK or checkpoint_every % CHUNK:
        msg = f"must be a multiple of {CHUNK} (the sampler's chunk), got {checkpoint_every}"
        raise InputError(msg, field="--checkpoint-every")
    run = _one_run(runs, out, o)
    if run is None:  # several runs
        _sample_runs(runs, config, o, out, json_out, resume, extend, checkpoint_every)
        return
    if resume or extend:  # the checkpoint's options, where the command line gives none
        ckpt = manifest_path(run).parent / "results" / _sample.CHECKPOINT
        meta = read_meta(ckpt)
        check_continuation(meta, ckpt, resume=resume, extend=extend)
        o = _stored_options(meta) | {k: v for k, v in o.items() if v is not None}
    cfg = load_config(run, config_file=config, overrides=o)
    _check_run(run)
    classic = manifest_path(run).parent / "results" / "classic.json"
    if classic.is_file():
        read_json(classic)  # a damaged classic.json stops here, before JAX loads
    host_devices(cfg.sample.chains)  # before JAX loads: one CPU device per chain
    job = functools.partial(
        _sample.sample, resume=resume, extend=extend, checkpoint_every=checkpoint_every
    )
    record = _run(json_out, _render.render_sample, _analysis(cfg, job, run))
    if not record["gates"]["passed"]:
        raise typer.Exit(3)


def _one_run(runs: list[Path] | None, out: Path | None, o: dict, *, with_scan=False):
    """The one run of ``runs`` (default the demo), or None for several; options checked."""
    runs = runs or [DEMO_RUN]
    if len(runs) == 1:
        if out is not None:
            msg = "names a combination's folder: give it with two runs or more"
            raise InputError(msg, field="--out")
        return runs[0]
    if with_scan:
        msg = "scans one run; give one run with --scan"
        raise InputError(msg, field="--scan")
    if o.get("fit.sdd") is not None:
        msg = "selects an SDD of one run; give one run with --sdd"
        raise InputError(msg, field="--sdd")
    return None


def _combination(runs: list[Path], config: Path | None, o: dict, out: Path | None):
    """The combination's folder, configuration and runs, checked before any work."""
    overrides = {k: v for k, v in o.items() if v is not None}
    mans, cfg = _combine.check_runs(runs, config_file=config, overrides=overrides)
    folder = out or _combine.default_out(mans)
    _combine.check_out(folder, mans)
    for m in mans:  # each run's results are written too (its own fit and sample)
        _check_run(m.run_dir)
    check_writable(folder / "results", field="--out")
    recover(folder / "results")
    return folder, cfg, [m.run_dir for m in mans]


def _combined_job(cfg: AnalysisConfig, fn: Callable[..., dict]) -> Callable[..., dict]:
    """The job ``fn(progress=...)`` of several runs; errors from files name them."""

    def job(progress: Any) -> dict:
        compilation_cache()
        try:
            return fn(progress=progress)
        except InputError as exc:
            raise cfg.locate(exc) from None

    return job


def _sample_runs(runs, config, o, out, json_out, resume, extend, checkpoint_every) -> None:
    """``sample RUN1 RUN2 ...``: the runs in one model (``pipeline.combine.sample_runs``)."""
    folder = out
    if resume or extend:  # the checkpoint's options, where the command line gives none
        mans = [load_manifest(r) for r in runs]
        folder = out or _combine.default_out(mans)
        ckpt = folder / "results" / _sample.CHECKPOINT
        meta = read_meta(ckpt)
        check_continuation(meta, ckpt, resume=resume, extend=extend)
        o = _stored_options(meta) | {k: v for k, v in o.items() if v is not None}
    folder, cfg, paths = _combination(runs, config, o, folder)
    for r in paths:
        classic = r / "results" / "classic.json"
        if classic.is_file():
            read_json(classic)  # a damaged classic.json stops here, before JAX loads
    host_devices(cfg.sample.chains)
    job = functools.partial(
        _combine.sample_runs,
        paths,
        cfg,
        folder,
        resume=resume,
        extend=extend,
        checkpoint_every=checkpoint_every,
    )
    record = _run(json_out, _render.render_sample, _combined_job(cfg, job))
    if not record["gates"]["passed"]:
        raise typer.Exit(3)


def _stored_options(meta: dict[str, Any]) -> dict[str, Any]:
    """The analysis keys of a checkpoint's configuration, as command-line overrides."""
    cfg = meta.get("identity", {}).get("config", {})
    out = {k: v for k, v in cfg.items() if not isinstance(v, dict)}
    for sec, table in cfg.items():
        if isinstance(table, dict):
            out |= {f"{sec}.{k}": v for k, v in table.items()}
    return {k: v for k, v in out.items() if v is not None}


@app.command()
@_terminal
def report(run: Run = DEMO_RUN, json_out: Json = False) -> None:
    """Write RUN/results/report.html: the run's results on one page, figures included.

    `fit` and `sample` write it too; this writes it again from what RUN/results holds.
    """
    runs = combination_runs(run)
    if runs is None:
        _check_run(run)
    else:  # a combination's folder (fit/sample RUN1 RUN2 ...): every run's manifest
        for r in runs:
            load_manifest(r)
        check_writable(run / "results", field=None)
        recover(run / "results")
    from bayes_vip.results.report import check_result_set, write_report  # jinja2, matplotlib

    def job(progress: Any) -> dict:
        progress.stage("report")
        path = write_report(ensure_demo(run, progress=progress))
        check = check_result_set(path.parent)
        return {"report": str(path), "result_set": {k: check[k] for k in ("status", "message")}}

    _run(json_out, _render.render_report, job)


study_app = typer.Typer(
    help="Toy studies on Dask: each toy simulated and analysed as `fit` and `sample` do.",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study")


def _floats(text: str, field: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        msg = f"must be comma-separated numbers, got {text!r}"
        raise InputError(msg, field=field) from None


def _study_options(
    o: dict[str, Any], run: Path, config: Path | None
) -> tuple[dict[str, Any], AnalysisConfig]:
    """A study command's options (``study.*``, without the prefix) and its configuration.

    ``workers`` is checked, and ``methods`` split into a tuple where the command has it.
    """
    study = {k.partition(".")[2]: o.pop(k) for k in list(o) if k.startswith("study.")}
    cfg = load_config(run, config_file=config, overrides=o)
    if study["workers"] is not None and study["workers"] < 1:
        msg = f"must be at least 1, got {study['workers']}"
        raise InputError(msg, field="study.workers")
    if "methods" in study:
        study["methods"] = tuple(m.strip() for m in study["methods"].split(",") if m.strip())
    return study, cfg


@study_app.command("coverage")
@_terminal
@_options("sample.chains", "sample.warmup", "sample.samples", "sample.max_draws", "sample.prior",
          "sample.priors", "study.toys", "study.multiples", "study.seed", "study.methods",
          "study.scheduler", "study.workers")  # fmt: skip
def study_coverage(
    run: Run = DEMO_RUN, config: Config = None, out: Out = None, json_out: Json = False, *, o
) -> None:
    """Coverage of the classic and Bayesian limits on toys of RUN's layout (a simulated run).

    Default out: RUN/results/study-coverage. Run again on the same out, it resumes.
    """
    study, cfg = _study_options(o, run, config)
    multiples = _floats(study["multiples"], "study.multiples")
    _check_run(run, out)

    def job(progress: Any) -> dict:
        path = ensure_demo(run, progress=progress)
        # every option checked before the reference fit and the cluster start
        coverage_spec(path, cfg, multiples=multiples, toys=study["toys"], seed=study["seed"],
                      methods=study["methods"])  # fmt: skip
        compilation_cache()
        return coverage_study(
            path,
            cfg,
            out=out,
            multiples=multiples,
            toys=study["toys"],
            seed=study["seed"],
            methods=study["methods"],
            scheduler=study["scheduler"],
            workers=study["workers"],
            progress=progress,
        )

    _run(json_out, _render.render_study_coverage, job)


@study_app.command("bands")
@_terminal
@_options("sample.chains", "sample.warmup", "sample.samples", "sample.max_draws", "sample.prior",
          "sample.priors", "study.toys", "study.seed", "study.methods", "study.scheduler",
          "study.workers")  # fmt: skip
def study_bands(
    run: Run = DEMO_RUN, config: Config = None, out: Out = None, json_out: Json = False, *, o
) -> None:
    """Expected limits of RUN's layout: median and +-1, +-2 sigma bands from background-only toys.

    The run's own limits, where it has them, are placed among the toys'. Default out:
    RUN/results/study-bands. Run again on the same out, it resumes.
    """
    study, cfg = _study_options(o, run, config)
    _check_run(run, out)

    def job(progress: Any) -> dict:
        path = ensure_demo(run, progress=progress)
        # every option checked before the reference fit and the cluster start
        bands_spec(path, cfg, toys=study["toys"], seed=study["seed"], methods=study["methods"])
        compilation_cache()
        return bands_study(
            path,
            cfg,
            out=out,
            toys=study["toys"],
            seed=study["seed"],
            methods=study["methods"],
            scheduler=study["scheduler"],
            workers=study["workers"],
            progress=progress,
        )

    _run(json_out, _render.render_study_bands, job)


@study_app.command("frequentist")
@_terminal
@_options("signal", "n_int", "fit.statistic", "fit.bin_eV", "fit.signal_shape", "study.toys",
          "study.seed", "study.points", "study.reach", "study.scheduler",
          "study.workers")  # fmt: skip
def study_frequentist(
    run: Run = DEMO_RUN, config: Config = None, out: Out = None, json_out: Json = False, *, o
) -> None:
    """The classic fit's CLs, profile and Feldman-Cousins limits, and CLs bands, from toys.

    --toys data sets at each of --points N_X values from 0 to --reach classic sigmas, and as
    many background-only ones, drawn from the step-2 model fitted to RUN. Default out:
    RUN/results/study-frequentist. Run again on the same out, it resumes.
    """
    study, cfg = _study_options(o, run, config)
    opts = {k: study[k] for k in ("toys", "seed", "points", "reach")}
    # every option checked before the fit and the cluster start
    frequentist_spec(builder="", args={}, scale=1.0, **opts)
    _check_run(run, out)

    def job(progress: Any) -> dict:
        path = ensure_demo(run, progress=progress)
        compilation_cache()
        return frequentist_study(
            path,
            cfg,
            out=out,
            **opts,
            scheduler=study["scheduler"],
            workers=study["workers"],
            progress=progress,
        )

    _run(json_out, _render.render_study_frequentist, job)


@study_app.command("sbc")
@_terminal
@_options("sample.chains", "sample.warmup", "sample.samples", "sample.max_draws", "sample.prior",
          "sample.priors", "study.sims", "study.seed", "study.rank_draws", "study.fano_shift",
          "study.scheduler", "study.workers")  # fmt: skip
def study_sbc(
    run: Run = DEMO_RUN, config: Config = None, out: Out = None, json_out: Json = False, *, o
) -> None:
    """Simulation-based calibration of the model and its sampler on RUN's layout.

    Truths from the prior, data from the model, the production sampler; ranks of beta^2/2,
    Fano, a noise, an offset and a gain. Default out: RUN/results/study-sbc. Resumes.
    """
    study, cfg = _study_options(o, run, config)
    opts = {k: study[k] for k in ("sims", "seed", "rank_draws", "fano_shift")}
    _check_run(run, out)

    def job(progress: Any) -> dict:
        path = ensure_demo(run, progress=progress)
        sbc_spec(path, cfg, **opts)  # every option checked before the cluster starts
        compilation_cache()
        return sbc_study(
            path,
            cfg,
            out=out,
            **opts,
            scheduler=study["scheduler"],
            workers=study["workers"],
            progress=progress,
        )

    _run(json_out, _render.render_study_sbc, job)


@app.command("train-peakfinder")
@_terminal
@_options(*(f"train.{k}" for k in ("seed", "n_train", "epochs", "n_finetune",
                                   "finetune_epochs", "metrics_n")))  # fmt: skip
def train_peakfinder(out: Out = None, json_out: Json = False, *, o) -> None:
    """Train the seed-002 peak-finder CNN on synthetic spectra (CPU, about 10 minutes).

    Default out: models/peakfinder.
    """
    out = out or Path("models/peakfinder")
    check_writable(out, field="--out")
    _run(json_out, _render.render_train, lambda p: _train.train(out, **_kwargs(o), progress=p))


@app.command()
@_terminal
@_options(*(f"transport.{k}" for k in ("experiment", "current_A", "fermi_velocity_factor",
                                       "rs_bound")))  # fmt: skip
def transport(out: Out = None, json_out: Json = False, *, o) -> None:
    """Seed 001 transport model: every quantity with unit and equation, figures.

    Default out: results/transport.
    """
    from bayes_vip.pipeline.transport import DEFAULT_OUT, transport  # scipy: about 1 s

    check_writable(out or DEFAULT_OUT, field=None if out is None else "--out")
    job = functools.partial(transport, out_dir=out or DEFAULT_OUT, **_kwargs(o))
    _run(json_out, _render.render_transport, lambda p: job())


@app.command()
@_terminal
@_options("counts", "current_A", "time_s", "length_cm", "mean_free_path_cm", "efficiency",
          "n_int", "cross_section_cm2")  # fmt: skip
def convert(json_out: Json = False, *, o) -> None:
    """Convert counts to beta^2/2 with the Ramberg-Snow formula (seed 000 eq. 2)."""
    kw = _kwargs(o) | {"n_int": o["n_int"] or AnalysisConfig.n_int}
    _run(json_out, _render.render_convert, lambda p: _convert.convert(**kw))


def _one_line(exc: BayesVipError) -> str:
    """The error as one line; a field given on the command line is shown with its flag."""
    if isinstance(exc, InputError) and exc.file is None and exc.field in FLAGS:
        return f"{FLAGS[exc.field]} ({exc.field}): {exc.message}"
    return str(exc)


#: The start of ArviZ's daily FutureWarning (a regular expression, as in ``warnings``).
ARVIZ_NOTICE = r"\s*ArviZ is undergoing a major refactor"


def _show_warning(show: Callable[..., None], message, category, *where: Any) -> None:
    """Show bayes-vip's own warnings; another library's only with ``--verbose``.

    Ours have their own categories (``CalibrationWarning``). Other libraries' warnings
    (ArviZ's, NumPy's, JAX's, Matplotlib's deprecations) are about their code or ours, never
    something a user of the command can act on.
    """
    if category.__module__.partition(".")[0] == "bayes_vip" or _TERMINAL["verbose"]:
        show(message, category, *where)


def main(argv: list[str] | None = None) -> int:
    """Entry point: float64 JAX, then the app; bad input -> one line on stderr, exit 2."""
    # x64 must be on before JAX is first imported (it reads this at import time): the counts
    # reach 1e6 per bin and the likelihoods need double precision
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    _TERMINAL.update(quiet=False, verbose=False)
    with warnings.catch_warnings():  # the filters below end with the command
        # ArviZ announces its coming refactor on the first import of each day: a note about
        # ArviZ's own API, which bayes-vip pins and a user cannot act on (not even with -v)
        warnings.filterwarnings("ignore", message=ARVIZ_NOTICE, category=FutureWarning)
        warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        rc = app(args=argv, standalone_mode=False)
    except BayesVipError as exc:
        print(f"bayes-vip: error: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except TyperException as exc:  # a usage error: a bad type, a missing or unknown option
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `bayes-vip`: the help
            print(exc.format_message())
            return 0
        print(f"bayes-vip: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        return exc.exit_code
    except typer.Abort:
        print("bayes-vip: aborted", file=sys.stderr)
        return 130
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
