"""Frequentist limits from toys (``analysis.toys``, ``studies.frequentist``).

A counting experiment with a known background b has closed forms: q~_mu and the
Feldman-Cousins t_mu are functions of the count n, q~ falls with n, so CLs is
P(n <= n_obs | mu + b) / P(n <= n_obs | b) (the classic counting CLs), and the unified
interval follows from summing Poisson probabilities. Toys drawn from it must reproduce both,
to their binomial errors, and Feldman and Cousins' own table.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, stats

from bayes_vip.analysis.asymptotic import PoissonProfile
from bayes_vip.analysis.toys import grid_statistics, limits_from_toys
from bayes_vip.studies.engine import IN_PROCESS
from bayes_vip.studies.frequentist import frequentist_spec, run_study


def _s(n, nu):
    """The Baker-Cousins deviance of one bin."""
    n = np.asarray(n, float)
    return 2 * (nu - n + np.where(n > 0, n * np.log(np.where(n > 0, n, 1.0) / nu), 0.0))


def _stats(n, mu, b):
    """(q~_mu, t_mu) of counts n for a signal mu over a known background b (mu_hat = n - b)."""
    n = np.asarray(n, float)
    ref = _s(n, np.maximum(n, b))  # S at max(mu_hat, 0)
    t = np.maximum(_s(n, mu + b) - ref, 0.0)
    q = np.where(n - b >= mu, 0.0, t)
    return q, t


def counting_profile(b: float, n_obs: float):
    """One bin, mean mu + b, as a PoissonProfile (a builder for the toy engine)."""
    return PoissonProfile(
        lambda x: jnp.array([x[0] + b]),
        ["mu"],
        [max(n_obs - b, 0.0) + 0.5],
        poi="mu",
        bounds={"mu": (-b + 1e-9, None)},
        data=[n_obs],
        tol=1e-8,
    )


def _exact_p_fc(mu, b, n_obs):
    n = np.arange(0, 200)
    _, t = _stats(n, mu, b)
    _, t0 = _stats(n_obs, mu, b)
    return float(stats.poisson.pmf(n, mu + b)[t >= t0 - 1e-12].sum())


def _toys(b, n_obs, grid, n_toys, seed=3):
    rng = np.random.default_rng(seed)
    q_obs, t_obs = _stats(np.full(len(grid), n_obs), np.asarray(grid), b)
    sb = {}
    for k, mu in enumerate(grid):
        q, t = _stats(rng.poisson(mu + b, n_toys), mu, b)
        sb[k] = {"q": q, "t": t}
    nb = rng.poisson(b, n_toys)
    b_q = np.stack([_stats(nb, mu, b)[0] for mu in grid], axis=1)
    return {"q": list(q_obs), "t": list(t_obs)}, sb, b_q


def test_cls_from_toys_is_the_counting_experiments_cls():
    """Every grid point's CLs within 4 of its binomial errors; the limits within 4 %."""
    b, n_obs, levels = 3.0, 3, (0.9, 0.95)
    grid = np.linspace(0.0, 14.0, 57)
    observed, sb, b_q = _toys(b, n_obs, grid, 20000)
    res = limits_from_toys(grid, observed, sb, b_q, levels)

    def exact(mu):
        return stats.poisson.cdf(n_obs, mu + b) / stats.poisson.cdf(n_obs, b)

    for p in res["points"]:
        if p["mu"] > 0:
            assert abs(p["cls"] - exact(p["mu"])) < 4 * p["cls_err"] + 1e-3, p
    for cl in levels:
        want = optimize.brentq(lambda m, a=1 - cl: exact(m) - a, 0.0, 50.0)
        assert res["cls"][f"{cl:g}"] == pytest.approx(want, rel=0.04)
        # CLs+b: P(n <= n_obs | mu + b) = 1 - CL
        want_sb = optimize.brentq(
            lambda m, a=1 - cl: stats.poisson.cdf(n_obs, m + b) - a, 0.0, 50.0
        )
        assert res["profile"][f"{cl:g}"] == pytest.approx(want_sb, rel=0.04)
    # the median expected limit: the background-only median count is n = 3 here
    assert res["expected_cls"]["0.95"]["+0"] == pytest.approx(res["cls"]["0.95"], rel=0.05)
    e = res["expected_cls"]["0.95"]
    assert e["-2"] <= e["-1"] <= e["+0"] <= e["+1"] <= e["+2"]
    # the median expected profile limit: CLs+b of the median background-only count, n = 3
    assert res["expected_profile"]["0.95"]["+0"] == pytest.approx(res["profile"]["0.95"], rel=0.05)
    p = res["expected_profile"]["0.95"]
    assert p["-1"] <= p["+0"] <= p["+1"]
    # 200 toys cannot resolve 99.7 %: 0.6 toys expected beyond the limit
    sb200 = {k: {"q": v["q"][:200], "t": v["t"][:200]} for k, v in sb.items()}
    few = limits_from_toys(grid, observed, sb200, b_q[:200], (0.95, 0.997))
    assert few["cls"]["0.997"] is None
    assert few["feldman_cousins"]["0.997"] is None
    assert "needs at least 1667 toys" in few["unresolved"]["0.997"]
    assert few["cls"]["0.95"] == pytest.approx(res["cls"]["0.95"], rel=0.15)


def test_feldman_cousins_from_toys_matches_the_unified_construction():
    """The toys' 90 % intervals agree with summed Poisson probabilities and with Feldman and
    Cousins' table IV for b = 3: n = 3 gives [0, 4.42], n = 6 gives [0.15, 8.47].

    (Their n = 0 entry, [0, 1.08], is not the plain construction's [0, 0.95]: the table's
    n = 0 row at b > 0 differs from it; docs/classic.md.)
    """  # noqa: D205
    b = 3.0
    grid = np.linspace(0.0, 12.0, 241)
    for n_obs, lo_fc, hi_fc in ((3, 0.0, 4.42), (6, 0.15, 8.47)):
        exact = np.array([_exact_p_fc(mu, b, n_obs) for mu in grid])
        inside = grid[exact > 0.1]
        assert inside[0] == pytest.approx(lo_fc, abs=0.06)
        assert inside[-1] == pytest.approx(hi_fc, abs=0.06)
        observed, sb, b_q = _toys(b, n_obs, grid, 4000, seed=n_obs)
        res = limits_from_toys(grid, observed, sb, b_q, (0.9,))
        lo, hi = res["feldman_cousins"]["0.9"]
        assert lo == pytest.approx(lo_fc, abs=0.15)
        assert hi == pytest.approx(hi_fc, abs=0.15)
        for p, pe in zip(res["points"], exact, strict=True):
            assert abs(p["p_fc"] - pe) < 4 * p["p_fc_err"] + 1e-3


def test_a_profile_gives_the_closed_form_statistics():
    """``grid_statistics`` of a fitted PoissonProfile equals the closed forms (n below, at and
    above b: a negative best fit counts as zero in q~ and in t).
    """  # noqa: D205
    b = 4.0
    prof = counting_profile(b, 2.0)
    grid = [0.0, 1.5, 3.0, 6.0]
    for n in (1.0, 4.0, 9.0):
        g = grid_statistics(prof, grid, np.array([n]))
        q, t = _stats(np.full(len(grid), n), np.asarray(grid), b)
        np.testing.assert_allclose(g["q"], q, atol=1e-6)
        np.testing.assert_allclose(g["t"], t, atol=1e-6)


def test_the_study_runs_on_the_toy_engine_and_resumes(tmp_path):
    """A small study of the counting experiment in one worker thread: every toy stored, the
    limits reported with their toy counts, and a second run resumes without new toys.
    """  # noqa: D205
    spec = frequentist_spec(
        builder="tests.analysis.test_toys:counting_profile",
        args={"b": 3.0, "n_obs": 3.0},
        scale=1.0,
        toys=50,
        seed=4,
        reach=8.0,
        points=5,
        levels=(0.9,),
    )
    res = run_study(spec, tmp_path, scheduler=IN_PROCESS)
    assert res["toys_done"] == 50 * 6
    assert res["toys_failed"] == 0
    assert res["toys_background"] == 50
    assert res["toys_per_mu"] == 50
    assert res["observed"]["q"][0] == 0.0
    assert 2.0 < res["cls"]["0.9"] < 8.0
    again = run_study(spec, tmp_path, scheduler=IN_PROCESS)
    assert again["points"] == res["points"]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--points", "2"], "--points"),
        (["--toys", "1"], "--toys"),
        (["--reach", "-1"], "--reach"),
        (["--seed", "-3"], "--seed"),
    ],
)
def test_impossible_study_options_exit_2_before_any_fit(tmp_path, capsys, argv, flag):
    from bayes_vip.cli import main

    run = tmp_path / "no-run-needed"
    assert main(["study", "frequentist", str(run), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert flag in err[0]
    assert not run.exists()


def test_fit_takes_the_limits_of_a_matching_frequentist_study(tmp_path):
    """``classic.json`` gains the toys' limits where the study was made with this fit's
    options; another configuration's study is left out, and a broken file is named.
    """  # noqa: D205
    import json

    from bayes_vip.errors import InputError
    from bayes_vip.io.config import default_config, with_values
    from bayes_vip.pipeline.fit import matching_toys

    class _Man:
        path = tmp_path / "run.toml"

    cfg = default_config()
    rec = {
        "config": cfg.to_dict(),
        "cls": {"0.95": 240.0},
        "profile": {"0.95": 205.0},
        "feldman_cousins": {"0.95": [0.0, 230.0]},
        "expected_cls": {"0.95": {"+0": 238.0}},
        "toys_per_mu": 150,
        "toys_background": 150,
        "grid": [0.0, 100.0],
    }
    out = tmp_path / "results" / "study-frequentist"
    out.mkdir(parents=True)
    assert matching_toys(_Man(), cfg) is None
    (out / "frequentist.json").write_text(json.dumps(rec))
    got = matching_toys(_Man(), cfg)
    assert got["cls"] == {"0.95": 240.0}
    assert got["toys_per_mu"] == 150
    assert matching_toys(_Man(), with_values(cfg, fit={"statistic": "chi2"})) is None
    (out / "frequentist.json").write_text(json.dumps({"cls": {}}))
    with pytest.raises(InputError, match="not a frequentist study"):
        matching_toys(_Man(), cfg)


def test_a_classic_json_of_an_older_version_is_fitted_again(tmp_path, monkeypatch):
    """``ensure_classic`` reuses a run's classic.json only where it is of this version."""
    import json

    from bayes_vip.io.config import default_config
    from bayes_vip.pipeline import fit as fit_module
    from bayes_vip.results.classic import CLASSIC_SCHEMA

    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    (run / "run.toml").write_text("")
    monkeypatch.setattr(
        fit_module, "load_manifest", lambda r: type("M", (), {"path": run / "run.toml"})()
    )
    calls = []
    monkeypatch.setattr(fit_module, "fit", lambda *a, **k: calls.append(1) or {"fitted": True})
    cfg = default_config()
    record = {"config": cfg.to_dict(), "figures": {"roi": "x.png"}}
    path = run / "results" / "classic.json"
    path.write_text(json.dumps(record))  # no schema: made before the CLs limits
    assert fit_module.ensure_classic(run, cfg) == {"fitted": True}
    path.write_text(json.dumps({**record, "schema": CLASSIC_SCHEMA}))
    assert fit_module.ensure_classic(run, cfg)["schema"] == CLASSIC_SCHEMA
    assert calls == [1]
