"""Fit the summed measured 2016-17 spectra to get the simulator's spectral parameters.

Poisson maximum likelihood of ``physics.spectrum.SpectrumModel`` (lines with the seed-002
response, Si escape peaks, shelf, continuum) on the sum of the six SDDs, 1-10 keV in 10 eV
bins, separately for current on and off. Prints JSON: rates are per SDD per second of
live time. ``bayes_vip/simulate/presets.py::MEASURED_2016_17`` holds the rounded means of
these numbers (noise kept separate for on and off).

Run from the repository root:  python docs/scripts/fit_measured_for_simulation.py
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("JAX_ENABLE_X64", "1")

import jax
import jax.numpy as jnp
import numpy as np
from iminuit import Minuit

from bayes_vip.io.campaign import edges, load_campaign
from bayes_vip.io.provenance import record
from bayes_vip.physics.spectrum import PARAM_NAMES
from bayes_vip.simulate.simulator import spectrum_model

GROUPS = ("Ti Ka", "Ti Kb", "Mn Ka", "Mn Kb", "Ni Ka", "Cu Ka", "Cu Kb")
LO, HI, REBIN = 1000, 10000, 10
START = {
    "noise": 40.0,
    "fano": 0.12,
    "tail_frac": 0.05,
    "tail_beta": 2.0,
    "escape_frac": 0.015,
    "shelf_frac": 0.02,
    "level": 5e-7,
    "slope": -0.02,
    "exp_level": 8e-6,
    "exp_len": 300.0,
}
LIMITS = {
    "noise": (1, 200),
    "fano": (0.01, 0.5),
    "tail_frac": (0, 0.5),
    "tail_beta": (0.1, 20),
    "escape_frac": (0, 0.2),
    "shelf_frac": (0, 0.3),
    "level": (0, None),
    "exp_level": (0, None),
    "exp_len": (10, 5000),
}


def fit_period(ds, period: str) -> dict:
    """Fit the six-SDD sum of one period; returns values, errors and fit quality."""
    e = edges(ds)
    sel = (e[:-1] >= LO) & (e[1:] <= HI)
    counts = ds["counts"].sel(period=period).sum(("sdd", "batch")).values[sel]
    counts = counts.reshape(-1, REBIN).sum(1).astype(float)
    ed = jnp.asarray(np.append(e[:-1][sel][::REBIN], HI))
    n_sdd = ds.sizes["sdd"]
    live = float(ds["time_s"].sel(period=period)) * n_sdd  # rates come out per SDD
    model = spectrum_model(GROUPS)
    names = [*GROUPS, *PARAM_NAMES]
    c = jnp.asarray(counts)

    def deviance(x):
        p = dict(zip(PARAM_NAMES, x[len(GROUPS) :], strict=True))
        p["rates"] = x[: len(GROUPS)]
        mu = jnp.maximum(model.expected_counts(ed, p, live), 1e-300)
        return 2 * jnp.sum(mu - c + c * jnp.log(jnp.where(c > 0, c / mu, 1.0)))

    f, g = jax.jit(deviance), jax.jit(jax.grad(deviance))
    total = counts.sum() / live
    x0 = [total * r for r in (0.65, 0.12, 0.12, 0.06, 2e-4, 4e-3, 6e-4)]
    x0 += [START[n] for n in PARAM_NAMES]
    m = Minuit(
        lambda x: float(f(jnp.asarray(x))),
        x0,
        grad=lambda x: np.asarray(g(jnp.asarray(x))),
        name=names,
    )
    m.errordef = Minuit.LEAST_SQUARES  # deviance: 1 unit = 1 sigma
    for n in GROUPS:
        m.limits[n] = (0, None)
    for n, lim in LIMITS.items():
        m.limits[n] = lim
    m.migrad(ncall=50000)
    m.hesse()
    return {
        "valid": bool(m.valid),
        "deviance": float(m.fval),
        "ndf": int(len(counts) - len(names)),
        "values": {n: float(m.values[n]) for n in names},
        "errors": {n: float(m.errors[n]) for n in names},
    }


def main() -> int:
    ds = load_campaign("runs/vip2-2016-17")
    out = {str(p): fit_period(ds, str(p)) for p in ds["period"].values}
    print(json.dumps(record(out), indent=1))
    return 0 if all(v["valid"] for v in out.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
