"""The toy-study engine on Dask.

Seeds, the Parquet store, resuming an interrupted study, recorded failures, and bad input
to ``bayes-vip study``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bayes_vip.cli import main
from bayes_vip.studies.coverage import clopper_pearson, coverage_toy
from bayes_vip.studies.engine import Toy, _run_one, read_store, store_spec, toy_seed
from tests.conftest import MEASURED_RUN


def _cli(capsys, *args):
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def energy_demo(tmp_path_factory) -> Path:
    """A demo-layout run at energy level (true calibration), as `bayes-vip simulate` makes."""
    run = tmp_path_factory.mktemp("study") / "demo-energy"
    rc = main(["simulate", "--preset", "demo", "--level", "energy", "--seed", "7",
               "--out", str(run), "--json"])  # fmt: skip
    assert rc == 0
    return run


def test_toy_seeds_depend_on_the_study_seed_and_index_alone():
    a = [toy_seed(11, i) for i in range(50)]
    assert a == [toy_seed(11, i) for i in range(50)]
    assert len(set(a)) == 50  # no two toys share a stream
    assert a[:10] != [toy_seed(12, i) for i in range(10)]
    assert all(0 <= s < 2**31 for s in a)


def test_clopper_pearson_at_the_edges_and_inside():
    # k = 0 and k = n have closed forms: (alpha/2)^(1/n)
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(1 - 0.025**0.1, rel=1e-9)
    lo, hi = clopper_pearson(10, 10)
    assert lo == pytest.approx(0.025**0.1, rel=1e-9)
    assert hi == 1.0
    # inside: the interval's ends are where the binomial tails reach 2.5 %
    from scipy.stats import binom

    lo, hi = clopper_pearson(380, 400)
    assert lo < 380 / 400 < hi
    assert binom.sf(379, 400, lo) == pytest.approx(0.025, rel=1e-6)
    assert binom.cdf(380, 400, hi) == pytest.approx(0.025, rel=1e-6)


def test_a_store_from_before_an_option_existed_resumes(tmp_path):
    """A configuration key added after a study started counts at its default.

    Any other difference refuses the store.
    """
    from bayes_vip.errors import InputError
    from bayes_vip.io.config import default_config
    from bayes_vip.studies.engine import _write_store, check_store

    spec = {"level": "energy", "config": default_config().to_dict()}
    old = json.loads(json.dumps(spec))
    del old["config"]["sample"]["priors"]  # an option this project added later
    store = tmp_path / "toys.parquet"
    _write_store(store, [{"index": 0, "seed": 1, "status": "ok"}], old)
    assert check_store(store, spec) == old
    # the resume itself reads the store with the same rule (run_toys -> read_store)
    assert [r["index"] for r in read_store(store, spec)] == [0]
    other = json.loads(json.dumps(spec))
    other["config"]["sample"]["priors"] = "external"
    with pytest.raises(InputError, match="another study"):
        check_store(store, other)
    other = json.loads(json.dumps(spec))
    other["config"]["sample"]["chains"] = 2
    with pytest.raises(InputError, match="another study"):
        check_store(store, other)
    with pytest.raises(InputError, match="another study"):
        read_store(store, other)


def test_a_study_starts_while_another_holds_the_dashboard_port():
    """A local cluster starts while Dask's default dashboard port (8787) is taken.

    A study already running holds it. The new cluster must start without a warning (warnings
    are errors here).
    """
    import socket

    from bayes_vip.studies.engine import IN_PROCESS, _client

    sock = socket.socket()
    try:
        sock.bind(("", 8787))
        sock.listen()
    except OSError:
        pass  # already taken, which is the case under test
    try:
        client, cluster = _client(IN_PROCESS, None)
        try:
            assert client.submit(sum, [1, 2]).result() == 3
        finally:
            client.close()
            cluster.close()
    finally:
        sock.close()


def test_a_failing_toy_is_recorded_not_dropped():
    spec = {"settings": {"name": "broken"}, "signal": "ka1", "level": "energy", "config": {}}
    row = _run_one(coverage_toy, Toy(3, 99, {"injected": 0.0, "multiple": 0.0}), spec)
    assert row["status"] == "error"
    assert row["index"] == 3
    assert row["seed"] == 99
    assert "settings" in row["error"]


def test_bad_study_input_exits_2_with_one_line(capsys, tmp_path, energy_demo):
    cases = [
        ((MEASURED_RUN,), "simulation.settings"),
        ((energy_demo, "--multiples", "1,x"), "--multiples"),
        ((energy_demo, "--multiples", "-1"), "--multiples"),
        ((energy_demo, "--methods", "bayes,magic"), "--methods"),
        ((energy_demo, "--toys", "0"), "--toys"),
        ((energy_demo, "--seed", "-3"), "--seed"),
        ((energy_demo, "--workers", "0"), "--workers"),
        ((energy_demo, "--chains", "0"), "--chains"),
    ]
    for args, named in cases:
        out = tmp_path / "out"
        rc, _, err = _cli(capsys, "study", "coverage", *args, "--out", out)
        assert rc == 2, (args, err)
        assert len(err.strip().splitlines()) == 1, err
        assert named in err, err
        assert not out.exists()  # nothing written


def _study_cmd(run: Path, out: Path, seed: int = 5) -> list[str]:
    exe = shutil.which("bayes-vip") or str(Path(sys.executable).parent / "bayes-vip")
    return [exe, "study", "coverage", str(run), "--methods", "classic", "--toys", "1",
            "--multiples", "0,2", "--seed", str(seed), "--workers", "1", "--out", str(out),
            "--json"]  # fmt: skip


def test_an_interrupted_study_resumes_and_equals_its_seeds(capsys, tmp_path, energy_demo):
    out = tmp_path / "study"
    store = out / "toys.parquet"
    # start the study and kill it (with its Dask workers) once the first toys are stored
    log = tmp_path / "killed.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            _study_cmd(energy_demo, out),
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        t0 = time.monotonic()
        while not store.exists() and proc.poll() is None and time.monotonic() - t0 < 600:
            time.sleep(0.2)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert store.exists(), log.read_text()[-2000:]
    before = read_store(store)
    assert len(before) == 1  # interrupted part-way: one of the two toys stored
    # started again, it runs only what is missing
    r = subprocess.run(_study_cmd(energy_demo, out), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    after = read_store(store)
    assert [row["index"] for row in after] == list(range(2))
    assert res["toys_done"] == 2
    kept = {row["index"]: row for row in after}
    for row in before:  # the toys done before the kill were kept, not run again
        assert kept[row["index"]] == row
    assert all(row["status"] == "ok" for row in after)
    assert (out / "coverage.json").is_file()
    assert (out / "coverage.png").is_file()
    # every toy is its seed's: one of them, analysed here in this process, gives its row
    spec = store_spec(store)
    last = after[-1]
    params = {"multiple": last["multiple"], "injected": last["injected"]}
    toy = Toy(last["index"], last["seed"], params)
    assert last["seed"] == toy_seed(5, last["index"])
    mine = coverage_toy(toy, spec)
    for key in ("realised", "classic_N_X", "classic_ul95", "classic_ul99.7"):
        assert mine[key] == pytest.approx(last[key], rel=1e-9, abs=1e-9), key
    # 2 sigma injected: the realised signal counts are Poisson around 2 sigma(N_X) (one toy)
    sigma = spec["reference"]["sigma_N_X"]
    assert sigma > 0
    two = [row for row in after if row["multiple"] == 2]
    assert np.mean([row["realised"] for row in two]) == pytest.approx(2 * sigma, rel=0.5)
    # the same out with other options is another study: refused, nothing changed
    r = subprocess.run(
        _study_cmd(energy_demo, out, seed=6), capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 2
    assert "toys.parquet" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert read_store(store) == after


def test_rows_with_different_columns_are_all_stored(tmp_path):
    """A column that the first row lacks is kept (pyarrow takes the schema from row one)."""
    from bayes_vip.studies.engine import _write_store, read_store

    rows = [
        {"index": 0, "status": "ok", "a": 1.0},
        {"index": 1, "status": "error", "a": None, "error": "no valid minimum"},
        {"index": 2, "status": "ok", "b": [1.0, 2.0]},
    ]
    _write_store(tmp_path / "t.parquet", rows, {"study": "x"})
    back = read_store(tmp_path / "t.parquet", {"study": "x"})
    assert back[1]["error"] == "no valid minimum"
    assert back[2]["b"] == [1.0, 2.0]
    assert back[0]["error"] is None
    assert back[2]["a"] is None
