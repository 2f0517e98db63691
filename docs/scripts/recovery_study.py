"""Recovery study: check that the fit's errors describe its scatter on simulated cells.

Simulate one SDD cell many times, fit it back with the same response functions, and check
that (fit - truth) is distributed as the fit's covariance says.

For each seed: one SDD, one 60-day current-on batch, 800 expected PEP counts at 7746.73 eV
(about 700 k events); Poisson maximum likelihood of all 18 parameters (8 rates, noise,
Fano, tail fraction and slope, escape and shelf fractions, 4 continuum parameters) with
iminuit, ADC channel edges mapped to energy through the cell's true calibration. Prints
JSON: per-parameter pull mean and sd, and the covariance chi2 of (fit - truth), which
should follow chi2(18).

Run from the repository root:  python docs/scripts/recovery_study.py [--seeds 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

os.environ.setdefault("JAX_ENABLE_X64", "1")

import jax
import jax.numpy as jnp
import numpy as np
from iminuit import Minuit
from scipy import stats

from bayes_vip.io.provenance import record
from bayes_vip.physics import response
from bayes_vip.physics.lines import pep_signal
from bayes_vip.physics.spectrum import PARAM_NAMES
from bayes_vip.simulate.presets import MEASURED_2016_17, PeriodSpec, preset
from bayes_vip.simulate.simulator import simulate_campaign, spectrum_model

DAYS = 60.0
GROUPS = tuple(MEASURED_2016_17["rates"])
NAMES = [*GROUPS, "PEP", *PARAM_NAMES]
N_RATES = len(GROUPS) + 1
MODEL = spectrum_model((*GROUPS, pep_signal("ka1")))


def _unpack(x):
    p = dict(zip(PARAM_NAMES, x[N_RATES:], strict=True))
    p["rates"] = x[:N_RATES]
    return p


def _nll(x, counts, e_edges, live):
    mu = jnp.maximum(MODEL.expected_counts(e_edges, _unpack(x), live), 1e-300)
    return jnp.sum(mu - counts * jnp.log(mu))


_f, _g = jax.jit(_nll), jax.jit(jax.grad(_nll))


def one(seed: int) -> dict:
    pre = dataclasses.replace(
        preset("demo"), n_sdd=1, periods=(PeriodSpec("current-on", 100.0, DAYS, DAYS),)
    )
    sim = simulate_campaign(pre, rng=np.random.default_rng(seed), signal_counts=800.0)
    t = sim.truth
    live = DAYS * 86400.0
    e_edges = response.adc_to_energy(
        jnp.arange(pre.n_adc + 1.0), jnp.asarray(t["calibration"][0][0][0])
    )
    inside = (sim.adc >= 0) & (sim.adc < pre.n_adc)
    counts = jnp.asarray(np.bincount(sim.adc[inside], minlength=pre.n_adc).astype(float))
    truth = sim.true_parameters(0, 1)
    truth["PEP"] = t["signal_counts_realised"] / live
    x0 = np.array([truth[n] for n in NAMES]) * 1.03
    m = Minuit(
        lambda x: float(_f(jnp.asarray(x), counts, e_edges, live)),
        x0,
        grad=lambda x: np.asarray(_g(jnp.asarray(x), counts, e_edges, live)),
        name=NAMES,
    )
    m.errordef = Minuit.LIKELIHOOD
    m.migrad(ncall=20000)
    m.hesse()
    d = np.array([m.values[n] - truth[n] for n in NAMES])
    chi2 = float(d @ np.linalg.solve(np.array(m.covariance), d))
    return {
        "seed": seed,
        "valid": bool(m.valid),
        "chi2": chi2,
        "pulls": {n: float(v / m.errors[n]) for n, v in zip(NAMES, d, strict=True)},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first", type=int, default=20)
    args = ap.parse_args()
    runs = [one(s) for s in range(args.first, args.first + args.seeds)]
    ok = [r for r in runs if r["valid"]]
    chi2 = np.array([r["chi2"] for r in ok])
    pulls = {n: np.array([r["pulls"][n] for r in ok]) for n in NAMES}
    out = {
        "n_toys": len(runs),
        "n_valid": len(ok),
        "n_params": len(NAMES),
        "chi2_mean": float(chi2.mean()),
        "chi2_expected": len(NAMES),
        "chi2_ks_pvalue": float(stats.kstest(chi2, stats.chi2(len(NAMES)).cdf).pvalue),
        "pull_mean": {n: round(float(v.mean()), 3) for n, v in pulls.items()},
        "pull_sd": {n: round(float(v.std(ddof=1)), 3) for n, v in pulls.items()},
        "all_pulls_mean": float(np.mean([v.mean() for v in pulls.values()])),
        "all_pulls_sd": float(np.concatenate(list(pulls.values())).std(ddof=1)),
    }
    print(json.dumps(record(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
