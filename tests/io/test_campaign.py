"""Measured run through its manifest, Campaign netCDF round trip, event-list ingest."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot
import xarray as xr

from bayes_vip.io.campaign import build_campaign, load_campaign, open_campaign, save_campaign
from bayes_vip.io.manifest import load_manifest
from tests.conftest import MEASURED_RUN, write_event_manifest


def test_measured_run_has_2_periods_x_6_sdds(measured_campaign):
    ds = measured_campaign
    assert ds.sizes["period"] == 2
    assert ds.sizes["sdd"] == 6
    assert ds.sizes["batch"] == 1
    assert list(ds["sdd"].values) == [1, 2, 3, 4, 5, 6]
    assert list(ds["current_A"].values) == [100.0, 0.0]
    assert list(ds["time_s"].values) == [81 * 86400 + 10 * 3600] * 2  # 81 d 10 h (data README)
    assert ds.attrs["level"] == "energy"
    assert ds.attrs["unit"] == "eV"
    assert float(ds["channel_lo"][0]) == 1000.0
    assert float(ds["channel_hi"][-1]) == 10000.0
    assert ds.sizes["channel"] == 9000


def test_measured_counts_equal_root_histogram_sums(measured_campaign, measured_root):
    f = uproot.open(measured_root)
    for period, prefix in (("current-on", "withCurrent"), ("current-off", "noCurrentSmall")):
        for sdd in range(1, 7):
            h = f[f"{prefix}sdd{sdd}"].values().astype(np.float64)
            got = measured_campaign["counts"].sel(period=period, sdd=sdd)
            np.testing.assert_array_equal(got.values[0], h)
            assert int(got.sum()) == int(h.sum())


def test_netcdf_round_trip_is_identical(measured_campaign, tmp_path):
    save_campaign(measured_campaign, tmp_path / "c.nc")
    back = open_campaign(tmp_path / "c.nc")
    xr.testing.assert_identical(measured_campaign, back)
    assert json.loads(back.attrs["manifest_json"])["run"]["name"] == "vip2-2016-17"


def _event_run(tmp_path, events: pa.Table):
    pq.write_table(events, tmp_path / "ev.parquet")
    periods = """
[[periods]]
name = "on"
current_A = 100
time_s = 200
batches_s = [100, 100]
[[periods]]
name = "off"
current_A = 0
time_s = 50
"""
    return write_event_manifest(tmp_path, periods, hi=100, width=10)


def test_parquet_events_are_histogrammed(tmp_path):
    rng = np.random.default_rng(1)
    n = 5000
    period = rng.choice(["on", "off"], n)
    batch = np.where(period == "on", rng.integers(0, 2, n), 0)
    sdd = rng.choice([3, 7], n)
    adc = rng.integers(0, 110, n)  # some beyond the binning (negative ADC is an error)
    t = pa.table({"period": period, "sdd": sdd, "batch": batch, "adc": adc})
    ds = load_campaign(_event_run(tmp_path, t))
    assert list(ds["period"].values) == ["on", "off"]
    assert list(ds["sdd"].values) == [3, 7]
    assert ds.sizes["batch"] == 2
    np.testing.assert_array_equal(ds["live_time_s"].sel(period="off").values, [[50, 0]] * 2)
    for p in ("on", "off"):
        for s in (3, 7):
            for b in range(2):
                m = (period == p) & (sdd == s) & (batch == b)
                # half-open channels [lo, hi): np.histogram would also count adc == 100
                exp, _ = np.histogram(adc[m & (adc < 100)], bins=np.arange(0, 101, 10))
                got = ds["counts"].sel(period=p, sdd=s, batch=b).values
                np.testing.assert_array_equal(got, exp)
                outside = int((adc[m] >= 100).sum())
                assert int(ds["outside"].sel(period=p, sdd=s, batch=b)) == outside
    # nothing silently dropped
    assert int(ds["counts"].sum() + ds["outside"].sum()) == n


def test_ttree_events_give_the_same_campaign(tmp_path):
    rng = np.random.default_rng(2)
    n = 800
    cols = {
        "period": rng.integers(0, 2, n).astype(np.int32),
        "sdd": rng.integers(1, 3, n),
        "batch": np.zeros(n, dtype=np.int64),
        "adc": rng.integers(0, 100, n).astype(np.int32),
    }
    run = _event_run(tmp_path, pa.table(cols))
    a = load_campaign(run)
    with uproot.recreate(tmp_path / "ev.root") as f:
        f["events"] = dict(cols.items())
    text = (
        (run / "run.toml")
        .read_text()
        .replace(
            'format = "parquet"\npath = "ev.parquet"',
            'format = "root-ttree"\npath = "ev.root"\ntree = "events"',
        )
    )
    (run / "run.toml").write_text(text)
    b = build_campaign(load_manifest(run))
    np.testing.assert_array_equal(a["counts"].values, b["counts"].values)


def test_manifest_paths_are_relative_to_the_run_and_expand_variables(monkeypatch, tmp_path):
    man = load_manifest(MEASURED_RUN)
    assert man.sources[0].path.resolve().name == "energyHistograms.root"
    assert man.sources[0].path.resolve().is_file()
    monkeypatch.setenv("VIP2_DATA", str(man.sources[0].path.resolve().parent))
    text = (
        (MEASURED_RUN / "run.toml")
        .read_text()
        .replace("../../../shared/data/vip2-2016-17", "$VIP2_DATA")
    )
    (tmp_path / "run.toml").write_text(text)
    assert load_manifest(tmp_path).sources[0].path == man.sources[0].path.resolve()


@pytest.mark.parametrize("field", ["sdd", "batch"])
def test_negative_ids_are_rejected(tmp_path, field):
    from bayes_vip.errors import InputError

    cols = {"period": ["on"] * 3, "sdd": [1, 1, 1], "batch": [0, 0, 0], "adc": [1, 2, 3]}
    cols[field] = [0, -1, 0]
    with pytest.raises(InputError, match=field):
        load_campaign(_event_run(tmp_path, pa.table(cols)))
