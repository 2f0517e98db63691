"""Several runs in one hierarchical model: one beta^2/2, each run with its own nuisances.

``combine_data`` stacks the runs' ``BayesData`` into one, whose cells are all the runs'
cells. What each run keeps for itself, and what the runs share:

- **shared:** beta^2/2 (the physics under test) and the Fano factor of silicon (a property
  of the material, the same in every SDD; seed 002 sec. 3 fits one Fano factor to all
  SDDs). The line energies and ratios (xraydb) are constants of the model, the same for
  every run.
- **per run:** its periods and SDDs (their noise, line rates, continuum, energy scale or
  calibration), the spread of its SDDs' noise (``noise_tau``), its detectors' line shape
  (``tail_frac``, ``tail_beta``, ``shelf_frac``), its conversion factor from beta^2/2 to
  counts (current, time, D, mu, N_int: ``physics.conversion``) and its efficiency.
- **correlated:** the runs' efficiencies. A run's log efficiency is its nominal value plus
  an own part and, for runs whose manifests name the same ``efficiency.group``, a common
  part of size ``efficiency.shared_rel`` (``efficiency_layout``): the covariance of two such
  runs' log efficiencies is ``shared_rel_1 shared_rel_2``, and each run's variance is its
  ``rel_uncertainty`` squared, as for one run.

The (period, SDD) sites of the model (noise, line rates, continuum level) live on the pairs
that exist, a period and an SDD of the same run (``runs["pair_period"]``,
``runs["pair_sdd"]``), not on every combination of the runs' periods and SDDs.

The runs must be analysed alike: the same data level, line groups, signal line, N_int model,
bin width, prior set and line-position prior. Their bins may differ in number (the shorter
are padded with bins outside the likelihood).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_vip.bayes.model import BETA_UNIT, BayesData
from bayes_vip.errors import InputError

__all__ = [
    "RunEstimate",
    "combine_data",
    "combined_estimate",
    "efficiency_covariance",
    "efficiency_layout",
    "split_values",
]


def efficiency_layout(effs: list[Any]) -> dict[str, Any]:
    """The runs' efficiencies as the model samples them.

    ``effs``: each run's ``io.manifest.Efficiency``. Returns the nominal values and relative
    uncertainties, each run's own part ``eff_own = sqrt(rel^2 - shared_rel^2)`` and shared
    part ``eff_shared``, the index of its group (-1: none) and the groups' names.
    """
    groups = sorted({e.group for e in effs if e.group})
    rel = np.array([e.rel_uncertainty for e in effs], float)
    shared = np.array([e.shared_rel if e.group else 0.0 for e in effs], float)
    return {
        "efficiency": np.array([e.value for e in effs], float),
        "efficiency_rel": rel,
        "eff_own": np.sqrt(np.maximum(rel**2 - shared**2, 0.0)),
        "eff_shared": shared,
        "eff_group": np.array([groups.index(e.group) if e.group else -1 for e in effs], int),
        "groups": groups,
        "n_group": len(groups),
    }


def efficiency_covariance(layout: dict[str, Any]) -> np.ndarray:
    """Covariance of the runs' log efficiencies under ``efficiency_layout``'s parts."""
    g, sh = layout["eff_group"], layout["eff_shared"]
    same = (g[:, None] == g[None, :]) & (g[:, None] >= 0)
    cov = np.where(same, np.outer(sh, sh), 0.0)
    np.fill_diagonal(cov, layout["efficiency_rel"] ** 2)
    return cov


@dataclass(frozen=True)
class RunEstimate:
    """A run's classic estimate of beta^2/2 [1e-29] and its error, from its classic fit."""

    beta: float
    sigma: float

    @classmethod
    def of(cls, classic: dict[str, Any], counts_per_beta2half: float) -> RunEstimate:
        """From ``classic.json`` (N_X and sigma_N_X in counts) and the run's conversion."""
        k = counts_per_beta2half * BETA_UNIT
        return cls(float(classic["N_X"]) / k, float(classic["sigma_N_X"]) / k)


def combined_estimate(estimates: list[RunEstimate]) -> RunEstimate:
    """Inverse-variance mean of the runs' estimates: the joint fit's, where each is Gaussian.

    A starting point and the scale of the prior's bound; ``bayes-vip fit RUN1 RUN2`` gives
    the joint profile-likelihood fit (``analysis.combine``).
    """
    w = np.array([1.0 / e.sigma**2 for e in estimates])
    b = np.array([e.beta for e in estimates])
    return RunEstimate(float(np.sum(w * b) / np.sum(w)), float(1.0 / np.sqrt(np.sum(w))))


def _same(datas: list[BayesData], names: list[str], what: str, get) -> None:
    first = get(datas[0])
    for d, name in zip(datas[1:], names[1:], strict=True):
        if get(d) != first:
            msg = (
                f"run {name!r} differs from {names[0]!r} in its {what} ({get(d)!r} against "
                f"{first!r}); runs are combined only when analysed alike"
            )
            raise InputError(msg, field=what)


def _pad(a: np.ndarray, n: int, value: float) -> np.ndarray:
    """``a`` (cells, m) padded to (cells, n) with ``value``."""
    return np.pad(a, ((0, 0), (0, n - a.shape[1])), constant_values=value)


def _pad_edges(edges: np.ndarray, n: int) -> np.ndarray:
    """Bin edges (cells, m + 1) continued to (cells, n + 1) with each cell's last width."""
    extra = n + 1 - edges.shape[1]
    if extra <= 0:
        return edges
    w = edges[:, -1] - edges[:, -2]
    return np.concatenate([edges, edges[:, -1:] + w[:, None] * np.arange(1, extra + 1)], axis=1)


def combine_data(
    datas: list[BayesData], names: list[str], effs: list[Any], estimate: RunEstimate
) -> BayesData:
    """One ``BayesData`` of several runs (module docstring).

    ``datas``: the runs' data (``pipeline.sample.bayes_data``); ``names``: their names;
    ``effs``: their manifests' efficiencies; ``estimate``: the combined classic estimate of
    beta^2/2 (``combined_estimate``), the model's start and the scale of its prior's bound.
    """
    if len(datas) < 2:
        msg = "combine_data needs two runs or more"
        raise ValueError(msg)
    _same(datas, names, "level", lambda d: d.level)
    _same(datas, names, "line groups", lambda d: d.groups)
    _same(datas, names, "signal", lambda d: repr(d.signal))
    _same(datas, names, "n_int", lambda d: d.n_int_model)
    _same(datas, names, "sample.bin_eV", lambda d: d.bin_eV)
    _same(datas, names, "sample.priors", lambda d: d.prior["set"])
    _same(datas, names, "sample.line_sd_eV", lambda d: d.line_sd_eV)
    level = datas[0].level
    if level == "adc":
        _same(datas, names, "calibration lines", lambda d: repr(np.asarray(d.line_eV).tolist()))
    R = len(datas)
    n_bin = max(d.counts.shape[1] for d in datas)
    P_off = np.cumsum([0] + [d.n_period for d in datas])
    S_off = np.cumsum([0] + [d.n_sdd for d in datas])
    pair_off = np.cumsum([0] + [d.n_period * d.n_sdd for d in datas])
    pair_period, pair_sdd, cell_pair, signal_k = [], [], [], []
    for r, d in enumerate(datas):
        pp, ss = np.meshgrid(np.arange(d.n_period), np.arange(d.n_sdd), indexing="ij")
        pair_period.append(pp.ravel() + P_off[r])
        pair_sdd.append(ss.ravel() + S_off[r])
        cell_pair.append(pair_off[r] + d.period * d.n_sdd + d.sdd)
        signal_k.append(d.counts_per_beta2half * d.signal_share)
    layout = efficiency_layout(effs)
    cpb = np.array([d.counts_per_beta2half for d in datas], float)

    def cat(get, axis=0):
        return np.concatenate([np.asarray(get(d)) for d in datas], axis=axis)

    def per_pair(get):  # (P_r, S_r, ...) per run -> (n_pair, ...)
        return np.concatenate(
            [np.asarray(get(d)).reshape(d.n_period * d.n_sdd, *np.shape(get(d))[2:]) for d in datas]
        )

    def per_sdd(get):  # one value per run -> one per SDD
        return np.concatenate([np.full(d.n_sdd, get(d), float) for d in datas])

    def per_run(get):
        return np.array([get(d) for d in datas], float)

    K = float(cpb.sum())
    k_b = K * BETA_UNIT
    b0 = max(estimate.beta, 0.1 * estimate.sigma)
    init = {
        "noise_p": cat(lambda d: d.init["noise_p"]),
        "fano": float(np.mean(per_run(lambda d: d.init["fano"]))),
        "tail_frac": per_run(lambda d: d.init["tail_frac"]),
        "tail_beta": per_run(lambda d: d.init["tail_beta"]),
        "shelf_frac": per_run(lambda d: d.init["shelf_frac"]),
        "rate": per_pair(lambda d: d.init["rate"]),
        "level": per_pair(lambda d: d.init["level"]),
        "slope": per_sdd(lambda d: d.init["slope"]),
        "shift": per_sdd(lambda d: d.init["shift"]),
        # the combined estimate, in counts at the nominal efficiencies (sum over the runs)
        "N_X": b0 * k_b,
        "beta2half_1e29": b0,
        "sigma_N_X": estimate.sigma * k_b,
        "sigma_ref": per_sdd(lambda d: d.init["sigma_ref"]),
    }
    prior = {
        "set": datas[0].prior["set"],
        "fano": float(np.mean(per_run(lambda d: d.prior["fano"]))),
        "noise_p": cat(lambda d: d.prior["noise_p"]),
        "tail_beta": per_run(lambda d: d.prior["tail_beta"]),
        "shelf_frac": per_run(lambda d: d.prior["shelf_frac"]),
        "rate": per_pair(lambda d: d.prior["rate"]),
        "level": per_pair(lambda d: d.prior["level"]),
        "slope": per_sdd(lambda d: d.prior["slope"]),
        "slope_sd": per_sdd(lambda d: d.prior["slope_sd"]),
    }
    adc: dict[str, Any] = {}
    if level == "adc":
        K = len(np.atleast_1d(datas[0].line_eV)) if datas[0].line_eV is not None else 0

        def lines(d, name, fill):  # a run without usable calibration lines: none usable
            v = getattr(d, name)
            return np.full((d.n_cell, K), fill) if v is None else np.asarray(v)

        adc = {
            "p_std": cat(lambda d: d.p_std),
            "p_ref": cat(lambda d: d.p_ref),
            "line_adc": cat(lambda d: lines(d, "line_adc", 0.0)),
            "line_adc_err": cat(lambda d: lines(d, "line_adc_err", 1.0)),
            "line_eV": datas[0].line_eV,
            "line_ok": cat(lambda d: lines(d, "line_ok", False)).astype(bool),
        }
    runs = {
        **layout,
        "names": list(names),
        "counts_per_beta2half": cpb,
        "signal_k": np.concatenate(signal_k),
        "period_run": np.repeat(np.arange(R), [d.n_period for d in datas]),
        "sdd_run": np.repeat(np.arange(R), [d.n_sdd for d in datas]),
        "pair_period": np.concatenate(pair_period),
        "pair_sdd": np.concatenate(pair_sdd),
        "cell_pair": np.concatenate(cell_pair),
        "cells": [d.n_cell for d in datas],
    }
    return BayesData(
        level=level,
        edges=np.concatenate([_pad_edges(d.edges, n_bin) for d in datas]),
        counts=np.concatenate([_pad(d.counts, n_bin, 0.0) for d in datas]),
        mask=np.concatenate([_pad(d.mask, n_bin, False).astype(bool) for d in datas]),
        live_s=cat(lambda d: d.live_s),
        period=np.concatenate([d.period + P_off[r] for r, d in enumerate(datas)]),
        sdd=np.concatenate([d.sdd + S_off[r] for r, d in enumerate(datas)]),
        batch=cat(lambda d: d.batch),
        period_names=[
            f"{n}:{p}" for n, d in zip(names, datas, strict=True) for p in d.period_names
        ],
        sdd_ids=[s for d in datas for s in d.sdd_ids],
        current_A=cat(lambda d: d.current_A),
        groups=datas[0].groups,
        signal=datas[0].signal,
        counts_per_beta2half=K,
        efficiency=layout["efficiency"],
        efficiency_rel=layout["efficiency_rel"],
        n_int_model=datas[0].n_int_model,
        bin_eV=datas[0].bin_eV,
        init=init,
        prior=prior,
        line_sd_eV=datas[0].line_sd_eV,
        run=np.repeat(np.arange(R), [d.n_cell for d in datas]),
        run_names=list(names),
        runs=runs,
        **adc,
    )


def split_values(data: BayesData, values: dict[str, Any], r: int, one: BayesData) -> dict:
    """Run ``r``'s sites in its own one-run model, from the combined model's ``values``.

    ``values``: constrained sampled sites of the combined model (``data``); ``one``: the run's
    own ``BayesData``. Shared sites (beta^2/2, Fano) are copied; per-run sites are that run's
    slice (its periods, SDDs, pairs and cells); the efficiency is the run's
    ``exp(log nominal + own z + shared g)``. The one-run model at these values has the same
    likelihood as the run's part of the combined model: ``tests/bayes/test_combine.py``.
    """
    runs = data.runs
    P0 = int(np.sum(runs["period_run"] < r))
    S0 = int(np.sum(runs["sdd_run"] < r))
    pairs = np.flatnonzero(runs["period_run"][runs["pair_period"]] == r)
    P, S = one.n_period, one.n_sdd
    out: dict[str, Any] = {}
    for k, v in values.items():
        v = np.asarray(v)
        if k in ("beta2half_1e29", "fano", "line_z"):
            out[k] = v
        elif k in ("noise_tau", "tail_frac", "tail_beta", "shelf_frac"):
            out[k] = v[r]
        elif k == "noise_mu":
            out[k] = v[P0 : P0 + P]
        elif k in ("noise_z", "log_rate", "log_level"):
            out[k] = v[pairs].reshape(P, S, *v.shape[1:])
        elif k in ("offset", "offset_c", "gain", "slope", "cal_m0", "cal_m0c", "cal_m1", "cal_c2"):
            out[k] = v[S0 : S0 + S]
        elif k in ("cal_c0", "cal_c1"):
            out[k] = v[data.run == r]
    log_eff = np.log(runs["efficiency"][r]) + runs["eff_own"][r] * np.asarray(values["eff_z"])[r]
    if runs["eff_group"][r] >= 0:
        log_eff += runs["eff_shared"][r] * np.asarray(values["eff_g"])[runs["eff_group"][r]]
    out["efficiency"] = np.exp(log_eff)
    return out
