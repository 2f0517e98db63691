"""A current switched in time: the manifest's ``[schedule]``, and events binned by their time."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bayes_vip.errors import InputError
from bayes_vip.io.campaign import batch_clock_s, load_campaign, summary
from bayes_vip.io.manifest import load_manifest
from tests.conftest import write_event_manifest

#: on 0-30 s, off 30-50 s, on 50-80 s, off 80-100 s; calibration batches of 40 s
INTERVALS = [[0, 30, 100], [30, 50, 0], [50, 80, 100], [80, 100, 0]]
SCHEDULE = f"[schedule]\nbatch_s = 40\nintervals = {INTERVALS}\n"


def _run(tmp_path, schedule=SCHEDULE, cols=None, name="sch"):
    run = write_event_manifest(tmp_path / name, schedule, hi=10, width=1)
    if cols is not None:
        pq.write_table(pa.table(cols), run / "ev.parquet")
    return run


def test_the_periods_follow_from_the_schedule_batch_by_batch(tmp_path):
    # batch 0 = [0, 40): on 30 s, off 10 s; batch 1 = [40, 80): off 10 s, on 30 s;
    # batch 2 = [80, 100): off 20 s. The interval 30-50 crosses the edge at 40 s.
    man = load_manifest(_run(tmp_path, cols={"sdd": [1], "adc": [1.0], "time_s": [1.0]}))
    on, off = man.periods
    assert (on.name, on.current_A, off.name, off.current_A) == (
        "current-on",
        100.0,
        "current-off",
        0.0,
    )
    assert on.batches_s == pytest.approx((30.0, 30.0))
    assert off.batches_s == pytest.approx((10.0, 10.0, 20.0))
    assert (on.time_s, off.time_s) == (60.0, 40.0)
    assert man.blocks == ((0, 1), (0, 1, 2))


def test_a_schedule_file_reads_as_the_same_table(tmp_path):
    rows = "\n".join(",".join(str(v) for v in r) for r in INTERVALS)
    run = _run(tmp_path, '[schedule]\nbatch_s = 40\nfile = "s.csv"\n', name="f")
    (run / "s.csv").write_text("# the run's switching\nstart_s,stop_s,current_A\n" + rows + "\n")
    pq.write_table(pa.table({"sdd": [1], "adc": [1.0], "time_s": [1.0]}), run / "ev.parquet")
    a = load_manifest(run)
    b = load_manifest(_run(tmp_path, cols={"sdd": [1], "adc": [1.0], "time_s": [1.0]}))
    assert a.periods == b.periods
    assert a.blocks == b.blocks


def test_three_currents_name_their_periods_by_current(tmp_path):
    sched = "[schedule]\nintervals = [[0, 10, 100], [10, 20, 50], [20, 30, 0]]\n"
    man = load_manifest(_run(tmp_path, sched, cols={"sdd": [1], "adc": [1.0], "time_s": [1.0]}))
    assert [p.name for p in man.periods] == ["current-100A", "current-50A", "current-0A"]
    assert [p.batches_s for p in man.periods] == [(10.0,), (10.0,), (10.0,)]  # one batch


def test_events_are_binned_by_their_time(tmp_path):
    t = np.array([1.0, 29.9, 35.0, 45.0, 60.0, 79.0, 85.0, 99.9])
    cols = {"sdd": np.ones(t.size, np.int64), "adc": np.arange(t.size) + 0.5, "time_s": t}
    ds = load_campaign(_run(tmp_path, cols=cols))
    c = ds["counts"].sum("channel").values[:, 0, :]  # (period, batch)
    # on: batch 0 (1, 29.9), batch 1 (60, 79); off: batch 0 (35), batch 1 (45), batch 2 (85, 99.9)
    np.testing.assert_array_equal(c, [[2, 2, 0], [1, 1, 2]])
    np.testing.assert_allclose(ds["live_time_s"].values[:, 0, :], [[30, 30, 0], [10, 10, 20]])
    np.testing.assert_array_equal(ds["batch_block"].values, [[0, 1, -1], [0, 1, 2]])
    np.testing.assert_allclose(batch_clock_s(ds), [[0, 40, 0], [0, 40, 80]])
    assert ds.attrs["scheduled"] == 1
    assert ds.attrs["batch_s"] == 40.0
    assert summary(ds)["schedule"] == {"intervals": 4, "batch_s": 40.0}  # what `info` prints
    # the event at 45 s is the off period's second batch, channel 3
    assert ds["counts"].values[1, 0, 1, 3] == 1


def test_an_event_between_intervals_is_an_error_not_dropped(tmp_path):
    sched = "[schedule]\nintervals = [[0, 10, 100], [20, 30, 0]]\n"
    run = _run(tmp_path, sched, cols={"sdd": [1, 1], "adc": [1.0, 2.0], "time_s": [5.0, 12.0]})
    with pytest.raises(InputError, match="outside every interval"):
        load_campaign(run)


def test_a_run_without_schedule_keeps_its_clock(tmp_path):
    periods = (
        '[[periods]]\nname = "on"\ncurrent_A = 100\ntime_s = 10\nbatches_s = [4, 6]\n'
        '[[periods]]\nname = "off"\ncurrent_A = 0\ntime_s = 5\n'
    )
    run = write_event_manifest(tmp_path / "p", periods, hi=10, width=1)
    cols = {"period": ["on", "off"], "sdd": [1, 1], "batch": [1, 0], "adc": [1.0, 2.0]}
    pq.write_table(pa.table(cols), run / "ev.parquet")
    ds = load_campaign(run)
    # periods one after the other: on's batches at 0 and 4 s, off's at 10 s
    clock = batch_clock_s(ds)
    assert (clock[0, 0], clock[0, 1], clock[1, 0]) == (0.0, 4.0, 10.0)
    np.testing.assert_array_equal(ds["batch_block"].values, [[0, 1], [2, -1]])
    assert ds.attrs["scheduled"] == 0
    assert summary(ds)["schedule"] is None
