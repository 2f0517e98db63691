"""The published analyses by their own methods (``analysis.reproduce``, ``bayes-vip reproduce``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bayes_vip.analysis.reproduce import (
    ROI_WINDOW_EV,
    bayes_counting,
    roi_subtraction,
    window_counts,
)
from bayes_vip.cli import main
from bayes_vip.io.manifest import load_manifest
from bayes_vip.io.readers import read_th1
from bayes_vip.pipeline.reproduce import AUTHORS_SUMS, _authors
from tests.conftest import MEASURED_RUN


def test_no_counts_give_the_exponential_limit_whatever_the_background():
    """n_on = 0: p(s | data) is proportional to exp(-s), so the 99.7 % limit is -ln 0.003."""
    for n_off in (0, 7, 300):
        got = bayes_counting(0, n_off, 0.997)["limit"]
        assert got == pytest.approx(-math.log(0.003), rel=2e-3)


def test_many_counts_approach_the_gaussian():
    r = bayes_counting(4700, 4370, 0.95)
    # flat priors: s + b has the posterior Gamma(n_on + 1), b has Gamma(n_off + 1)
    assert r["N_X"] == pytest.approx(4701 - 4371, abs=0.5)
    assert r["sigma_N_X"] == pytest.approx(math.sqrt(4701 + 4371), rel=0.01)
    assert r["limit"] == pytest.approx(330 + 1.645 * math.sqrt(9072), rel=0.01)


def test_roi_subtraction_and_the_window():
    edges = np.arange(7600.0, 7861.0, 10.0)
    counts = np.ones(edges.size - 1)
    assert window_counts(counts, edges, (7630.0, 7830.0)) == 20
    a = roi_subtraction(4700.0, 4370.0)
    assert a["N_X"] == 330.0
    assert a["limit"] == pytest.approx(3 * math.sqrt(9070.0))


def test_the_authors_sums_are_read_from_the_file(measured_root):
    man = load_manifest(MEASURED_RUN)
    counts, edges = _authors(man)
    for i, key in enumerate(AUTHORS_SUMS.values()):
        assert np.array_equal(counts[i], read_th1(measured_root, key).counts)
    assert edges[0] == 1000.0
    assert edges[-1] == 10000.0


def test_a_wrong_sum_exits_2_with_one_line(capsys):
    assert main(["reproduce", str(MEASURED_RUN), "--sum", "mine"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--sum" in err[0]


@pytest.mark.slow
def test_reproduce_on_the_measured_run(tmp_path, measured_root, capsys):
    """(a) and (c) count the file's own per-SDD histograms; (b) finds no line at 7729 eV."""
    run = tmp_path / "vip2-2016-17"
    run.mkdir()
    text = (MEASURED_RUN / "run.toml").read_text()
    text = text.replace(
        "../../../shared/data/vip2-2016-17/energyHistograms.root", str(measured_root)
    )
    (run / "run.toml").write_text(text)
    assert main(["reproduce", str(run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    n = {}
    for kind, key in (("on", "withCurrentsdd"), ("off", "noCurrentSmallsdd")):
        hists = [read_th1(measured_root, f"{key}{i}") for i in range(1, 7)]
        n[kind] = window_counts(sum(h.counts for h in hists), hists[0].edges, ROI_WINDOW_EV)
    a, b, c = out["rows"]
    assert (a["N_on"], a["N_off"]) == (n["on"], n["off"])
    assert a["N_X"] == n["on"] - n["off"]
    assert abs(b["N_X"]) < b["sigma_N_X"]  # the fit sees no line where the window sees 3.5 sigma
    assert b["step2_chi2_ndf"] < 1.2
    assert c["limit"] > c["N_X"] > 0
    conv = c["limit_beta2half"] / c["limit"]
    assert a["limit_beta2half"] == pytest.approx(a["limit"] * conv)
    assert (run / "results" / "reproduce_sdds.json").is_file()
