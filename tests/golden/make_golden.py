"""Golden values of two end-to-end commands, run exactly as a user runs them.

- ``bayes-vip fit RUN --json`` on the measured 2016-17 run;
- ``bayes-vip sample`` on the demo: ``simulate --preset demo --seed 2016`` (the demo the CLI
  regenerates), then ``sample --chains 2 --warmup 50 --samples 50 --seed 5``, which
  calibrates, fits and samples; the posterior draws themselves are kept.

Run ``python tests/golden/make_golden.py`` to (re)write ``tests/golden/fit_measured.json``,
``tests/golden/sample_demo.json`` and ``tests/golden/sample_demo_draws.npz``. The regression
test ``tests/test_golden.py`` runs the same commands through :func:`run_fit_measured` and
:func:`run_sample_demo` and compares every number at 1e-9 relative.

Timing, paths and figure names are left out: they are not results. The draws are
chaotic in every floating-point operation of the path (calibration, classic fit, model):
a change of 1e-14 in one calibration constant gives different draws after 50 warm-up
iterations, so these golden values change whenever the numerics do, by design.

History: first taken before the architecture change of issue 12, which kept them bit for bit
(pipeline layer, configuration, CLI, explicit keys); retaken once after one line-response
kernel replaced three implementations, whose effect is measured, against rounding noise,
by ``docs/scripts/kernel_change_check.py`` (docs/architecture.md, "Numerics"); retaken when
the whitened sampler of issue 13 replaced numpyro's MCMC (other draws by construction; the
configuration gained ``sample.max_draws`` and 1000 draws by default), and again when the
prior of ``noise_tau`` became log-normal (a model change, docs/bayes.md). Sampling the SDD
offsets for the lines' centroids (``model.CENTROID_OFFSETS``) is off by default, and with
it off these values are those of before that option, bit for bit. Retaken when the limits
became Rao-Blackwellised quantiles (``bayes.conditional``; the plain sample quantiles are
kept beside them) and the model's kernel got its fused derivatives (draws equal to about
1e-6 after 100 iterations: rounding, amplified by the chaos above), and again when
``sample`` began to follow the lines' centroids with the offsets' slopes from the Laplace
approximation (``sampling.CENTROID_SHIFT``: other coordinates, other draws, the same model).
Retaken in a freshly built environment (jax and jaxlib 0.10.2, optax 0.2.8, scipy 1.17.1,
numpy 2.4.6, as ``.ci/run`` installs them now): the demo calibration's refinement differed
from the old values by 1e-8 to 4e-7 relative (rounding in the libraries; the code was the
same), and the draws followed. The measured fit moved in its last bit. The Laplace record
gained ``optimiser``, ``newton_steps`` and ``newton_converged``. Retaken when the model's
numbers from the run (edges, live times, prior centres, the bound, the centroid slopes)
became a traced argument of the compiled programs instead of constants in them
(``model.model_inputs``): the same density, to 1e-14 relative in the potential and 3e-12
in its gradient on the demo at both levels (XLA folds constants in another order), and the
draws followed. Retaken when the classic fit's default statistic became the Poisson
likelihood instead of Neyman's chi-square (docs/validation.md, "Coverage"): the fit of the
measured run and the demo's classic fit, on which the demo's priors are centred, changed,
and the draws followed; at the same time the fits' quality record renamed
``fixed_at_limit_after_invalid_fit`` to ``fixed_at_limit``, which also lists a line fixed
at zero because it ended within 0.1 of its error above it (``classic.NEAR_LIMIT_SIGMA``).
Retaken when the classic fit gained asymptotic CLs limits and expected bands (issue 15):
``upper_limits_counts`` gained the CLs entries, ``classic.json`` its ``expected_limits``,
``limits.json``'s comparison three rows, and the profile limits' note a sentence. The
profile limits now come from the same interpolated q~ as the CLs limits, settled to 1e-3
sigma (``analysis.asymptotic``), instead of Brent's method to 1e-3 sigma: they moved by
up to 0.007 counts on the measured run (4e-5 relative). The draws did not change.
Retaken when the profile limits' lower expected bands were corrected: the data at n < 0
sigma have the profile limit sigma_A (n + sqrt(n^2 + z^2)), not sigma_A (z + n), since q~
counts a negative best fit as 0 (a review found it); only those bands changed. Retaken
when the Asimov counts came from a compiled function instead of op-by-op evaluation: the
lower profile bands moved by about 1e-8 relative (rounding, through MINUIT's tolerance).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MEASURED_RUN = REPO / "runs" / "vip2-2016-17"
DATA = REPO.parent / "shared" / "data" / "vip2-2016-17" / "energyHistograms.root"
#: Not results: wall times, file names, and the per-second figure derived from a time.
DROP = {"seconds", "figures", "json", "posterior", "ess_per_second_beta2half", "manifest",
        "result_set", "report"}  # fmt: skip
#: The CPU features that change XLA's code for the CPU, and so the last bits of every sum.
CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw",
                "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile")  # fmt: skip


def platform_tag() -> str:
    """The CPU model and features of the machine and jaxlib's version, as a short tag.

    The golden numbers hold to 1e-9 on the kind of machine they were made on. Another CPU
    gets other machine code from XLA, other rounding, and (the draws being chaotic) other
    draws: in the twelfth and thirteenth sessions the same commit gave the default set on one
    machine and differences of 1e-7 (classic fit) to 1e-3 (an MCSE) on an AMD EPYC without
    AVX-512. Such a machine keeps its own set in ``platforms/TAG/``.
    """
    import hashlib
    import platform

    import jaxlib

    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    have = ",".join(f for f in CPU_FEATURES if f in flags)
    text = f"{platform.machine()}|{model}|{have}|jaxlib {jaxlib.__version__}"
    return f"{platform.machine()}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def golden_dir() -> Path:
    """Where this machine's golden numbers are: its own set where it has one, else the default."""
    own = HERE / "platforms" / platform_tag()
    return own if own.is_dir() else HERE


SAMPLE_ARGS = ["--chains", "2", "--warmup", "50", "--samples", "50", "--seed", "5"]


def _bayes_vip() -> str:
    exe = Path(sys.executable).parent / "bayes-vip"
    return str(exe) if exe.exists() else "bayes-vip"


def _run(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run(
        [_bayes_vip(), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=1800
    )
    if r.returncode not in (0, 3):  # 3: a sampler gate failed (short chains); still a result
        msg = f"bayes-vip {' '.join(args)} exited {r.returncode}:\n{r.stderr}"
        raise RuntimeError(msg)
    return r.stdout


def strip(obj):
    """The result without timing, paths and figure names."""
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k not in DROP}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def measured_copy(tmp: Path) -> Path:
    """The measured run's manifest in ``tmp``, reading the shared data file by absolute path.

    Results go to ``tmp``, not into the repository.
    """
    run = tmp / "vip2-2016-17"
    run.mkdir()
    text = (MEASURED_RUN / "run.toml").read_text()
    text = text.replace("../../../shared/data/vip2-2016-17/energyHistograms.root", str(DATA))
    (run / "run.toml").write_text(text)
    return run


def run_fit_measured(tmp: Path) -> dict:
    run = measured_copy(tmp)
    return strip(json.loads(_run("fit", str(run), "--json", cwd=tmp)))


def run_sample_demo(tmp: Path) -> tuple[dict, dict[str, np.ndarray]]:
    import arviz as az

    run = tmp / "demo"
    _run("simulate", "--preset", "demo", "--seed", "2016", "--out", str(run), "--json", cwd=tmp)
    lim = json.loads(_run("sample", str(run), *SAMPLE_ARGS, "--json", cwd=tmp))
    classic = json.loads((run / "results" / "classic.json").read_text())
    cal = json.loads((run / "results" / "calibration.json").read_text())
    idata = az.from_netcdf(run / "results" / "posterior.nc")
    draws = {k: np.asarray(v.values) for k, v in idata.posterior.data_vars.items()}
    import xarray as xr

    with xr.open_dataset(run / "results" / "calibration.nc", engine="h5netcdf") as c:
        draws["calibration.p_refined"] = np.asarray(c["p_refined"].values)
        draws["calibration.p_standard"] = np.asarray(c["p_standard"].values)
    return {"limits": strip(lim), "classic": strip(classic), "calibration": strip(cal)}, draws


def main() -> None:
    """Write the default set, or with ``--platform`` this machine's own (``platform_tag``)."""
    out = HERE
    if "--platform" in sys.argv[1:]:
        out = HERE / "platforms" / platform_tag()
        out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as t:
        fit = run_fit_measured(Path(t))
    (out / "fit_measured.json").write_text(json.dumps(fit, indent=1) + "\n")
    with tempfile.TemporaryDirectory() as t:
        res, draws = run_sample_demo(Path(t))
    (out / "sample_demo.json").write_text(json.dumps(res, indent=1) + "\n")
    np.savez_compressed(out / "sample_demo_draws.npz", **draws)
    print(f"wrote golden values to {out}")


if __name__ == "__main__":
    main()
