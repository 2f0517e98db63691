"""The hierarchical model's posterior: Laplace approximation, NUTS, limits and gates.

- ``Posterior``: the model of one data layout with the observed counts as an argument.
  ``laplace`` finds the posterior mode (L-BFGS from the classic solution) and the inverse
  Hessian there, with a square root of it that whitens the posterior.
- ``sample_posterior``: whitened NUTS (``bayes.nuts``) from overdispersed starts, extended
  until the gates pass or ``max_draws`` is reached; returns the InferenceData (posterior,
  sample_stats, observed_data, a thinned posterior_predictive), the limits and the
  sampler's record. Chains run in parallel when JAX has a device per chain.
- ``limits``: one-sided credible upper limits (posterior quantiles) with their Monte Carlo
  standard errors, diagnostics, gates and the Savage-Dickey Bayes factor.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayes_vip.analysis.conventions import CLS
from bayes_vip.bayes.checkpoint import Checkpoint, check_continuation
from bayes_vip.bayes.conditional import Conditionals, gibbs_counts
from bayes_vip.bayes.data import init_values
from bayes_vip.bayes.model import (
    BETA_UNIT,
    CENTROID_OFFSETS,
    NOISE_CENTRING,
    BayesData,
    centroid_coefficients,
    model_inputs,
    signal_prior,
    tail_centroid_shift,
    vip_model,
)
from bayes_vip.errors import AnalysisError, SamplingFailed

__all__ = [
    "GATES",
    "Posterior",
    "Sampled",
    "cell_sharding",
    "chain_method",
    "laplace",
    "limits",
    "sample_posterior",
    "savage_dickey",
    "savage_dickey_rb",
]

#: Sampler gates (DESIGN.md, "Quality gates").
#: ``limit_mcse_rel_max``: the Monte Carlo standard error of the 99.7 % limits (of beta^2/2
#: and of N_X) at most this fraction of the limit (issue 13).
GATES = {
    "r_hat_max": 1.01,
    "ess_bulk_min": 400.0,
    "ess_tail_min": 400.0,
    "divergences_max": 0,
    "limit_mcse_rel_max": 0.03,
}
#: How ``sample_posterior`` samples the SDD offsets: ``"laplace"`` follows the lines'
#: centroids with each SDD's slope on the tail's centroid shift, from the Laplace
#: approximation of the peak-offset posterior (``Posterior.centroid_slopes``): about 0.9 on
#: the measured run (short tail), where the whole shift (``model.CENTROID_OFFSETS``) gave
#: tail_frac's ESS 2200-2500 instead of 250-1900, and small where the tail is long and the
#: data fix the peaks (the demo), where the whole shift made a toy diverge. The same model
#: for every coefficient (docs/bayes.md, "Centroid offsets").
CENTROID_SHIFT = "laplace"
#: The limit whose MCSE is gated.
GATED_CL = 0.997


def chain_method(chains: int) -> str:
    """``"parallel"`` when JAX has a device per chain, else ``"sequential"``."""
    return "parallel" if jax.local_device_count() >= chains > 1 else "sequential"


def cell_sharding(n_cell: int, chains: int, devices: list | None = None) -> Any:
    """A sharding of the cell axis over the devices, when there are more devices than chains.

    The chains then run one after the other, each gradient spread over every device. None
    when there are not more devices than chains (the chains take a device each), or when
    the cells do not divide evenly over them.
    """
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devs = list(jax.local_devices() if devices is None else devices)
    if len(devs) <= chains or len(devs) < 2 or n_cell % len(devs):
        return None
    return NamedSharding(Mesh(np.array(devs), ("cells",)), PartitionSpec("cells"))


def _classic_start(data, prior, upper, centroid_offsets: Any = CENTROID_OFFSETS):
    """The classic starting point on the unconstrained space (a dict of sites).

    Raises named errors where a starting value is not finite or lies outside the prior;
    ``Posterior`` checks the log density and its gradient there.
    """
    from numpyro.infer.util import unconstrain_fn

    vals = init_values(data, prior, centroid_offsets=centroid_offsets)
    for name in ("beta2half_1e29", "N_X"):
        if name in vals and not 0.0 <= vals[name] < upper:
            msg = (
                f"the signal prior's upper bound {upper:g} excludes the classic estimate "
                f"({name} = {vals[name]:.3g}); raise it (sample.prior_upper)"
            )
            raise AnalysisError(msg)
    bad = [k for k, v in vals.items() if not np.all(np.isfinite(v))]
    if bad:
        msg = (
            f"the model's log density is not finite at the classic starting point "
            f"(non-finite start for {bad}; check classic.json)"
        )
        raise AnalysisError(msg)
    model = functools.partial(vip_model, data, prior, upper, centroid_offsets=centroid_offsets)
    # compiled: run op by op, the model's trace compiled ~700 small programs (28 s)
    to_z = jax.jit(lambda v: unconstrain_fn(model, (), {}, v))
    z0 = to_z({k: jnp.asarray(v) for k, v in vals.items()})
    bad = [k for k, v in z0.items() if not np.all(np.isfinite(np.asarray(v)))]
    if bad:
        msg = f"the classic starting point lies outside the prior's support for {bad}"
        raise AnalysisError(msg)
    return z0


#: The jitted functions of each layout, per thread (a Dask worker may run toys in threads,
#: and the chains' samplers hold state): ``_thread_programs``.
_PROGRAMS = threading.local()
#: Layouts kept per thread (the oldest is dropped first).
PROGRAMS_KEPT = 4


def _layout_key(post: Posterior, z0: dict) -> tuple:
    """What the compiled programs of ``post`` depend on besides ``model_inputs``.

    The layout (level, prior, prior set, line groups, cell indices, observed bins, usable
    calibration lines, site and input shapes, the cells' sharding, peak or centroid offsets)
    and the model's module constants (a test or a user may change them in a session). The
    physics modules' constants (the line kernel's) are not in it: changing one of those in a
    session needs a new process.
    """
    from bayes_vip.bayes import model as m

    data = post.data
    arrays = (
        data.period,
        data.sdd,
        data.batch,
        data.mask,
        data.line_ok,
        data.run,
        data.drift_block,
    )
    if data.run is not None:  # several runs: their layout (bayes.combine)
        arrays += tuple(
            np.asarray(data.runs[k])
            for k in ("pair_period", "pair_sdd", "cell_pair", "period_run", "sdd_run", "eff_group")
        )
    # the softplus map's bend is static (model.signal_prior)
    soft = (float(post.upper), repr(data.init.get("sigma_N_X")), float(data.counts_per_beta2half))
    soft = soft if m.SIGNAL_SOFTPLUS else None
    return (
        data.level,
        post.prior,
        # the external set truncates the slope's prior: another sampled coordinate
        m.slope_floor(data),
        centroid_coefficients(post.centroid, data.n_sdd) is None,
        repr(data.groups),
        repr(data.signal),
        tuple(None if a is None else (np.shape(a), np.asarray(a).tobytes()) for a in arrays),
        tuple((k, np.shape(v)) for k, v in sorted(z0.items())),
        tuple((k, np.shape(v)) for k, v in sorted(post._inputs.items())),
        post.cells,
        soft,
        m.SHELF_PRIOR_SD,
        m.NOISE_TAU_PRIOR,
        tuple(sorted(m.PRIOR_SCALES.items())),
        bool(jax.config.jax_enable_x64),
    )


def _thread_programs(key: tuple) -> dict:
    """The dict of jitted functions that every ``Posterior`` of a layout shares in a thread.

    ``key`` is the layout's (``_layout_key``). Empty for a layout this thread has not seen:
    ``Posterior._compile`` fills it. A toy of a layout seen before then traces and compiles
    nothing for its log density, gradient, constraining map, conditionals and chains; only
    its numbers differ (``model_inputs``). The least recently used layout is dropped first.
    """
    store = getattr(_PROGRAMS, "by_layout", None)
    if store is None:
        store = _PROGRAMS.by_layout = {}
    progs = store.pop(key, None)
    if progs is None:
        while len(store) >= PROGRAMS_KEPT:
            store.pop(next(iter(store)))
        progs = {"samplers": {}}
    store[key] = progs  # the most recent, last
    return progs


class Posterior:
    """The posterior of one data layout, compiled once per layout.

    Every compiled function takes the run's numbers and counts (``inputs``) as a traced
    argument, and posteriors of the same layout share them (``_thread_programs``): runs and
    simulated toys of one layout (cells, bins, lines) compile once. ``sample_posterior``
    takes a ``Posterior`` and its Laplace approximation too.
    """

    def __init__(
        self,
        data: BayesData,
        prior: str,
        upper: float,
        *,
        cells: Any = None,
        centroid_offsets: Any = CENTROID_OFFSETS,
    ):
        from jax.flatten_util import ravel_pytree

        self.data, self.prior, self.upper, self.cells = data, prior, upper, cells
        self.centroid = centroid_offsets
        z0 = _classic_start(data, prior, upper, centroid_offsets)
        self.flat0, self.unravel = ravel_pytree(z0)
        self.sites = tuple(sorted(z0))
        kw = {"cells": cells, "centroid_offsets": centroid_offsets}
        self.model = functools.partial(vip_model, data, prior, upper, **kw)
        # the run's numbers, a traced argument of every compiled function (model.model_inputs)
        self._inputs = {
            k: jnp.asarray(v) for k, v in model_inputs(data, upper, centroid_offsets).items()
        }
        self._key = _layout_key(self, z0)
        self._programs = _thread_programs(self._key)
        if "flat_pot" not in self._programs:
            self._compile(self._programs)
        progs = self._programs
        self._flat_pot, self._pot, self._vg = progs["flat_pot"], progs["pot"], progs["vg"]
        self._vg_nc, self._constrain, self._to_nc = (
            progs["vg_nc"],
            progs["constrain"],
            progs["to_nc"],
        )
        self._from_nc = functools.partial(self._recentre, c_from=0.0, c_to=NOISE_CENTRING)
        val, grad = self._vg_nc(self._to_nc(self.flat0), self.inputs())
        if not np.isfinite(float(val)):
            msg = (
                "the model's log density is not finite at the classic starting point "
                "(NaN in the expected counts)"
            )
            raise AnalysisError(msg)
        bad = [k for k, g in self.unravel(grad).items() if not np.all(np.isfinite(g))]
        if bad:
            msg = f"NaN in the model's gradient at the starting point, sites {bad}"
            raise AnalysisError(msg)

    @property
    def samplers(self) -> dict[tuple, Any]:
        """WhitenedNUTS instances by (chains, warm-up, target, parallel), of this thread.

        Their compiled kernels serve every run and toy of this layout (``sample_posterior``
        restarts them); they hold the chains' state, so each thread has its own, also for a
        ``Posterior`` that another thread built.
        """
        return _thread_programs(self._key)["samplers"]

    def _compile(self, progs: dict) -> None:
        """Jit the layout's functions into ``progs`` (``_thread_programs``)."""
        from numpyro.infer.util import constrain_fn, potential_energy

        data, prior, upper = self.data, self.prior, self.upper
        kw = {"cells": self.cells, "centroid_offsets": self.centroid}

        def flat_pot(flat, inputs):
            return potential_energy(self.model, (), {"inputs": inputs}, self.unravel(flat))

        def constrain(flat, inputs):  # (draws, n) unconstrained -> constrained sites
            return jax.vmap(
                lambda f: constrain_fn(
                    self.model, (), {"inputs": inputs}, self.unravel(f), return_deterministic=True
                )
            )(flat)

        # the same posterior with the noise sampled non-centred: its mode exists (in the
        # half-centred form the density grows without bound as noise_tau -> 0), so the
        # Laplace approximation is taken there and carried over by ``_recentre``
        model_nc = functools.partial(vip_model, data, prior, upper, noise_centring=0.0, **kw)

        def flat_pot_nc(flat, inputs):
            return potential_energy(model_nc, (), {"inputs": inputs}, self.unravel(flat))

        progs.update(
            flat_pot=flat_pot,
            pot=jax.jit(flat_pot),
            vg=jax.jit(jax.value_and_grad(flat_pot)),
            vg_nc=jax.jit(jax.value_and_grad(flat_pot_nc)),
            constrain=jax.jit(constrain),
            to_nc=jax.jit(functools.partial(self._recentre, c_from=NOISE_CENTRING, c_to=0.0)),
        )

    def centroid_slopes(self, lap: dict) -> np.ndarray:
        """Each SDD's regression slope of its offset on the tail's centroid shift.

        Under the Laplace approximation ``lap`` of this (peak-offset) posterior: the slope of
        each SDD offset on ``tail_frac * tail_beta * sigma_ref``, from the linearised
        covariance. About 1 where the data fix the lines' centroids (a short tail, the
        measured run: 0.9), about 0 where they fix the peaks; these are the coefficients
        with which the sampled offsets follow the centroids (``model.centroid_coefficients``)
        and the curved ridge between the offsets and ``tail_frac`` is taken out.
        """
        name = "offset" if self.data.level == "energy" else "cal_m0"
        if name not in self.sites:
            msg = "centroid slopes are taken on the peak-offset posterior"
            raise AnalysisError(msg)
        from numpyro.infer.util import constrain_fn

        ref = self.data.init["sigma_ref"]
        if self.data.run is not None:  # several runs: each SDD on its own run's shift
            x = {"sigma_ref": jnp.asarray(ref)}

            def feats_runs(f):
                v = constrain_fn(self.model, (), {"counts": None}, self.unravel(f))
                shift = tail_centroid_shift(self.data, v["tail_frac"], v["tail_beta"], x)
                return jnp.concatenate([v[name], shift])

            jac = np.asarray(jax.jit(jax.jacfwd(feats_runs))(jnp.asarray(lap["flat_map"])))
            cov = jac @ lap["cov"] @ jac.T
            S = self.data.n_sdd
            var = np.diag(cov)[S:]
            co = np.diag(cov[:S, S:])
            return np.where(var > 0, co / np.where(var > 0, var, 1.0), 0.0)

        def feats(f):
            v = constrain_fn(self.model, (), {"counts": None}, self.unravel(f))
            return jnp.concatenate([v[name], (v["tail_frac"] * v["tail_beta"] * ref)[None]])

        jac = np.asarray(jax.jit(jax.jacfwd(feats))(jnp.asarray(lap["flat_map"])))
        cov = jac @ lap["cov"] @ jac.T
        var = cov[-1, -1]
        return cov[:-1, -1] / var if var > 0 else np.zeros(len(cov) - 1)

    def carried_laplace(self, other: Posterior, lap: dict) -> dict:
        """``other``'s Laplace approximation ``lap`` in this posterior's coordinates.

        Both have the same data and model, and other offset coordinates. The two differ by a
        shear (offsets minus a multiple of a function of the tail parameters, Jacobian 1):
        the mode maps to the mode, and the square root of the covariance is multiplied by
        the map's Jacobian there, exactly. No second mode search.
        """
        from jax.flatten_util import ravel_pytree
        from numpyro.infer.util import constrain_fn, unconstrain_fn

        ref = self.data.init["sigma_ref"]
        mine = centroid_coefficients(self.centroid, self.data.n_sdd)
        theirs = centroid_coefficients(other.centroid, self.data.n_sdd)
        a_mine = 0.0 if mine is None else jnp.asarray(mine)
        a_theirs = 0.0 if theirs is None else jnp.asarray(theirs)

        def carry(f):
            v = dict(constrain_fn(other.model, (), {"counts": None}, other.unravel(f)))
            if self.data.run is None:
                shift = v["tail_frac"] * v["tail_beta"] * ref
            else:  # per SDD, its run's
                shift = tail_centroid_shift(
                    self.data, v["tail_frac"], v["tail_beta"], {"sigma_ref": jnp.asarray(ref)}
                )
            for peak, cen in (("offset", "offset_c"), ("cal_m0", "cal_m0c")):
                if peak in v or cen in v:
                    offs = v.pop(peak) if peak in v else v.pop(cen) + a_theirs * shift
                    if cen in self.sites:
                        v[cen] = offs - a_mine * shift
                    else:
                        v[peak] = offs
            z = unconstrain_fn(self.model, (), {"counts": None}, v)
            return ravel_pytree({k: z[k] for k in self.sites})[0]

        m = jnp.asarray(lap["flat_map"])
        value, jac = jax.jit(lambda f: (carry(f), jax.jacfwd(carry)(f)))(m)
        sqrt_cov = np.asarray(jac) @ lap["sqrt_cov"]
        return {
            **lap,
            "flat_map": np.asarray(value),
            "sqrt_cov": sqrt_cov,
            "cov": sqrt_cov @ sqrt_cov.T,
        }

    def _recentre(self, flat, *, c_from: float, c_to: float):
        """Unconstrained vector with ``noise_z`` moved from centring ``c_from`` to ``c_to``."""
        from jax.flatten_util import ravel_pytree

        z = dict(self.unravel(flat))
        if self.data.run is None:
            mu, tau = z["noise_mu"][:, None], jnp.exp(z["noise_tau"])
        else:  # several runs: noise_z lives on the (period, SDD) pairs (bayes.combine)
            pp = self.data.runs["pair_period"]
            mu = z["noise_mu"][pp]
            tau = jnp.exp(z["noise_tau"])[self.data.runs["period_run"][pp]]
        eps = (z["noise_z"] - c_from * mu) / tau**c_from
        z["noise_z"] = c_to * mu + tau**c_to * eps
        return ravel_pytree(z)[0]

    def inputs(self, counts=None) -> dict:
        """The compiled functions' traced argument: the run's numbers, with ``counts``.

        ``counts``: observed counts (n_cell, n_bin) (default: the data's), or an inputs dict
        already (its bound and centroid slopes are replaced by this posterior's own).
        """
        if isinstance(counts, dict):
            # the bound and the centroid slopes are this posterior's coordinates
            return {**counts, "upper": self._inputs["upper"], "alpha": self._inputs["alpha"]}
        c = self.data.counts if counts is None else counts
        return {**self._inputs, "counts": jnp.asarray(c, dtype=jnp.float64)}

    def laplace(
        self, counts=None, *, start=None, max_iter: int = 500, bfgs_iter: int = 2000
    ) -> dict:
        """Posterior mode and the inverse Hessian there: the Laplace approximation.

        The mode is found by L-BFGS (at most ``max_iter`` iterations) on the unconstrained
        space, from the classic start or ``start``, then by Newton steps on the Hessian, in
        the model's non-centred form (where the mode exists), and carried to the sampled
        coordinates. Where Newton does not converge from L-BFGS's end point, BFGS (at most
        ``bfgs_iter`` iterations) goes on from there, and Newton finishes again. The
        approximation whitens NUTS's coordinates and gives the chains' starting points.

        Returns ``flat_map`` (unconstrained, in the order of ``jax.flatten_util.ravel_pytree``),
        ``cov`` (inverse Hessian, same order), ``sqrt_cov`` (a square root of ``cov``), the
        optimiser's ``message``/``iterations``, the Newton steps, the potential at the mode
        and timings.
        """
        import scipy.optimize as so

        c = self.inputs(counts)

        def fun(f):
            v, g = self._vg_nc(jnp.asarray(f), c)
            v, g = float(v), np.asarray(g, dtype=float)
            if not (np.isfinite(v) and np.all(np.isfinite(g))):
                # outside the model's domain (an ADC calibration that maps a bin below
                # zero energy, say): an infinite potential makes the line search step back
                return np.inf, np.zeros_like(g)
            return v, g

        def hessian(x):
            # central differences of the compiled gradient: 2n gradient calls, no second
            # compilation (jax.hessian's took longer than the whole optimisation)
            n = len(x)
            h = 1e-5 * np.maximum(1.0, np.abs(x))
            hess = np.empty((n, n))
            for i in range(n):
                e = np.zeros(n)
                e[i] = h[i]
                hess[:, i] = (fun(x + e)[1] - fun(x - e)[1]) / (2.0 * h[i])
            if not np.all(np.isfinite(hess)):
                msg = "NaN in the model's Hessian at the posterior mode"
                raise AnalysisError(msg)
            w, v = np.linalg.eigh(0.5 * (hess + hess.T))
            # directions the data do not curve (or curve the wrong way at a bound): unit scale
            return np.where(w > 1e-8 * max(w.max(), 1.0), w, 1.0), v

        x0 = np.asarray(self._to_nc(jnp.asarray(self.flat0 if start is None else start)))
        t0 = time.perf_counter()
        f0 = fun(x0)[0]
        res = so.minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
        found = np.isfinite(res.fun) and res.fun <= f0
        x, f_map = (res.x, float(res.fun)) if found else (x0, f0)
        optimiser, message, iterations = "L-BFGS-B", str(res.message), int(res.nit)

        def newton(x, f_map):
            # L-BFGS crawls along the posterior's ridges (condition number ~1e7): finish with
            # Newton steps on the finite-difference Hessian (each 2n gradients), which the
            # Laplace approximation needs anyway
            w, v = hessian(x)
            for step in range(1, 11):
                g = fun(x)[1]
                dx = -(v / w) @ (v.T @ g)
                if float(-g @ dx) < 1e-6:  # Newton decrement^2: the mode, to 1e-6 in potential
                    return x, f_map, w, v, step, True
                for t in 0.5 ** np.arange(12):
                    f_new = fun(x + t * dx)[0]
                    if np.isfinite(f_new) and f_new < f_map:
                        x, f_map = x + t * dx, f_new
                        break
                else:
                    return x, f_map, w, v, step, False
                w, v = hessian(x)
            return x, f_map, w, v, step, False

        x_start = x
        x, f_map, w, v, steps, converged = newton(x, f_map)
        if not converged and x.size <= 4000:
            # L-BFGS-B stopped far from the mode, where Newton's quadratic model does not
            # hold either: its line search gives up where a long step leaves the model's
            # domain (vip2-2016 at ADC level: it stopped after 5 iterations, thousands above
            # the mode in potential, and ten Newton steps did not reach it).
            # BFGS, whose dense inverse-Hessian estimate follows the ridges, goes on from
            # the L-BFGS-B point; Newton then finishes again.
            res = so.minimize(fun, x_start, jac=True, method="BFGS", options={"maxiter": bfgs_iter})
            if np.isfinite(res.fun) and res.fun < f_map:  # Newton only ever lowered f_map
                x_b, f_b, w_b, v_b, steps_b, conv_b = newton(res.x, float(res.fun))
                if f_b < f_map:
                    x, f_map, w, v, steps, converged = x_b, f_b, w_b, v_b, steps_b, conv_b
                    optimiser, message = "L-BFGS-B, then BFGS", str(res.message)
                    iterations += int(res.nit)
        # to the sampled (half-centred) coordinates, linearised at the mode
        jac = np.asarray(jax.jacfwd(self._from_nc)(jnp.asarray(x)))
        sqrt_cov = jac @ (v / np.sqrt(w))
        return {
            "flat_map": np.asarray(self._from_nc(jnp.asarray(x))),
            "cov": sqrt_cov @ sqrt_cov.T,
            "sqrt_cov": sqrt_cov,  # sqrt_cov @ sqrt_cov.T = cov
            "message": message,
            "optimiser": optimiser,
            "iterations": iterations,
            "newton_steps": steps,
            "newton_converged": converged,
            "potential_at_map": f_map,  # of the non-centred form
            "seconds": {"total": time.perf_counter() - t0},
        }

    #: The ADC-level calibration corrections (``model.vip_model``): normal sites, so their
    #: unconstrained values are their values.
    CALIBRATION_SITES = ("cal_m0", "cal_m1", "cal_c2", "cal_c1", "cal_c0")

    def calibration_start(self, counts=None, start=None) -> np.ndarray:
        """``start`` (default: the classic start) with the calibration from its own lines.

        At ADC level, the calibration corrections that the calibration lines (``line_eV``
        in the inputs) and the corrections' priors make most probable, the spectra left out
        (the model without its ``obs`` site); every other site keeps its start. The lines'
        energies are linear in the corrections and their priors normal, so that potential
        is quadratic in them and a Newton step reaches its minimum (L-BFGS-B took about
        1000 iterations, the lines constraining some combinations 100 times better than
        the priors). A start for the Laplace step on data whose calibration is far from the
        reference's: the toys of a study share the reference's compiled posterior and
        start, while ``bayes-vip sample`` calibrates each run first (docs/bayes.md, "Stuck
        chains"). At energy level, or without calibration lines, ``start`` itself.
        """
        from jax.flatten_util import ravel_pytree
        from numpyro import handlers
        from numpyro.infer.util import potential_energy

        flat = np.asarray(self.flat0 if start is None else start, dtype=float)
        if self.data.level != "adc" or self.data.line_ok is None or not np.any(self.data.line_ok):
            return flat
        sites = self.unravel(jnp.asarray(flat))
        names = [k for k in self.CALIBRATION_SITES if k in sites]
        x0, unravel_cal = ravel_pytree({k: sites[k] for k in names})
        if "cal_start" not in self._programs:
            lines_only = handlers.block(self.model, hide=["obs"])

            def pot(x, rest, inputs):
                cal = unravel_cal(x)
                return potential_energy(lines_only, (), {"inputs": inputs}, {**rest, **cal})

            self._programs["cal_start"] = jax.jit(
                lambda x, rest, inputs: (
                    jax.grad(pot)(x, rest, inputs),
                    jax.hessian(pot)(x, rest, inputs),
                )
            )
        rest = {k: v for k, v in sites.items() if k not in names}
        grad, hess = (
            np.asarray(a, dtype=float)
            for a in self._programs["cal_start"](x0, rest, self.inputs(counts))
        )
        try:
            step = np.linalg.solve(0.5 * (hess + hess.T), grad)
        except np.linalg.LinAlgError:
            return flat
        if not (np.all(np.isfinite(step)) and float(grad @ step) > 0):  # not a descent
            return flat
        cal = unravel_cal(x0 - jnp.asarray(step))
        return np.asarray(ravel_pytree({**sites, **cal})[0])

    def laplace_idata(self, lap: dict, draws: int = 400, *, rng: np.random.Generator, counts=None):
        """Constrained draws from the Laplace approximation as an InferenceData with one chain.

        Deterministic sites are included. A quick look at the posterior, not a substitute for
        NUTS.
        """
        import arviz as az

        # the Laplace step's own square root of its covariance (no second factorisation)
        z = lap["flat_map"] + rng.standard_normal((draws, len(lap["flat_map"]))) @ lap["sqrt_cov"].T
        vals = self._constrain(jnp.asarray(z), self.inputs(counts))
        return az.from_dict(posterior={k: np.asarray(v)[None] for k, v in vals.items()})

    def constrained(self, flat: np.ndarray, counts=None, *, batch: int = 256) -> dict:
        """Constrained sites (deterministic ones included) of (k, n) unconstrained draws.

        Evaluated in batches of fixed size, so that any number of draws compiles once.
        """
        return _in_batches(self._constrain, flat, self.inputs(counts), batch)

    def rates(self, flat: np.ndarray, counts=None) -> np.ndarray:
        """Expected counts of the observed bins, (k, n_obs), for (k, n) unconstrained draws."""
        from numpyro import handlers
        from numpyro.infer.util import constrain_fn

        c = self.inputs(counts)
        if "rate" not in self._programs:

            def rate(f, inputs):
                sites = constrain_fn(self.model, (), {"inputs": inputs}, self.unravel(f))
                tr = handlers.trace(handlers.substitute(self.model, data=sites)).get_trace(
                    inputs=inputs
                )
                return tr["obs"]["fn"].rate

            self._programs["rate"] = jax.jit(jax.vmap(rate, in_axes=(0, None)))
        return np.asarray(self._programs["rate"](jnp.asarray(flat), c))

    def conditionals(self, flat: np.ndarray, counts=None, *, batch: int = 256):
        """The signal's conditional posterior of each of (k, n) unconstrained draws.

        Returns ``bayes.conditional.Conditionals`` with leading shape (k,): every draw's
        background and signal response in the observed bins (the expected counts are linear
        in the signal), tabulated as the exact conditional density of the PEP counts.
        """
        from bayes_vip.bayes.conditional import tabulate

        c = self.inputs(counts)
        if "split" not in self._programs:
            split = self._signal_split()
            self._programs["split"] = jax.jit(
                jax.vmap(lambda f, inputs: split(f, inputs)[:4], in_axes=(0, None))
            )
        m, s, kb, nmax = _in_batches(self._programs["split"], flat, c, batch)
        obs = np.asarray(c["counts"])[np.asarray(self.data.mask)]
        return tabulate(m, np.maximum(s, 0.0), obs, np.broadcast_to(nmax, (len(m),)), kb)

    @property
    def signal_site(self) -> str:
        """The sampled site of the signal: beta^2/2 (flat-beta) or the counts (flat-counts)."""
        return "beta2half_1e29" if self.prior == "flat-beta" else "N_X"

    def _signal_split(self):
        """``split(flat, inputs)``: one draw's expected counts, linear in the signal.

        Returns ``(m, s, k, n_max, n)``: the observed bins' expected counts without the
        signal (``m``) and per PEP count (``s``), the counts per unit of beta^2/2, the
        prior's bound in counts and the draw's own PEP counts.
        """
        from numpyro import handlers
        from numpyro.infer.util import constrain_fn

        site = self.signal_site

        def split(f, inputs):
            sites = constrain_fn(self.model, (), {"inputs": inputs}, self.unravel(f))

            def at(v):
                tr = handlers.trace(
                    handlers.substitute(self.model, data={**sites, site: v})
                ).get_trace(inputs=inputs)
                return tr["obs"]["fn"].rate, tr["N_X"]["value"], tr["beta2half_1e29"]["value"]

            mu0 = at(0.0)[0]
            mu1, n1, b1 = at(1.0)
            upper = inputs["upper"]
            if site == "N_X":  # one count: the response itself; k = counts per unit b
                return mu0, mu1 - mu0, 1.0 / b1, upper, sites[site]
            return mu0, (mu1 - mu0) / n1, n1, upper * n1, sites[site] * n1

        return split

    def signal_gibbs(self) -> tuple[int, Any]:
        """A Gibbs update of the signal for the sampler (``WhitenedNUTS(refresh=...)``).

        Returns ``(index, refresh)``: the signal's position in the flat unconstrained vector,
        and ``refresh(flat, key, inputs) -> (flat', accepted)``, which draws the signal anew
        from its exact conditional given every other latent (``conditional.gibbs_counts``)
        and writes it back through the site's own map to the unconstrained line. Every other
        coordinate is unchanged. Traceable.
        """
        from jax.flatten_util import ravel_pytree
        from numpyro.distributions.transforms import biject_to

        site = self.signal_site
        mark = {k: np.zeros(np.shape(v)) for k, v in self.unravel(self.flat0).items()}
        mark[site] = np.ones(np.shape(mark[site]))
        index = int(np.argmax(np.asarray(ravel_pytree(mark)[0])))
        split = self._signal_split()
        mask = np.asarray(self.data.mask)

        def refresh(flat, key, inputs):
            m, s, k, n_max, n_now = split(flat, inputs)
            obs = jnp.asarray(inputs["counts"])[mask]
            n_new, acc = gibbs_counts(key, m, jnp.maximum(s, 0.0), obs, n_max, n_now)
            value = n_new / k if site == "beta2half_1e29" else n_new
            prior = signal_prior(self.data, self.prior, self.upper, inputs["upper"])
            y = biject_to(prior.support).inv(value)
            return flat.at[index].set(y), acc

        return index, refresh


def _in_batches(fn: Any, flat: np.ndarray, counts: Any, batch: int) -> Any:
    """``fn(draws, counts)`` of (k, n) draws, in batches of fixed size.

    One compilation for any k: the last batch is padded with the last draw, and the joined
    results are cut back to k.
    """
    flat = np.asarray(flat, dtype=float)
    k = flat.shape[0]
    pad = (-k) % batch
    full = np.concatenate([flat, np.repeat(flat[-1:], pad, axis=0)]) if pad else flat
    parts = [fn(jnp.asarray(full[i : i + batch]), counts) for i in range(0, len(full), batch)]
    return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs])[:k], *parts)


@dataclass
class Sampled:
    """A finished run of the sampler: the InferenceData, the limits and how they were made."""

    idata: Any
    limits: dict
    info: dict
    cond: Any = None  # the signal's conditionals of the draws (bayes.conditional)


#: R-hat above which the chains are apart: ``sample`` stops rather than extends them.
R_HAT_APART = 2.0


def _extension(lim: dict, draws: int, max_draws: int, chunk: int) -> int:
    """How many more draws per chain the failed gates need (0: more draws will not help).

    Divergences do not go away with more draws, nor does an R-hat above ``R_HAT_APART``:
    chains that started overdispersed and have not met after warm-up and their draws are
    stuck or in different modes (vip2-2016 at ADC level: R-hat 4.5 after 1000 draws, and
    the extension to 4000 would have taken hours). ESS and MCSE grow like the draws and the
    square root of the draws; R-hat's excess shrinks about like 1/draws. The estimate is
    raised by 20 % and to whole chunks, and capped at ``max_draws``.
    """
    d = lim["diagnostics"]
    if d["divergences"] > GATES["divergences_max"] or draws >= max_draws:
        return 0
    if d["r_hat_max"] > R_HAT_APART:
        return 0
    factor = 1.0
    factor = max(factor, GATES["ess_bulk_min"] / max(d["ess_bulk_min"], 1.0))
    factor = max(factor, GATES["ess_tail_min"] / max(d["ess_tail_min"], 1.0))
    factor = max(factor, (d["r_hat_max"] - 1.0) / (GATES["r_hat_max"] - 1.0))
    factor = max(factor, (d["limit_mcse_rel_max"] / GATES["limit_mcse_rel_max"]) ** 2)
    factor = min(factor, 1e6)  # an MCSE not yet established (inf): as many as allowed
    more = max(chunk, math.ceil(draws * (1.2 * factor - 1.0) / chunk) * chunk)
    return min(more, max_draws - draws)


#: The target acceptance of the one retry after divergent transitions (``sample_posterior``):
#: a smaller step for the stiff noise, Fano and slope region where the rare post-warm-up
#: divergences arise (docs/bayes.md, "The signal's coordinate").
DIVERGENCE_RETRY_TARGET = 0.99

#: After every NUTS transition, draw the signal anew from its exact conditional given the
#: other latents (``Posterior.signal_gibbs``, a Metropolis-within-Gibbs step; docs/bayes.md,
#: "A Gibbs step for the signal").
GIBBS_SIGNAL = False


def _retry_divergent(lim: dict, target_accept: float) -> bool:
    """Whether a run whose gates failed on divergent transitions is run again.

    Once, at ``DIVERGENCE_RETRY_TARGET``, when the first run's target was below it.
    """
    d = lim["diagnostics"]
    return (
        not lim["gates"]["passed"]
        and d["divergences"] > GATES["divergences_max"]
        and target_accept < DIVERGENCE_RETRY_TARGET
    )


def sample_posterior(
    data: BayesData,
    *,
    prior: str = "flat-beta",
    upper: float = 50.0,
    chains: int = 4,
    warmup: int = 300,
    samples: int = 1000,
    max_draws: int | None = None,
    key: jax.Array,
    rng: np.random.Generator,
    counts=None,
    post: Posterior | None = None,
    lap: dict | None = None,
    method: str | None = None,
    target_accept: float = 0.95,
    progress: Any = None,
    predictive_draws: int = 100,
    centroid: Any = CENTROID_SHIFT,
    checkpoint: Checkpoint | None = None,
    resume: bool = False,
    extend: int = 0,
    start: np.ndarray | None = None,
) -> Sampled:
    """Laplace, then whitened NUTS (``bayes.nuts``), extended until the gates pass.

    ``key`` drives the chains and the posterior predictive, ``rng`` their starting points.
    After ``samples`` draws per chain the gates are checked (``limits``); while one fails
    that more draws can fix (R-hat, ESS, the limits' MCSE), the chains go on from where they
    stopped, up to ``max_draws`` per chain (default ``samples``: no extension). A run that
    then fails on divergent transitions, which more draws do not remove, is run once more
    from new starts at ``DIVERGENCE_RETRY_TARGET`` (``info["retries"]`` records the dropped
    run; its gradients count in ``info["gradients"]``). ``progress``
    is called as ``progress(done, total, info)`` with iterations per chain; ``info`` is a
    mapping (``pipeline.progress``): the phase, the chains, the divergences so far and the
    step size (``nuts.WhitenedNUTS._report``), and a retry's target acceptance. ``post`` and
    ``lap`` reuse a compiled posterior and its Laplace approximation (toys of one layout).
    ``predictive_draws``: draws per chain of the thinned posterior predictive (0: none).
    ``centroid``: how the SDD offsets are sampled when ``post`` is not given (``CENTROID_SHIFT``;
    ``"laplace"``, or a ``model.centroid_coefficients`` value). ``start``: where the Laplace
    step's mode search starts (flat, sampled coordinates; default the classic start).

    ``checkpoint`` (``bayes.checkpoint``): the sampler is saved there at the end of every
    warm-up phase and every ``checkpoint.every`` draws per chain, and when it has finished.
    ``resume``: continue an unfinished run from it; ``extend``: add that many draws per chain
    to a finished one (no further extension, no retry). Either gives the same draws as a run
    that was never stopped, or that drew the extra draws at once.
    """
    from bayes_vip.bayes.nuts import WhitenedNUTS

    t0 = time.perf_counter()
    sharding = cell_sharding(data.n_cell, chains) if post is None else post.cells
    if post is None and centroid == "laplace" and lap is None:
        # the peak-offset posterior's Laplace approximation gives each SDD's slope on the
        # tail's centroid shift; the sampled posterior follows the centroids with them
        plain = Posterior(data, prior, upper, cells=sharding)
        lap0 = plain.laplace(counts)
        slopes = plain.centroid_slopes(lap0)
        post = Posterior(data, prior, upper, cells=sharding, centroid_offsets=slopes)
        lap = post.carried_laplace(plain, lap0)
    elif post is None:
        # a Laplace approximation given without its posterior is the peak offsets' one
        coords = False if centroid == "laplace" else centroid
        post = Posterior(data, prior, upper, cells=sharding, centroid_offsets=coords)
    c = post.inputs(counts)
    lap = lap or post.laplace(c, start=start)
    t_lap = time.perf_counter() - t0
    max_draws = samples if max_draws is None else max(max_draws, samples)
    method = method or ("sequential" if sharding is not None else chain_method(chains))

    def report(done, total, info):
        if progress:
            retry = f"again at target acceptance {DIVERGENCE_RETRY_TARGET:g}" if retried else ""
            progress(done, total, {**info, "retry": retry} if retry else info)

    retried: list[dict] = []
    restored = None
    if checkpoint is not None and (resume or extend):
        restored = checkpoint.load()
        meta = restored[1]
        check_continuation(meta, checkpoint.path, resume=resume, extend=extend)
        if extend:
            meta["target"] = int(meta["draws"]) + extend
            max_draws = meta["target"]
        rng.bit_generator.state = meta["rng"]
        retried = list(meta["retried"])

    def run(target: float, run_key: jax.Array, run_rng: np.random.Generator, restored=None):
        """Warm-up, draws and extensions at target acceptance ``target``."""
        spec = (chains, warmup, target, method == "parallel", GIBBS_SIGNAL)
        if spec not in post.samplers:  # compiled once per layout and settings
            post.samplers[spec] = WhitenedNUTS(
                post,
                chains=chains,
                warmup=warmup,
                target_accept=target,
                parallel=spec[3],
                refresh=post.signal_gibbs() if GIBBS_SIGNAL else None,
            )
        sampler = post.samplers[spec]
        extensions: list[dict] = [] if restored is None else list(restored[1]["extensions"])
        sampler.checkpoint = None
        if checkpoint is not None:
            sampler.checkpoint_every = checkpoint.every

            def save(arrays, meta):
                book = {"target_accept": target, "extensions": extensions, "retried": retried}
                checkpoint.save(arrays, {**meta, **book, "rng": rng.bit_generator.state})

            sampler.checkpoint = save
        try:
            if restored is None:
                sampler.start(lap, c, key=run_key, rng=run_rng, samples=samples, progress=report)
            else:
                sampler.restore(lap, c, *restored, progress=report)
        except SamplingFailed as exc:
            # the whitening comes from the Laplace step: say whether it found the mode
            found = "found" if lap.get("newton_converged") else "did not find"
            msg = f"{exc}; the Laplace step {found} the posterior mode ({lap.get('optimiser')})"
            raise SamplingFailed(msg) from exc
        blocks: list = []  # the signal's conditionals of the draws so far (Rao-Blackwell)
        t_cond = 0.0
        while True:
            flat = sampler.flat_draws()
            idata = _idata(post, sampler, flat, c)
            t_c = time.perf_counter()
            done = sum(b.lo.shape[1] for b in blocks)
            new = flat[:, done:]
            blocks.append(
                post.conditionals(new.reshape(-1, new.shape[-1]), c).reshape(*new.shape[:2])
            )
            cond = Conditionals.concat(blocks)
            t_cond += time.perf_counter() - t_c
            lim = limits(idata, data, prior, upper, cond)
            more = (
                0
                if lim["gates"]["passed"]
                else _extension(lim, sampler.chains_drawn.draws, max_draws, sampler.chunk)
            )
            if not more:
                return sampler, flat, idata, cond, lim, extensions, t_cond
            extensions.append(
                {
                    "after_draws": sampler.chains_drawn.draws,
                    "more": more,
                    "failed": lim["gates"]["failed"],
                }
            )
            sampler.extend(more)

    t1 = time.perf_counter()
    if restored is not None and restored[1]["target_accept"] != target_accept:
        # the checkpoint was made in the retry: the first run's draws were dropped already
        target_accept = restored[1]["target_accept"]
        out = run(target_accept, jax.random.fold_in(key, 2), rng, restored)
    else:
        out = run(target_accept, key, rng, restored)
    sampler, flat, idata, cond, lim, extensions, t_cond = out
    if not extend and _retry_divergent(lim, target_accept):
        # divergences do not go away with more draws: the chains start again, with a
        # smaller step (a higher target acceptance), and the first run's draws are dropped
        retried.append(
            {
                "target_accept": target_accept,
                "draws_per_chain": sampler.chains_drawn.draws,
                "gradients": sampler.chains_drawn.gradients,
                "failed": lim["gates"]["failed"],
            }
        )
        target_accept = DIVERGENCE_RETRY_TARGET
        retry_rng = np.random.default_rng(rng.integers(2**63))
        sampler, flat, idata, cond, lim, extensions, t_cond = run(
            target_accept, jax.random.fold_in(key, 2), retry_rng
        )
    t_nuts = time.perf_counter() - t1
    if sampler.checkpoint is not None:
        sampler.save_finished()
    t2 = time.perf_counter()
    if predictive_draws > 0:
        key_pp = jax.random.fold_in(key, 1)
        _add_predictive(idata, post, flat, c, key=key_pp, draws=predictive_draws)
    ch = sampler.chains_drawn
    alpha = centroid_coefficients(post.centroid, data.n_sdd)
    info = {
        "sampler": "whitened NUTS (Laplace coordinates, re-whitened from pooled warm-up draws)",
        "chain_method": method,
        "cells_sharded_over": 0 if sharding is None else len(sharding.device_set),
        "centroid_coefficients": None if alpha is None else [float(a) for a in alpha],
        "laplace": {k: lap[k] for k in LAPLACE_REPORTED if k in lap},
        "parameters": len(lap["flat_map"]),
        # the dropped run's gradients count: they were paid for
        "gradients": ch.gradients + sum(r["gradients"] for r in retried),
        "warmup_gradients": ch.warmup_steps,
        "target_accept": target_accept,
        "retries": retried,
        "warmup_divergences": ch.warmup_divergences,
        "warmup_restarts": ch.warmup_restarts,
        "step_size": [float(x) for x in sampler.step_size()],
        "draws_per_chain": ch.draws,
        "max_draws": max_draws,
        "extensions": extensions,
        "resumed": None
        if restored is None
        else {
            "stage": restored[1]["stage"],
            "phase": restored[1].get("phase"),
            "draws": int(restored[1]["draws"]),
            "extended_by": extend,
        },
        "seconds": {
            "laplace": t_lap,
            "nuts": t_nuts,
            "warmup": ch.seconds.get("warmup", 0.0),
            "posterior_predictive": time.perf_counter() - t2,
            "conditionals": t_cond,
        },
    }
    ess = lim["diagnostics"]["ess_bulk_beta2half"]
    info["gradients_per_effective_draw"] = info["gradients"] / ess if ess > 0 else float("inf")
    return Sampled(idata, lim, info, cond)


LAPLACE_REPORTED = (
    "optimiser",
    "message",
    "iterations",
    "newton_steps",
    "newton_converged",
    "potential_at_map",
    "seconds",
)


def _idata(post: Posterior, sampler, flat: np.ndarray, counts) -> Any:
    """InferenceData of the draws so far (posterior, sample_stats, observed_data)."""
    import arviz as az

    chains, draws, n = flat.shape
    vals = post.constrained(flat.reshape(-1, n), counts)
    nonfinite = [k for k, v in vals.items() if not np.all(np.isfinite(v))]
    if nonfinite:
        msg = f"NaN produced in the model while sampling, at sites {nonfinite}"
        raise AnalysisError(msg)
    ch = sampler.chains_drawn
    mask = np.asarray(post.data.mask)
    return az.from_dict(
        posterior={k: v.reshape(chains, draws, *v.shape[1:]) for k, v in vals.items()},
        sample_stats={
            "diverging": ch.stacked("diverging").astype(bool),
            "n_steps": ch.stacked("num_steps"),
            "lp": -ch.stacked("potential"),
        },
        observed_data={"obs": np.asarray(post.inputs(counts)["counts"])[mask]},
    )


def _add_predictive(idata, post: Posterior, flat, counts, *, key: jax.Array, draws: int):
    """A thinned posterior predictive of the observed bins (Poisson draws around each rate)."""
    chains, n_draw, n = flat.shape
    step = max(1, n_draw // draws)
    thin = flat[:, ::step]
    rates = post.rates(thin.reshape(-1, n), counts)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
    pp = rng.poisson(rates).reshape(chains, thin.shape[1], -1)
    idata.add_groups(posterior_predictive={"obs": pp}, dims={"obs": ["obs_dim_0"]})
    idata.posterior_predictive.attrs["thinned_every"] = step


def laplace(data: BayesData, prior: str, upper: float) -> dict:
    """The Laplace approximation of ``data``'s posterior (see ``Posterior.laplace``)."""
    return Posterior(data, prior, upper).laplace()


def savage_dickey(x: np.ndarray, prior_density_at_zero: float) -> dict:
    """Savage-Dickey Bayes factor of no signal (x = 0) against signal.

    The ratio of the posterior density at the boundary x = 0 (reflected Gaussian KDE,
    Silverman bandwidth) to the prior's.
    """
    x = np.asarray(x, dtype=float).ravel()
    refl = np.concatenate([x, -x])
    h = 1.06 * refl.std() * refl.size ** (-0.2)
    dens0 = float(2.0 * np.mean(np.exp(-0.5 * (x / h) ** 2)) / (h * math.sqrt(2 * math.pi)))
    bf01 = dens0 / prior_density_at_zero
    return {
        "posterior_density_at_0": dens0,
        "prior_density_at_0": prior_density_at_zero,
        "BF_01_no_signal_vs_signal": bf01,
        "BF_10_signal_vs_no_signal": (1.0 / bf01) if bf01 > 0 else float("inf"),
        "bandwidth": h,
        "method": "Savage-Dickey; posterior density at 0 from a reflected Gaussian KDE",
    }


def _mcse_of_mean(g: np.ndarray) -> float:
    """Monte Carlo standard error of the mean of a per-draw series ``g`` (chains, draws).

    ``sd(g) / sqrt(ESS)``, with ArviZ's ESS of the mean; 0 where every draw gives the same
    value (no Monte Carlo error).
    """
    import arviz as az

    sd = float(g.std(ddof=1))
    return 0.0 if sd == 0.0 else sd / math.sqrt(float(az.ess(g, method="mean")))


def _rb_limit(cond, q: float, beta: bool) -> tuple[float, float]:
    """Rao-Blackwellised ``q`` limit and its MCSE (delta method through the mean CDF).

    ``cond`` has leading shape (chains, draws); beta^2/2 in the model's unit when ``beta``.
    """
    x = cond.quantile(q, beta=beta)
    mcse_cdf = _mcse_of_mean(cond.cdf(x, beta=beta))
    dens = float(np.mean(cond.pdf(x, beta=beta)))
    if mcse_cdf == 0.0:
        return x, 0.0
    return x, mcse_cdf / dens if dens > 0 else float("inf")


def limits(idata, data: BayesData, prior: str, upper: float, cond: Any = None) -> dict:
    """Credible upper limits, diagnostics, gates and the Bayes factor.

    With ``cond`` (``bayes.conditional.Conditionals`` of the same draws, leading shape
    (chains, draws)), the limits are the Rao-Blackwellised quantiles and the Bayes factor
    takes the averaged conditional density at zero; the plain sample quantiles are kept
    beside them (``"sample_quantile"``). Without it, the sample quantiles are the limits.
    """
    import arviz as az

    post = idata.posterior
    out: dict = {"prior": prior, "prior_upper": upper, "n_int_model": data.n_int_model}
    out["limit_estimator"] = (
        "Rao-Blackwellised: quantile of the mean of every draw's exact conditional CDF of "
        "the signal"
        if cond is not None
        else "sample quantile of the draws"
    )
    ul = {}
    for var, scale, label in (("beta2half_1e29", BETA_UNIT, "beta2half"), ("N_X", 1.0, "N_X")):
        x = post[var].values
        ul[label] = {}
        for q in CLS:
            val = float(np.quantile(x, q)) * scale
            mcse = float(az.mcse(post[[var]], method="quantile", prob=q)[var].values) * scale
            sample_q = {"value": val, "mcse": mcse}
            if cond is None:
                ul[label][f"{q:.3g}"] = sample_q
                continue
            rb, rb_mcse = _rb_limit(cond, q, beta=label == "beta2half")
            ul[label][f"{q:.3g}"] = {
                "value": rb * scale,
                "mcse": rb_mcse * scale,
                "sample_quantile": sample_q,
            }
        ul[label]["mean"] = float(x.mean()) * scale
        ul[label]["median"] = float(np.median(x)) * scale
        ul[label]["central_90"] = [
            float(np.quantile(x, 0.05)) * scale,
            float(np.quantile(x, 0.95)) * scale,
        ]
    out["upper_limits"] = ul
    sampled = [
        v
        for v in post.data_vars
        if v != "noise"  # deterministic
        and v != ("N_X" if prior == "flat-beta" else "beta2half_1e29")
        and not (v == "efficiency" and "eff_z" in post)  # several runs: from eff_z, eff_g
    ]
    rhat = az.rhat(post[sampled])
    ess_b = az.ess(post[sampled], method="bulk")
    ess_t = az.ess(post[sampled], method="tail")

    def extreme(ds, fn):
        vals = {k: float(fn(ds[k].values)) for k in ds.data_vars}
        k = (max if fn is np.nanmax else min)(vals, key=vals.get)
        return vals[k], k

    r_max, r_site = extreme(rhat, np.nanmax)
    eb, eb_site = extreme(ess_b, np.nanmin)
    et, et_site = extreme(ess_t, np.nanmin)
    div = int(idata.sample_stats["diverging"].values.sum())
    gated = {lab: ul[lab][f"{GATED_CL:.3g}"] for lab in ("beta2half", "N_X")}
    rel = {
        lab: (g["mcse"] / g["value"] if g["value"] > 0 else float("inf"))
        for lab, g in gated.items()
    }
    mcse_site = max(rel, key=rel.get)
    mcse_rel = rel[mcse_site]
    n_beyond = post.sizes["chain"] * post.sizes["draw"] * (1.0 - GATED_CL)
    if n_beyond < 10:
        # fewer than 10 draws expected beyond the limit: its MCSE estimate means nothing (it
        # passed at 2 x 20 draws); the gate fails until there are enough. The same holds
        # for the Rao-Blackwellised limit: its standard error rests on the ESS of the
        # conditional CDFs, which a handful of draws does not establish
        mcse_rel = float("inf")
    diag = {
        "r_hat_max": r_max,
        "r_hat_max_site": r_site,
        "ess_bulk_min": eb,
        "ess_bulk_min_site": eb_site,
        "ess_tail_min": et,
        "ess_tail_min_site": et_site,
        "divergences": div,
        "limit_mcse_rel_max": mcse_rel,
        "limit_mcse_rel_max_site": mcse_site,
        "chains": int(post.sizes["chain"]),
        "draws": int(post.sizes["draw"]),
        "ess_bulk_beta2half": float(ess_b["beta2half_1e29"])
        if "beta2half_1e29" in ess_b
        else float(az.ess(post[["beta2half_1e29"]], method="bulk")["beta2half_1e29"].values),
    }
    failed = []
    if not r_max <= GATES["r_hat_max"]:
        failed.append(f"R-hat {r_max:.4f} > {GATES['r_hat_max']} ({r_site})")
    if not eb >= GATES["ess_bulk_min"]:
        failed.append(f"bulk ESS {eb:.0f} < {GATES['ess_bulk_min']:.0f} ({eb_site})")
    if not et >= GATES["ess_tail_min"]:
        failed.append(f"tail ESS {et:.0f} < {GATES['ess_tail_min']:.0f} ({et_site})")
    if div > GATES["divergences_max"]:
        failed.append(f"{div} divergent transitions")
    if not np.isfinite(mcse_rel):
        failed.append(
            f"MCSE of the {100 * GATED_CL:g} % limit not established: "
            f"{n_beyond:.1f} draws expected beyond it (10 needed)"
        )
    elif not mcse_rel <= GATES["limit_mcse_rel_max"]:
        failed.append(
            f"MCSE of the {100 * GATED_CL:g} % limit {100 * mcse_rel:.1f} % of its value > "
            f"{100 * GATES['limit_mcse_rel_max']:g} % ({mcse_site})"
        )
    out["diagnostics"] = diag
    out["gates"] = {"thresholds": GATES, "passed": not failed, "failed": failed}
    var = "beta2half_1e29" if prior == "flat-beta" else "N_X"
    if cond is None:
        out["bayes_factor"] = savage_dickey(post[var].values, 1.0 / upper)
    else:
        out["bayes_factor"] = savage_dickey_rb(cond, 1.0 / upper, beta=var == "beta2half_1e29")
    out["bayes_factor"]["variable"] = var
    return out


def savage_dickey_rb(cond: Any, prior_density_at_zero: float, *, beta: bool) -> dict:
    """Savage-Dickey Bayes factor from the averaged conditional density at zero.

    ``cond``: ``bayes.conditional.Conditionals`` (chains, draws). The posterior density of
    the signal at 0 is the mean of every draw's exact conditional density there (in units of
    the sampled variable: beta^2/2 in the model's unit when ``beta``, else counts), with its
    Monte Carlo standard error from the ESS of that series; the Bayes factor's MCSE follows.
    """
    f0 = cond.pdf(0.0, beta=beta)
    dens0 = float(f0.mean())
    mcse = _mcse_of_mean(f0)
    bf01 = dens0 / prior_density_at_zero
    return {
        "posterior_density_at_0": dens0,
        "posterior_density_at_0_mcse": mcse,
        "prior_density_at_0": prior_density_at_zero,
        "BF_01_no_signal_vs_signal": bf01,
        "BF_01_mcse": mcse / prior_density_at_zero,
        "BF_10_signal_vs_no_signal": (1.0 / bf01) if bf01 > 0 else float("inf"),
        "method": "Savage-Dickey; posterior density at 0 averaged over every draw's exact "
        "conditional density of the signal (Rao-Blackwell)",
        "prior_dependence": "BF_01 is proportional to the flat prior's upper bound (the "
        "prior density at 0 is 1/upper): doubling the bound doubles the evidence for no signal",
    }
