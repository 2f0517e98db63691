"""A campaign with the current switched in time: schedule, drift, signal and files."""

import math
import tomllib

import numpy as np
import pytest

from bayes_vip.io.campaign import load_campaign
from bayes_vip.simulate.presets import cycle_schedule, preset
from bayes_vip.simulate.simulator import simulate_campaign, write_campaign, write_energy_campaign

DAY = 86400.0


def test_the_periods_take_turns_until_each_has_its_days():
    pre = preset("demo", cycle_s=3 * DAY)  # 10 + 10 days: turns of 3 days, the last of 1
    start, stop, cur = cycle_schedule(pre)
    assert cur == [100.0, 0.0] * 4
    assert np.diff(np.array([start, stop]), axis=0).ravel().tolist() == [3 * DAY] * 6 + [DAY] * 2
    assert start[1:] == stop[:-1]  # no gap
    # unequal days: the longer period finishes alone, in one interval
    pre = preset("vip2-2016", cycle_s=7 * DAY)  # 34 d on, 28 d off
    start, stop, cur = cycle_schedule(pre)
    on = sum(b - a for a, b, c in zip(start, stop, cur, strict=True) if c > 0)
    off = sum(b - a for a, b, c in zip(start, stop, cur, strict=True) if c == 0)
    assert (on, off) == (34 * DAY, 28 * DAY)
    assert cur[-1] == 100.0
    assert stop[-1] - start[-1] == 6 * DAY


def test_a_switched_campaign_is_written_with_its_schedule_and_read_back(tmp_path):
    pre = preset("demo", cycle_s=3600.0, background_drift=0.2)
    sim = simulate_campaign(pre, rng=np.random.default_rng(3), signal_counts=400)
    assert sim.schedule is not None
    assert sim.schedule.start_s.size == 480
    man = tomllib.loads(write_campaign(sim, tmp_path / "adc").read_text())
    assert "periods" not in man
    assert man["schedule"] == {"file": "schedule.csv", "batch_s": 5 * DAY}
    assert man["simulation"]["settings"]["cycle_s"] == 3600.0
    ds = load_campaign(tmp_path / "adc")
    # every event back in its cell: period by the current at its time, batch by its day
    n = ds["counts"].sum("channel").values + ds["outside"].values  # (P, S, B)
    for ip in range(2):
        for js in range(2):
            k = (sim.period == ip) & (sim.sdd == js + 1)
            np.testing.assert_array_equal(n[ip, js], np.bincount(sim.batch[k], minlength=2))
    np.testing.assert_allclose(ds["live_time_s"].values, 5 * DAY / 2)
    # the PEP signal follows the current alone
    sig = np.array(sim.truth["signal_counts_per_cell"])
    assert sig[1].sum() == 0
    assert sig[0].sum() == sim.truth["signal_counts_realised"]
    # the energy-level twin: an event list of energies with the same schedule
    rt = write_energy_campaign(sim, tmp_path / "en", rng=np.random.default_rng(3))
    man_e = tomllib.loads(rt.read_text())
    assert man_e["run"]["level"] == "energy"
    assert man_e["binning"]["width"] == 1.0
    de = load_campaign(tmp_path / "en")
    assert de["counts"].values.sum() <= sim.adc.size
    np.testing.assert_allclose(de["live_time_s"].values, ds["live_time_s"].values)


def test_the_background_drifts_as_asked_and_the_signal_does_not():
    drift = 0.3
    pre = preset("demo", cycle_s=3600.0, background_drift=drift)
    sim = simulate_campaign(pre, rng=np.random.default_rng(5))
    f = np.array(sim.truth["background_factor_per_batch"])  # (period, batch)
    # the mean of 1 + d (t / T - 1/2) over each 5-day quarter of the 20 days
    expect = 1 + drift * (np.array([2.5, 7.5, 12.5, 17.5]) / 20 - 0.5)
    np.testing.assert_allclose(f, np.broadcast_to(expect, f.shape), atol=2e-3)
    # the events' times follow it: counts in the last quarter over the first
    t = sim.time_s
    first = np.sum(t < 5 * DAY)
    last = np.sum(t >= 15 * DAY)
    ratio = expect[-1] / expect[0]
    assert last / first == pytest.approx(ratio, abs=4 * ratio * math.sqrt(1 / first + 1 / last))


def test_without_switching_the_simulation_is_unchanged():
    # the presets' runs (and every golden number) come out as before: no drift, no schedule
    a = simulate_campaign(preset("demo"), rng=np.random.default_rng(7), signal_counts=30)
    assert a.schedule is None
    assert "background_drift" not in a.truth
    b = simulate_campaign(
        preset("demo", background_drift=0.0), rng=np.random.default_rng(7), signal_counts=30
    )
    np.testing.assert_array_equal(a.adc, b.adc)
    np.testing.assert_array_equal(a.time_s, b.time_s)
    # and its times are live seconds since each period started, as before the schedules
    for ip, bl in enumerate(a.batches_s):
        assert a.time_s[a.period == ip].max() < sum(bl)
