"""The run's report (``results/report.py``): one self-contained page, read back by Chromium.

The results folders are built cheaply, never by ``sample``: the measured run's manifest
(reading the shared data file), ``classic.json`` from the measured fit's golden record,
``limits.json`` from the demo's golden sample record, and a small synthetic posterior with
the layout ``sample`` writes (posterior, sample_stats, observed_data, posterior_predictive).
Chromium renders the page (``--screenshot``, ``--dump-dom``); without it the tests that need
it skip locally and fail in CI (``BAYES_VIP_CI=1``, or ``CI`` set).
"""

from __future__ import annotations

import copy
import json
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from bayes_vip.io.atomic import sha256, write_json
from bayes_vip.io.outputs import save_netcdf
from bayes_vip.results import report
from tests.golden import make_golden

GOLDEN = make_golden.HERE
#: The model's cells of the measured run (2 periods x 6 SDDs) and its bins over 7-10 keV.
CELLS, BINS = 12, 75


def _in_ci() -> bool:
    ci = os.environ.get("CI", "")
    return os.environ.get("BAYES_VIP_CI") == "1" or ci.lower() not in ("", "0", "false")


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = report.chromium()
    if exe is None:
        msg = "chromium is not installed (Debian: apt-get install chromium)"
        if _in_ci():
            pytest.fail(msg + "; CI must have it")
        pytest.skip(msg)
    return exe


class _Ids(HTMLParser):
    """The text inside every element with an id, and every URL the page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.urls: list[str] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if a.get(k) and not a[k].startswith("#"):
                self.urls.append(a[k])
        if tag in ("img", "br", "meta", "link", "input"):
            return
        self._open.append((tag, a.get("id")))
        if a.get("id"):
            self.text[a["id"]] = ""

    def handle_endtag(self, tag):
        while self._open:
            t, _ = self._open.pop()
            if t == tag:
                break

    def handle_data(self, data):
        for _, i in self._open:
            if i:
                self.text[i] += data


def _ids(html: str) -> _Ids:
    p = _Ids()
    p.feed(html)
    return p


def _number(text: str) -> float:
    """The first number of a cell ("226.3 +- 0.8" -> 226.3)."""
    return float(text.split()[0].replace(",", ""))


def _golden(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


def _fit_only_run(tmp: Path) -> Path:
    """The measured run with only its classic fit (the golden record) in its results."""
    run = make_golden.measured_copy(tmp)
    write_json(run / "results" / "classic.json", _golden("fit_measured.json"))
    return run


def _posterior(rng: np.random.Generator):
    """A small InferenceData laid out as ``sample`` writes it (energy level, 12 cells)."""
    import arviz as az

    chains, draws = 2, 100
    post = {
        "beta2half_1e29": np.abs(rng.normal(0.6, 0.4, (chains, draws))),
        "N_X": np.abs(rng.normal(90.0, 60.0, (chains, draws))),
        "efficiency": rng.normal(0.018, 0.0018, (chains, draws)),
        "fano": rng.normal(0.16, 0.01, (chains, draws)),
        "tail_frac": rng.normal(0.24, 0.1, (chains, draws)),
        "noise_mu": rng.normal(3.6, 0.1, (chains, draws, 2)),
        "offset": rng.normal(25.0, 3.0, (chains, draws, 6)),
        "noise": rng.normal(30.0, 1.0, (chains, draws, 2, 6)),
    }
    rate = np.tile(200.0 * np.exp(-np.linspace(0, 1, BINS)), CELLS)
    obs = rng.poisson(rate).astype(float)
    diverging = np.zeros((chains, draws), bool)
    diverging[1, 7] = True
    idata = az.from_dict(
        posterior=post,
        sample_stats={"diverging": diverging},
        observed_data={"obs": obs},
    )
    pp = rng.poisson(rate, (chains, 20, rate.size))
    idata.add_groups(posterior_predictive={"obs": pp}, dims={"obs": ["obs_dim_0"]})
    return idata


def _sampled_run(tmp: Path, *, record: str | None) -> tuple[Path, dict]:
    """The measured run with a classic fit, a synthetic posterior and a ``limits.json``.

    ``limits.json`` is the demo's golden record laid out for this run's 12 cells, with the
    integrity record ``record`` ("match", "mismatch" or None: none) and its Brazil figure.
    """
    from bayes_vip.results.bayes import limits_brazil

    run = _fit_only_run(tmp)
    out = run / "results"
    save_netcdf(_posterior(np.random.default_rng(7)), out / "posterior.nc")
    lim = copy.deepcopy(_golden("sample_demo.json")["limits"])
    lim["run"], lim["level"] = "vip2-2016-17", "energy"
    lim["model"] |= {"cells": CELLS, "bins": CELLS * BINS, "roi_eV": [7000.0, 10000.0]}
    for row in lim["comparison"]:  # the record is older than the rows' level
        if row["method"].startswith("Bayesian"):
            row.setdefault("level", float(row["method"].split()[1].rstrip("%")) / 100)
    if record is not None:
        sha = sha256(out / "posterior.nc")
        lim["result_set"] = {
            "seed": 5,
            "config": lim["config"],
            "posterior_sha256": sha if record == "match" else "0" * 64,
        }
    limits_brazil(lim, out / "limits_brazil.png")
    write_json(out / "limits.json", lim)
    return run, lim


def test_the_report_of_a_sampled_run_in_chromium(tmp_path, chromium):
    run, lim = _sampled_run(tmp_path, record="match")
    html = report.write_report(run)
    assert html == run / "results" / "report.html"

    png = report.screenshot(html, tmp_path / "shot.png", width=1280, height=4000)
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (1280, 4000)
        # not a blank page: many distinct colours (figures, tables, the header)
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 200
    assert png.stat().st_size > 50_000

    dom = _ids(report.dump_dom(html))
    t = dom.text
    classic = _golden("fit_measured.json")
    assert _number(t["nx-classic"]) == pytest.approx(classic["N_X"], abs=0.05)
    assert _number(t["classic-ul95-cls"]) == pytest.approx(
        classic["upper_limits_counts"]["CLs 0.95"], abs=0.05
    )
    # every limit of limits.json, in its row
    ul = lim["upper_limits"]["N_X"]
    for level, slug in (("0.9", "ul90-bayes"), ("0.95", "ul95-bayes"), ("0.997", "ul997-bayes")):
        assert _number(t[slug]) == pytest.approx(ul[level]["value"], abs=0.05), slug
    for row in lim["comparison"]:
        if row["method"].startswith("classic CLs 0.95"):
            assert _number(t["ul95-cls"]) == pytest.approx(row["N_X"], abs=0.05)
    assert _number(t["ul-3sigma"]) == pytest.approx(lim["comparison"][0]["N_X"], abs=0.05)
    # the golden demo's gates failed: said so, with the reasons
    assert "The sampler gates failed" in t["gates"]
    for reason in lim["gates"]["failed"]:
        assert reason in t["gates"]
    assert t["divergences"].strip() == "1"
    assert "SHA-256 matches" in t["integrity"]
    assert "integrity-warning" not in t
    assert "offset" in t["diagnostics"]
    # self-contained: every image inline, nothing fetched
    assert len(dom.urls) >= 4  # trace, rank, predictive, Brazil
    assert all(u.startswith("data:image/png;base64,") for u in dom.urls)


def test_a_posterior_that_is_not_the_one_of_limits_json_is_flagged(tmp_path):
    run, _ = _sampled_run(tmp_path, record="mismatch")
    t = _ids(report.write_report(run).read_text()).text
    assert t["integrity-warning"] == "posterior.nc does not belong to limits.json"


def test_the_report_after_fit_alone_says_the_bayesian_part_is_missing(tmp_path):
    run = _fit_only_run(tmp_path)
    (run / "run.toml").write_text(
        (run / "run.toml")
        .read_text()
        .replace('description = "VIP-2', 'description = "<script>alert(1)</script> VIP-2')
    )
    html = report.write_report(run).read_text()
    t = _ids(html).text
    assert "Bayesian part missing" in t["posterior-missing"]
    assert "no limits.json yet" in t["limits-missing"]
    assert "no sampler gates yet" in t["gates"]
    assert "energy-level run" in t["calibration-missing"]
    assert _number(t["nx-classic"]) == pytest.approx(_golden("fit_measured.json")["N_X"], abs=0.05)
    assert "no limits.json yet" in t["integrity"]
    assert "<script>alert" not in html  # autoescaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt; VIP-2" in html


def test_a_damaged_limits_json_is_named_on_the_page(tmp_path):
    run = _fit_only_run(tmp_path)
    (run / "results" / "limits.json").write_text('{"upper_limits": ')
    t = _ids(report.write_report(run).read_text()).text
    assert "not valid JSON" in t["limits-missing"]
    assert "not valid JSON" in t["integrity-warning"]
    assert _number(t["nx-classic"]) == pytest.approx(_golden("fit_measured.json")["N_X"], abs=0.05)


def test_the_report_of_an_adc_run_with_a_damaged_data_file_shows_the_calibration(tmp_path):
    from tests.conftest import write_event_manifest

    run = write_event_manifest(
        tmp_path / "ev",
        '[[periods]]\nname = "on"\ncurrent_A = 100.0\ntime_s = 3600.0\n',
        hi=4096,
        width=1,
    )
    (run / "ev.parquet").write_bytes(b"not a parquet file")
    write_json(run / "results" / "calibration.json", _golden("sample_demo.json")["calibration"])
    t = _ids(report.write_report(run).read_text()).text
    assert "ev.parquet" in t["run-missing"]  # the data could not be read: the page says why
    cal = _golden("sample_demo.json")["calibration"]
    assert int(t["cal-cells"]) == cal["cells"]["calibrated"]
    assert "no classic fit yet" in t["classic-missing"]


@pytest.mark.parametrize("record", ["match", "mismatch", "missing", "no posterior"])
def test_check_result_set(tmp_path, record):
    post = tmp_path / "posterior.nc"
    post.write_bytes(b"draws")
    sha = sha256(post)
    lim: dict = {"upper_limits": {}}
    if record in ("match", "no posterior"):
        lim["result_set"] = {"seed": 3, "config": {"a": 1}, "posterior_sha256": sha}
    elif record == "mismatch":
        lim["result_set"] = {"seed": 3, "config": {"a": 1}, "posterior_sha256": "ab" * 32}
    if record == "no posterior":
        post.unlink()
    write_json(tmp_path / "limits.json", lim)
    got = report.check_result_set(tmp_path)
    want = {
        "match": ("match", True),
        "mismatch": ("mismatch", False),
        "missing": ("no-record", None),
        "no posterior": ("mismatch", False),
    }[record]
    assert (got["status"], got["ok"]) == want
    if record == "match":
        assert got["recorded"] == got["actual"] == sha
        assert got["seed"] == 3
    if record == "mismatch":
        assert got["message"] == "posterior.nc does not belong to limits.json"
        assert got["actual"] == sha
    if record == "missing":
        assert got["message"] == "no integrity record (older run)"


def test_check_result_set_without_limits(tmp_path):
    assert report.check_result_set(tmp_path)["status"] == "no-limits"
