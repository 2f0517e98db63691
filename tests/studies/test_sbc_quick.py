"""The quick SBC of CI: the production sampler passes; a mis-specified fit and a broken one fail.

Energy level, demo layout, 2 chains x (100 + 50) draws, ranks among L = 19 draws, 10
simulations each, all in this process (``scheduler="in-process"``), so that they share one
reference layout and one compiled sampler. With so few simulations the thresholds are loose
(a 99 % simultaneous ECDF band, chi-square p >= 0.001), the same for all three, but not so
loose that gross miscalibration passes:

- the negative control draws the data with a Fano factor 20 % above the truth, which the
  fit's model does not know;
- the broken sampler is a realistic bug: every simulation is fitted to the reference toy's
  counts instead of its own (the posterior no longer follows the truth).

Also: the prior draws and the data drawn from the model there.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayes_vip.io.config import load_config
from bayes_vip.studies.engine import IN_PROCESS, read_store
from bayes_vip.studies.sbc import (
    RANKED,
    _layout,
    draw_from_prior,
    layout_key,
    quantity_name,
    rank_statistics,
    sbc_spec,
    sbc_study,
)

SIMS = 10
L = 19
SEED = 1
QUICK = {"sample.chains": 2, "sample.warmup": 100, "sample.samples": 50,
         "sample.max_draws": 50}  # fmt: skip


def verdicts(rows) -> dict[str, bool]:
    """Each quantity's verdict under the CI thresholds (99 % band, chi-square p >= 0.001)."""
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == len(rows), [r["error"] for r in rows if r["status"] != "ok"]
    out = {}
    for site, index in RANKED["energy"]:
        name = quantity_name(site, index)
        ranks = np.array([r[f"rank:{name}"] for r in ok])
        out[name] = rank_statistics(ranks, L, band_prob=0.99, alpha=0.001)["uniform"]
    return out


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    from bayes_vip.cli import main

    tmp = tmp_path_factory.mktemp("sbc-quick")
    run = tmp / "demo-energy"
    assert main(["simulate", "--preset", "demo", "--level", "energy", "--seed", "8",
                 "--out", str(run), "--json"]) == 0  # fmt: skip
    cfg = load_config(run, overrides=QUICK)
    return tmp, run, cfg, sbc_spec(run, cfg, sims=SIMS, seed=SEED, rank_draws=L)


def study(layout, name, **kw):
    tmp, run, cfg, _ = layout
    rec = sbc_study(
        run, cfg, out=tmp / name, sims=SIMS, seed=SEED, rank_draws=L, scheduler=IN_PROCESS, **kw
    )
    return rec, read_store(tmp / name / "sims.parquet")


@pytest.mark.slow
def test_draws_from_the_prior_follow_the_model(layout):
    import jax
    from numpyro import handlers

    from bayes_vip.bayes.model import vip_model

    _, _, cfg, spec = layout
    data, upper, post = _layout(layout_key(spec))
    assert post.data is data
    mask = np.asarray(data.mask)

    def chi2(truth, counts, fano_factor=1.0):
        """Pearson chi-square of ``counts`` against the model at ``truth`` (Fano scaled)."""
        sites = {k: truth[k] for k in truth if k not in ("noise", "N_X")}
        sites["fano"] = truth["fano"] * fano_factor
        model = handlers.substitute(vip_model, data=sites)
        rate = handlers.trace(model).get_trace(data, cfg.sample.prior, upper)["obs"]["fn"].rate
        mu = np.asarray(rate)
        return float(np.sum((counts[mask] - mu) ** 2 / mu))

    key = jax.random.PRNGKey(3)
    truth, counts, lines = draw_from_prior(data, cfg.sample.prior, upper, key)
    assert lines is None  # energy level: no calibration lines
    assert counts.shape == data.counts.shape
    assert np.all(counts[~mask] == 0)
    assert np.all(counts == np.round(counts))
    for site, index in RANKED["energy"]:
        assert np.isfinite(truth[site][index]), quantity_name(site, index)
    assert 0.0 <= float(truth["beta2half_1e29"]) <= upper
    # Poisson around the model's expected counts at the truth: Pearson chi2 per bin ~ 1
    n_bins = int(mask.sum())
    assert abs(chi2(truth, counts) / n_bins - 1) < 5 * (2 / n_bins) ** 0.5
    # the negative control: the same truth (same key), data drawn with Fano x 1.2; the
    # model with the shifted Fano describes them better than the model at the truth, and
    # the other way round for the unshifted data
    t2, shifted, _ = draw_from_prior(data, cfg.sample.prior, upper, key, fano_shift=0.2)
    assert float(t2["fano"]) == pytest.approx(float(truth["fano"]))
    assert chi2(truth, shifted) - chi2(truth, shifted, 1.2) > 10
    assert chi2(truth, counts, 1.2) - chi2(truth, counts) > 10
    # other draws, other truths
    t3, _, _ = draw_from_prior(data, cfg.sample.prior, upper, jax.random.PRNGKey(4))
    assert float(t3["fano"]) != float(truth["fano"])


@pytest.mark.slow
def test_quick_sbc_of_the_production_sampler_passes(layout):
    rec, rows = study(layout, "sbc")
    assert rec["sims_done"] == SIMS
    assert rec["errors"] == 0, rec["error_messages"]
    v = verdicts(rows)
    assert all(v.values()), v
    # each simulation records its warm-up restarts and retries, and the summary adds them
    for key in ("warmup_restarts", "retries"):
        assert rec[f"{key}_total"] == {"sum": sum(r[key] for r in rows), "sims_recorded": SIMS}
    # the data teach: the Fano factor's and the offset's posteriors are narrower than their
    # priors (else uniform ranks would prove little)
    q = rec["quantities"]
    assert q["fano"]["median_posterior_sd_over_prior_sd"] < 0.7
    assert q["offset[0]"]["median_posterior_sd_over_prior_sd"] < 0.3
    assert (layout[0] / "sbc" / "sbc.png").stat().st_size > 10_000


@pytest.mark.slow
def test_quick_sbc_fails_the_mis_specified_fit(layout):
    rec, rows = study(layout, "control", fano_shift=0.2)
    v = verdicts(rows)
    assert not all(v.values()), v
    assert not rec["uniform"]


@pytest.mark.slow
def test_quick_sbc_fails_a_broken_sampler(layout, monkeypatch):
    import bayes_vip.bayes.sampling as sampling

    real = sampling.sample_posterior

    def stale(data, **kw):  # the bug: the simulation's counts never reach the sampler
        kw["counts"] = None
        return real(data, **kw)

    monkeypatch.setattr(sampling, "sample_posterior", stale)
    _, rows = study(layout, "broken")
    v = verdicts(rows)
    assert not all(v.values()), v
