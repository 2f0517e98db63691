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
from bayes_vip.errors import InputError
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
    with pytest.raises(InputError, match="bin edges"):  # bins straddling an end: refused
        window_counts(counts, edges, (7629.0, 7829.0))
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


def test_options_that_cannot_hold_are_refused_before_any_fit():
    from bayes_vip.bayes.published import published_bins
    from bayes_vip.io.config import load_config, with_values
    from bayes_vip.pipeline.reproduce import reproduce

    cfg = with_values(load_config(MEASURED_RUN), fit={"sdd": 1})
    with pytest.raises(InputError) as exc:  # the published analyses sum every SDD
        reproduce(MEASURED_RUN, cfg)
    assert exc.value.field == "fit.sdd"
    with pytest.raises(InputError, match="divide"):
        published_bins(np.arange(7000.0, 8700.0, 25.0))
    with pytest.raises(InputError, match="7000-8600"):
        published_bins(np.arange(7200.0, 8700.0, 1.0))
    assert published_bins(np.arange(1000.0, 10000.1, 1.0)) == (6000, 10, 160)


def test_a_wrong_sum_exits_2_with_one_line(capsys):
    assert main(["reproduce", str(MEASURED_RUN), "--sum", "mine"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--sum" in err[0]


@pytest.mark.slow
def test_reproduce_on_the_measured_run(tmp_path, measured_root, capsys):
    """The four analyses of the measured run, each checked where it can fail.

    (a) and (c) count the file's own per-SDD histograms; (b) finds no line at 7729 eV;
    (d) converges.
    """
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
    a, b, c, d = out["rows"]
    assert (a["N_on"], a["N_off"]) == (n["on"], n["off"])
    assert a["N_X"] == n["on"] - n["off"]
    assert abs(b["N_X"]) < b["sigma_N_X"]  # the fit sees no line where the window sees 3.5 sigma
    assert b["step2_chi2_ndf"] < 1.2
    assert c["limit"] > c["N_X"] > 0
    assert d["r_hat"] < 1.02
    assert d["divergences"] == 0
    assert 0 < d["limit"] <= 700.0  # the signal's prior is uniform on 0-700
    conv = c["limit_beta2half"] / c["limit"]
    assert a["limit_beta2half"] == pytest.approx(a["limit"] * conv)
    assert (run / "results" / "reproduce_sdds.json").is_file()


@pytest.mark.slow
def test_the_published_bayesian_fit_recovers_an_injected_line():
    """(d) on spectra drawn from its own model: 400 PEP counts at 7729 eV are found."""
    import jax.numpy as jnp

    from bayes_vip.bayes import published

    edges = np.arange(7000.0, 8600.1, 10.0)
    truth = {
        **{"n_cu": 25000.0, "n_ni": 1500.0, "cu_mu": 8047.8, "ni_mu": 7478.2},
        **{"cu_sigma": 78.0, "ni_sigma": 75.0, "bkg": 32000.0, "c1": -0.1, "c2": 0.05},
    }
    rng = np.random.default_rng(11)
    e = jnp.asarray(edges)
    off = rng.poisson(np.asarray(published._expected(truth, e, with_signal=False)))
    on = rng.poisson(np.asarray(published._expected({**truth, "n_x": 400.0}, e, True)))
    r = published.published_bayes_fit(on, off, edges, chains=2, warmup=300, samples=500)
    assert r["r_hat"] < 1.05
    assert r["divergences"] == 0
    assert abs(r["N_X"] - 400.0) < 3 * r["sigma_N_X"]
    assert r["limit"] > 400.0
    assert r["background_off_counts"] == pytest.approx(truth["bkg"], rel=0.01)
