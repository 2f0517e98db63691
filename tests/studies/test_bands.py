"""Expected limits from background-only toys (``bayes-vip study bands``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bayes_vip.cli import main
from bayes_vip.errors import InputError
from bayes_vip.studies.bands import BANDS, band_quantiles


def test_band_edges_of_a_normal_sample():
    """The band edges of 4000 standard-normal values sit near -2, -1, 0, 1 and 2.

    Each lies within its order-statistic interval, and those intervals hold the true quantile
    about 68 % of the time.
    """
    from scipy.stats import norm

    rng = np.random.default_rng(5)
    b = band_quantiles(list(rng.normal(size=4000)))
    assert b["n"] == 4000
    for name, z in (("-2", -2.0), ("-1", -1.0), ("median", 0.0), ("+1", 1.0), ("+2", 2.0)):
        assert BANDS[name] == pytest.approx(norm.cdf(z), rel=1e-12)
        assert b[name]["value"] == pytest.approx(z, abs=0.12), name
        lo, hi = b[name]["interval68"]
        assert lo <= b[name]["value"] <= hi
    held = 0
    for _ in range(300):
        iv = band_quantiles(list(rng.normal(size=200)))["+1"]["interval68"]
        held += iv[0] <= 1.0 <= iv[1]
    assert 0.58 < held / 300 < 0.80  # 68 %, with the order statistics' discreteness
    empty = band_quantiles([])
    assert empty["n"] == 0
    assert math.isnan(empty["median"]["value"])


@pytest.mark.slow
def test_quick_bands_with_the_observed_limit(tmp_path, capsys):
    """Four background-only toys, classic fit only, in-process.

    The bands are ordered and of the order of the classic sigma, and the run's own limit is
    placed among them.
    """
    run = tmp_path / "demo-energy"
    assert main(["simulate", "--preset", "demo", "--level", "energy", "--seed", "21",
                 "--out", str(run), "--json"]) == 0  # fmt: skip
    assert main(["fit", str(run), "--json"]) == 0
    capsys.readouterr()
    out = tmp_path / "bands"
    rc = main(["study", "bands", str(run), "--toys", "4", "--methods", "classic", "--seed", "2",
               "--scheduler", "in-process", "--out", str(out), "--json"])  # fmt: skip
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["toys_done"] == rec["toys_total"] == 4
    assert rec["errors"] == 0, rec["error_messages"]
    sigma = rec["reference"]["sigma_N_X"]
    b95 = rec["limits"]["classic_ul95"]
    edges = [b95["counts"][k]["value"] for k in ("-2", "-1", "median", "+1", "+2")]
    assert edges == sorted(edges)
    assert 0.5 * sigma < b95["counts"]["median"]["value"] < 3.0 * sigma
    # beta^2/2 bands follow from the reference fit's conversion
    k_b = rec["reference"]["counts_per_beta2half"]
    assert b95["beta2half"]["median"]["value"] == pytest.approx(
        b95["counts"]["median"]["value"] / k_b, rel=1e-12
    )
    # the run's own classic limit, with its percentile among the toys' limits
    obs = json.loads((run / "results" / "classic.json").read_text())
    assert b95["observed_counts"] == obs["upper_limits_counts"]["profile 0.95"]
    assert 0.0 <= b95["observed_percentile"] <= 1.0
    assert (out / "bands.png").stat().st_size > 10_000
    assert (out / "toys.parquet").is_file()
    assert "bayes_ul95" not in rec["limits"]


def test_a_matching_bands_study_gives_the_bayesian_rows_their_band(tmp_path):
    """``sample``'s comparison takes the Bayesian bands of RUN/results/study-bands."""
    from bayes_vip.io.config import default_config, with_values
    from bayes_vip.pipeline.sample import _matching_bands
    from bayes_vip.results.bayes import bayes_band, comparison_rows

    def q(v):
        return {"value": v}

    counts = {"n": 200, "-2": q(20.0), "-1": q(30.0), "median": q(40.0), "+1": q(55.0),
              "+2": q(75.0)}  # fmt: skip
    cfg = default_config()
    bands = {"limits": {"bayes_ul95": {"counts": counts}}, "config": cfg.to_dict(),
             "toys_done": 200, "seed": 3}  # fmt: skip
    assert bayes_band(bands, "0.95") == [30.0, 40.0, 55.0]
    assert bayes_band(bands, "0.9") is None
    assert bayes_band(None, "0.95") is None
    classic = {"upper_limits_counts": {}, "conversion": {"beta2half_upper_limits": {}}}
    ul = {"value": 45.0, "mcse": 0.1}
    lim = {"prior": "flat-beta", "upper_limits": {"N_X": {"0.95": ul}, "beta2half": {"0.95": ul}}}
    (row,) = comparison_rows(classic, lim, bands)
    assert row["expected_N_X"] == [30.0, 40.0, 55.0]

    class _Man:
        path = tmp_path / "run.toml"

    out = tmp_path / "results" / "study-bands"
    out.mkdir(parents=True)
    assert _matching_bands(_Man(), cfg) is None  # no study
    (out / "bands.json").write_text(json.dumps(bands))
    assert _matching_bands(_Man(), cfg) == bands
    other = with_values(cfg, sample={"prior": "flat-counts"})
    assert _matching_bands(_Man(), other) is None  # made with another prior
    moving = with_values(cfg, sample={"line_sd_eV": 10.0})
    assert _matching_bands(_Man(), moving) is None  # made with the line fixed
    (out / "bands.json").write_text('{"limits": ')
    with pytest.raises(InputError, match="not valid JSON"):
        _matching_bands(_Man(), cfg)


def test_one_brazil_figure_shows_every_method(tmp_path, monkeypatch):
    """``limits_brazil`` draws every method's limit with its bands where it has them.

    The classic 3-sigma, profile and CLs rows with their asymptotic bands (the measured run's
    classic record), the Bayesian rows with the bands of a study where it has that level.
    """
    from pathlib import Path

    import matplotlib.pyplot as plt

    from bayes_vip.results import bayes as results_bayes
    from bayes_vip.results import plots
    from bayes_vip.results.bayes import comparison_rows, expected_bands, limits_brazil

    golden = Path(__file__).resolve().parents[1] / "golden" / "fit_measured.json"
    classic = json.loads(golden.read_text())
    exp = classic["expected_limits"]
    cls95 = expected_bands(classic, "CLs 0.95")
    assert cls95["median"] == exp["counts"]["cls"]["0.95"]["+0"]
    assert cls95["-2"] < cls95["-1"] < cls95["median"] < cls95["+1"] < cls95["+2"]
    three = next(k for k in classic["upper_limits_counts"] if k.startswith("3sigma"))
    assert set(expected_bands(classic, three).values()) == {3 * exp["sigma_A_counts"]}
    edges = ("-2", "-1", "median", "+1", "+2")
    values = (90.0, 130.0, 180.0, 250.0, 330.0)
    counts: dict = {k: {"value": v} for k, v in zip(edges, values, strict=True)}
    counts["n"] = 100
    bands = {"limits": {"bayes_ul95": {"counts": counts}}}
    ul = {"value": 200.0, "mcse": 1.0}
    lim = {
        "run": "vip2-2016-17",
        "prior": "flat-beta",
        "upper_limits": {"N_X": {"0.95": ul, "0.9": ul}, "beta2half": {"0.95": ul, "0.9": ul}},
        "expected_from": {"toys": 100},
    }
    lim["comparison"] = comparison_rows(classic, lim, bands)
    by = {r["method"]: r for r in lim["comparison"]}
    assert by["Bayesian 95.0% credible (flat-beta)"]["expected_bands_N_X"]["+2"] == 330.0
    assert by["Bayesian 90.0% credible (flat-beta)"]["expected_bands_N_X"] is None
    drawn = []

    def spy(rows, **kw):
        drawn.extend(rows)
        return plots.brazil(rows, **kw)

    monkeypatch.setattr(results_bayes, "brazil", spy)
    path = limits_brazil(lim, tmp_path / "limits_brazil.png")
    plt.close("all")
    assert path.stat().st_size > 20_000
    names = [name for name, _, _ in drawn]
    assert len(drawn) == 7 + 2  # 3 sigma, 3 profile, 3 CLs; 2 Bayesian levels
    assert names[0] == "3 $\\sigma(N_X)$"
    assert names[-2:] == ["Bayes 95 %", "Bayes 90 %"]
    assert "CLs 95 %" in names
    assert [obs for _, _, obs in drawn] == [r["N_X"] for r in lim["comparison"]]
