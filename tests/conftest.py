"""Test configuration: CPU, float64, shared fixtures.

The measured data are read from ``../shared/data/vip2-2016-17/`` beside the repository,
never copied into it. Tests that need them fail (not skip) when they are missing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")
# no report.html after every fit and sample (4-6 s each); the report's own tests write it, and
# the end-to-end test of sample (tests/bayes/test_model.py) turns it on
os.environ.setdefault("BAYES_VIP_REPORT", "off")
# the tests' own persistent compilation cache, in the system's temporary folder (never the
# user's ~/.cache/bayes_vip, which the CLI would use): the processes of a session
# (pytest-xdist's workers, the studies' Dask workers, the CLI in a subprocess) compile the
# same demo-layout programs, and each loads what another has compiled, as do later sessions
# on the same machine (a filled cache took the quick SBC tests from 175 s to 128 s). Entries
# are keyed by the program, the jaxlib and the flags, so a stale one is never used. Set
# before JAX loads; the workers inherit it.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    str(Path(tempfile.gettempdir()) / f"bayes-vip-tests-jax-{os.getuid()}"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import jax
import pytest

jax.config.update("jax_enable_x64", True)

REPO = Path(__file__).resolve().parents[1]
MEASURED_RUN = REPO / "runs" / "vip2-2016-17"
MEASURED_ROOT = REPO.parent / "shared" / "data" / "vip2-2016-17" / "energyHistograms.root"

#: `bayes-vip convert` with seed 000's inputs (eq. 2-3): 3 x 67 = 201 counts, 34 days at 100 A,
#: D = 7.1 cm, mu = 3.9e-6 cm, efficiency 1.8 %.
SEED000_CONVERT = [
    "convert",
    "--counts",
    "201",
    "--current-A",
    "100",
    "--time-s",
    str(34 * 86400),
    "--length-cm",
    "7.1",
    "--mfp-cm",
    "3.9e-6",
    "--efficiency",
    "0.018",
    "--json",
]


_SPENT: defaultdict[str, float] = defaultdict(float)

#: Seconds each test file took in a whole run (``BAYES_VIP_TEST_DURATIONS=tests/durations.json
#: pytest``, below). pytest-xdist hands out whole files (``--dist loadfile``) in the order they
#: are collected, and ``pytest_collection_modifyitems`` puts the longest first, so that no
#: long file starts last and runs alone at the end (docs/validation.md: on one clone with the
#: compilation cache emptied, 1795 s this way against 1888 s in pytest-xdist's own order).
DURATIONS = Path(__file__).with_name("durations.json")


def pytest_collection_modifyitems(session, config, items):
    """Longest test files first, each file's tests in their own order (a stable sort).

    A file missing from ``durations.json`` (a new one) comes last; the order changes which
    process runs a file, never what a test does.
    """
    if not DURATIONS.is_file():
        return
    seconds = json.loads(DURATIONS.read_text())["seconds"]  # a damaged table fails the run
    items.sort(key=lambda item: -float(seconds.get(_test_file(item.nodeid), 0.0)))


def _test_file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_runtest_logreport(report):
    # in the controlling process under pytest-xdist, every process's reports arrive here
    _SPENT[_test_file(report.nodeid)] += report.duration


def pytest_sessionfinish(session, exitstatus):
    """With BAYES_VIP_TEST_DURATIONS=PATH, write the seconds each file took to PATH."""
    path = os.environ.get("BAYES_VIP_TEST_DURATIONS")
    if not path or hasattr(session.config, "workerinput"):  # not in xdist's workers
        return
    import subprocess

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    record = {
        "command": "BAYES_VIP_TEST_DURATIONS=PATH pytest",
        "commit": commit,
        "processes": getattr(session.config.option, "numprocesses", None),
        "seconds": {f: round(t, 1) for f, t in sorted(_SPENT.items(), key=lambda kv: -kv[1])},
    }
    Path(path).write_text(json.dumps(record, indent=1) + "\n")


@pytest.fixture(scope="session")
def measured_root() -> Path:
    if not MEASURED_ROOT.is_file():
        pytest.fail(f"measured data not found at {MEASURED_ROOT}: the tests need ../shared/")
    return MEASURED_ROOT


@pytest.fixture(scope="session")
def measured_campaign(measured_root):
    from bayes_vip.io.campaign import load_campaign

    return load_campaign(MEASURED_RUN)


def write_event_manifest(run_dir: Path, periods_toml: str, *, hi: int, width: int) -> Path:
    """A measured ADC-level run.toml reading ``ev.parquet`` beside it.

    It has the given ``[[periods]]`` tables and binning 0..hi in steps of ``width``.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.toml").write_text(f"""
[run]
name = "ev"
kind = "measured"
level = "adc"
{periods_toml}
[target]
length_cm = 7.1
mean_free_path_cm = 3.9e-6
[efficiency]
value = 0.018
rel_uncertainty = 0.1
[binning]
lo = 0
hi = {hi}
width = {width}
[[sources]]
format = "parquet"
path = "ev.parquet"
""")
    return run_dir
