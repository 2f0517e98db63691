"""NUTS in the coordinates of the Laplace approximation ("whitened NUTS").

The sampler moves in ``u``, with ``z = m + L u``: ``z`` is the unconstrained vector of
every sampled site, ``m`` the posterior mode and ``L L^T`` the inverse Hessian there
(``sampling.Posterior.laplace``). Where the posterior is close to its Laplace approximation,
``u`` is close to a standard normal: every direction has unit scale and the correlations
(Fano against every noise, the shelf against levels and rates) are gone, so NUTS takes few
leapfrog steps of one size.

Warm-up runs in phases of 100 iterations, each adapting only the step size (numpyro's
functional ``hmc``, dual averaging) with a unit mass in ``u``; between phases the pooled
draws of all chains re-whiten the coordinates, with their covariance shrunk towards the
identity so that the whitening is full rank at any number of parameters (the dense matrix
that the previous sampler estimated from about 100 warm-up draws was rank-deficient beyond
about 100 parameters, and replaced the Laplace mass after the first window). After warm-up
all chains share one step size (docs/bayes.md, "The sampler at the experiment's scale").

Chains run in fixed-size chunks of iterations (one compiled ``lax.scan``), so that a run
reports progress (iterations, divergences, step size), and so that finished chains can be
extended with more draws from where they stopped (``WhitenedNUTS.extend``), with the adapted
step size and mass. The mode, the square root ``L`` and the run's numbers with its counts
(``sampling.Posterior.inputs``) are traced arguments: runs and toys of one layout compile once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayes_vip.bayes.checkpoint import CHUNK
from bayes_vip.errors import AnalysisError, SamplingFailed

__all__ = [
    "COLLAPSED_STEP",
    "STUCK_STEP_RATIO",
    "Chains",
    "Report",
    "WhitenedNUTS",
    "overdispersed_starts",
    "stuck_chains",
]

#: Gradient evaluations charged for one Gibbs refresh of the signal (``WhitenedNUTS``'s
#: ``refresh``): the gradient at the new point, and the two traces of the model that split
#: its expected counts into background and signal (``sampling.Posterior.signal_gibbs``),
#: each cheaper than a gradient; charged as one more, so the count errs high.
REFRESH_GRADIENTS = 2

#: ``progress(done, total, info)``: iterations per chain, and the chains' state
#: (``WhitenedNUTS._report``).
Report = Callable[[int, int, dict[str, Any]], None]

#: A chain whose adapted step size ends a warm-up phase more than this factor below the
#: median of the chains' is stuck (``stuck_chains``): it goes on from a healthy chain's
#: position. Healthy chains of one run adapt within a factor of about 2.5 of each other;
#: the stuck chain that made an ADC-level SBC simulation run for more than 20 minutes
#: adapted 4e-8 against 0.04-0.09 (docs/bayes.md, "Stuck chains").
STUCK_STEP_RATIO = 100.0


#: A warm-up phase after which every chain's step size (in the whitened coordinates, where
#: healthy runs adapt 0.04-0.3, and 0.05-0.07 at the retry's target of 0.99) is below this,
#: or not finite, has collapsed: no chain is healthy to follow, each draw would cost the most
#: leapfrog steps a tree allows, and the draws would not move. The sampler stops there
#: (``SamplingFailed``) instead of spending hours (an ADC-level SBC simulation whose mode
#: search had failed adapted 1e-10 in all four chains; docs/bayes.md, "Stuck chains").
COLLAPSED_STEP = 1e-3


def stuck_chains(steps: np.ndarray, ratio: float = STUCK_STEP_RATIO) -> dict[int, int]:
    """The chains stuck at the end of a warm-up phase, each with the healthy chain to follow.

    A chain is stuck when its step size is not finite and positive, or is more than
    ``ratio`` times below the median of the finite, positive ones. Returns ``{stuck: healthy}``;
    the stuck chains take the healthy ones in turn, in chain order.
    """
    steps = np.asarray(steps, dtype=float)
    ok = np.isfinite(steps) & (steps > 0)
    if not ok.any():
        return {}
    median = float(np.median(steps[ok]))
    bad = ~ok | (steps < median / ratio)
    healthy = np.flatnonzero(~bad)
    return {int(i): int(healthy[k % len(healthy)]) for k, i in enumerate(np.flatnonzero(bad))}


def overdispersed_starts(
    pot: Callable[[np.ndarray], float],
    n: int,
    chains: int,
    *,
    rng: np.random.Generator,
    spread: float = 2.0,
) -> np.ndarray:
    """One start per chain in ``u``: a standard normal draw times ``spread``.

    Twice the Laplace width by default, so that chains start on both sides of the bulk in
    every direction and R-hat can reveal a chain that does not mix. A start where the
    potential ``pot`` is not finite is pulled halfway to the mode, up to 20 times.
    """
    out = spread * rng.standard_normal((chains, n))
    for i in range(chains):
        for _ in range(20):
            if np.isfinite(pot(out[i])):
                break
            out[i] *= 0.5
        else:
            out[i] = 0.0
    return out


@dataclass
class Chains:
    """What the chains have drawn so far (draws after warm-up only)."""

    u: list[np.ndarray] = field(default_factory=list)  # (chains, k, n) blocks
    diverging: list[np.ndarray] = field(default_factory=list)
    num_steps: list[np.ndarray] = field(default_factory=list)
    potential: list[np.ndarray] = field(default_factory=list)
    warmup_steps: int = 0  # leapfrog steps (= gradients) in warm-up, all chains
    warmup_divergences: int = 0
    #: chains moved to a healthy chain's position at the end of a warm-up phase
    #: (``stuck_chains``): phase, chain, the chain followed, and both step sizes
    warmup_restarts: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def draws(self) -> int:
        """Draws per chain after warm-up."""
        return sum(b.shape[1] for b in self.u)

    def stacked(self, name: str) -> np.ndarray:
        """One field of every block, joined along the draw axis."""
        return np.concatenate(getattr(self, name), axis=1)

    @property
    def gradients(self) -> int:
        """Gradient evaluations of all chains, warm-up included (one per leapfrog step)."""
        return self.warmup_steps + int(sum(int(b.sum()) for b in self.num_steps))


class WhitenedNUTS:
    """NUTS chains in whitened coordinates for one ``sampling.Posterior``.

    Warm-up runs in phases of ``window`` iterations. In each phase the chains adapt their
    step size (dual averaging) with a unit mass matrix. After every phase but the last, the
    draws of all chains together (the phase's second half after the first phase, the whole
    phase after that) re-whiten the coordinates: ``m`` becomes their mean and ``L`` is
    multiplied by the Cholesky factor of their covariance, shrunk towards the identity (the
    Laplace guess) with the weight of ``n`` draws, so it is full rank at any ``n``. Pooling
    the chains gives 4 times the draws of a per-chain estimate.

    Parameters
    ----------
    post : the posterior (its ``_flat_pot(z, inputs)`` is the potential on ``z``; ``inputs``
        is ``post.inputs(counts)``, the run's numbers with the counts).
    chains, warmup : number of chains and warm-up iterations per chain (rounded up to whole
        windows).
    target_accept : the step-size adaptation's target acceptance probability.
    max_tree_depth : NUTS's maximum tree depth (at most 2**depth - 1 steps per draw).
    parallel : run the chains with ``jax.pmap`` (one device each) instead of one after the
        other.
    window : iterations per warm-up phase.
    chunk : iterations per compiled block (the unit of progress reports and of extension);
        it divides ``window``.
    """

    def __init__(
        self,
        post: Any,
        *,
        chains: int,
        warmup: int,
        target_accept: float = 0.8,
        max_tree_depth: int = 10,
        parallel: bool = False,
        window: int = 100,
        chunk: int = CHUNK,
        refresh: tuple[int, Callable] | None = None,
    ):
        from numpyro.infer.hmc import hmc

        if window % chunk:
            msg = f"chunk {chunk} must divide the warm-up window {window}"
            raise ValueError(msg)
        self.post, self.chains, self.parallel = post, chains, parallel
        self.window, self.chunk = window, chunk
        self.phases = max(1, -(-warmup // window))
        self.warmup = self.phases * window
        flat_pot = post._flat_pot

        def pot_gen(inputs, m, sqrt_cov):
            return lambda u: flat_pot(m + sqrt_cov @ u, inputs)

        init_kernel, sample_kernel = hmc(potential_fn_gen=pot_gen, algo="NUTS")

        def init_one(u0, key, step, inputs, m, sqrt_cov, heuristic=True):
            return init_kernel(
                u0,
                window,
                step_size=step,
                adapt_mass_matrix=False,
                target_accept_prob=target_accept,
                max_tree_depth=max_tree_depth,
                find_heuristic_step_size=heuristic,
                model_kwargs={"inputs": inputs, "m": m, "sqrt_cov": sqrt_cov},
                rng_key=key,
            )

        def gibbs(st, inputs, m, sqrt_cov, back):
            """The signal drawn anew given the rest (``refresh``), and the state made whole.

            Only the signal's coordinate ``i`` of ``z`` changes, by ``d``: ``u`` moves by
            ``d`` times ``back``, the ``i``-th column of ``L^-1``. The potential and its
            gradient there are evaluated once (``REFRESH_GRADIENTS`` in the count).
            """
            index, fn = refresh
            key, sub = jax.random.split(st.rng_key)
            z = m + sqrt_cov @ st.z
            z_new, _ = fn(z, sub, inputs)
            u = st.z + back * (z_new[index] - z[index])
            pe, grad = jax.value_and_grad(lambda v: flat_pot(m + sqrt_cov @ v, inputs))(u)
            return st._replace(z=u, z_grad=grad, potential_energy=pe, rng_key=key)

        def advance_one(state, inputs, m, sqrt_cov, back):
            kw = {"inputs": inputs, "m": m, "sqrt_cov": sqrt_cov}
            # numpyro's kernel keeps the potential it was initialised with (the step-size
            # search uses it): initialise it again inside this trace, so that it holds this
            # trace's arguments; the new state is discarded (and compiled away)
            init_one(state.z, state.rng_key, 1.0, inputs, m, sqrt_cov, heuristic=False)

            def step(st, _):
                st = sample_kernel(st, model_kwargs=kw)
                steps = st.num_steps
                if refresh is not None:
                    st = gibbs(st, inputs, m, sqrt_cov, back)
                    steps = steps + REFRESH_GRADIENTS
                return st, (st.z, st.diverging, steps, st.potential_energy)

            return jax.lax.scan(step, state, None, length=chunk)

        if parallel:
            self._init = jax.pmap(init_one, in_axes=(0, 0, 0, None, None, None))
            self._advance = jax.pmap(advance_one, in_axes=(0, None, None, None, None))
        else:
            self._init = jax.jit(init_one)
            self._advance = jax.jit(advance_one)
        self.refresh = refresh
        self._state: Any = None
        self._inputs: Any = None
        self.m: np.ndarray | None = None
        self.sqrt_cov: np.ndarray | None = None
        self.chains_drawn = Chains()
        self._pot_u = jax.jit(lambda u, c, m, s: flat_pot(m + s @ u, c))
        self._progress: Report | None = None
        self._total = 0
        self._target = 0  # draws per chain that the current extension is heading for
        #: ``save(arrays, meta)``, called at the end of every warm-up phase and every
        #: ``checkpoint_every`` draws per chain (``bayes.checkpoint``); ``None``: no saves
        self.checkpoint: Callable[[dict[str, np.ndarray], dict[str, Any]], None] | None = None
        self.checkpoint_every = 100
        #: what the caller adds to every checkpoint's meta (its extensions, retries, ...)
        self.checkpoint_meta: dict[str, Any] = {}

    # -- running -------------------------------------------------------------------------
    def _args(self) -> tuple:
        return (self._inputs, jnp.asarray(self.m), jnp.asarray(self.sqrt_cov))

    def _back(self) -> jax.Array:
        """The column of ``L^-1`` of the refreshed coordinate (zeros without a refresh)."""
        n = len(self.m)
        if self.refresh is None:
            return jnp.zeros(n)
        unit = np.zeros(n)
        unit[self.refresh[0]] = 1.0
        return jnp.asarray(np.linalg.solve(self.sqrt_cov, unit))

    def _step_all(self):
        """One chunk of every chain; returns the chunk's (u, diverging, steps, potential)."""
        back = self._back()
        if self.parallel:
            self._state, out = self._advance(self._state, *self._args(), back)
            return [np.asarray(x) for x in out]
        outs = []
        for i in range(self.chains):
            self._state[i], o = self._advance(self._state[i], *self._args(), back)
            outs.append(o)
        return [np.stack([np.asarray(o[j]) for o in outs]) for j in range(4)]

    def _init_all(self, u: np.ndarray, keys, steps: np.ndarray) -> None:
        if self.parallel:
            self._state = self._init(jnp.asarray(u), keys, jnp.asarray(steps), *self._args())
        else:
            self._state = [
                self._init(jnp.asarray(u[i]), keys[i], float(steps[i]), *self._args())
                for i in range(self.chains)
            ]

    def _set_step_size(self, step: float) -> None:
        """Give every chain the step size ``step`` (after warm-up: adaptation is over)."""

        def with_step(st, value):
            return st._replace(adapt_state=st.adapt_state._replace(step_size=value))

        # float64 arrays laid out as the adapted ones: a weakly typed Python float, or an
        # array on one device where the chains' state is spread over several, is another
        # signature to jit, and the sampling chunks compiled again (8 s on the demo)
        if self.parallel:
            old = self._state.adapt_state.step_size
            new = jax.device_put(np.full(self.chains, step, dtype=old.dtype), old.sharding)
            self._state = with_step(self._state, new)
        else:
            self._state = [with_step(st, jnp.asarray(np.float64(step))) for st in self._state]

    def _rewhiten(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New coordinates from pooled draws ``u`` (k, n).

        Returns ``(chol, mean)``: a point ``u`` of the old coordinates is
        ``chol^-1 (u - mean)`` in the new ones.
        """
        k, n = u.shape
        mean = u.mean(axis=0)
        cov = np.cov(u, rowvar=False).reshape(n, n)
        shrunk = (k * cov + n * np.eye(n)) / (k + n)
        chol = np.linalg.cholesky(shrunk)
        self.m = self.m + self.sqrt_cov @ mean
        self.sqrt_cov = self.sqrt_cov @ chol
        return chol, mean

    def _setup(self, lap: dict, inputs: Any, progress: Report | None, samples: int) -> None:
        self.m = np.asarray(lap["flat_map"], dtype=float)
        self.sqrt_cov = np.asarray(lap["sqrt_cov"], dtype=float)
        self._inputs = jax.tree.map(jnp.asarray, inputs)
        self.chains_drawn = Chains()
        self._progress = progress
        self._total = self.warmup + samples
        self._target = samples

    def start(
        self,
        lap: dict,
        inputs: Any,
        *,
        key: jax.Array,
        rng: np.random.Generator,
        spread: float = 2.0,
        progress: Report | None = None,
        samples: int = 0,
    ) -> Chains:
        """Start the chains (overdispersed), warm up, and draw ``samples`` per chain."""
        self._setup(lap, inputs, progress, samples)
        args = self._args()
        u = overdispersed_starts(
            lambda x: float(self._pot_u(jnp.asarray(x), *args)),
            len(self.m),
            self.chains,
            rng=rng,
            spread=spread,
        )
        self._warm(key, u, np.full(self.chains, 0.5), 0)
        self.extend(samples)
        return self.chains_drawn

    def _warm(self, key: jax.Array, u: np.ndarray, steps: np.ndarray, first: int) -> None:
        """Warm-up phases ``first``, ..., from positions ``u`` with step sizes ``steps``."""
        t0 = time.perf_counter()
        done = first * self.window
        for phase in range(first, self.phases):
            key, sub = jax.random.split(key)
            self._init_all(u, jax.random.split(sub, self.chains), steps)
            draws = []
            for _ in range(self.window // self.chunk):
                z, div, nsteps, _pe = self._step_all()
                draws.append(z)
                self.chains_drawn.warmup_steps += int(nsteps.sum())
                self.chains_drawn.warmup_divergences += int(div.sum())
                done += self.chunk
                self._report(done, "warm-up", nsteps)
            steps = self.step_size()
            if not np.any(np.isfinite(steps) & (steps >= COLLAPSED_STEP)):
                largest = max((float(x) for x in steps if np.isfinite(x)), default=math.nan)
                msg = (
                    f"NUTS warm-up collapsed: after phase {phase + 1} of {self.phases} every "
                    f"chain's step size is below {COLLAPSED_STEP:g} (largest {largest:.3g}) in "
                    "the whitened coordinates, where a healthy run adapts 0.04-0.3"
                )
                raise SamplingFailed(msg)
            stuck = stuck_chains(steps)
            self._note_restarts(phase, stuck, steps)
            if phase < self.phases - 1:
                z = np.concatenate(draws, axis=1)  # (chains, window, n)
                if phase == 0:
                    z = z[:, self.window // 2 :]
                # a stuck chain's draws (one point, repeated) would pull the whitening to it
                pooled = np.delete(z, list(stuck), axis=0)
                chol, mean = self._rewhiten(pooled.reshape(-1, z.shape[-1]))
                u = np.linalg.solve(chol, (z[:, -1] - mean).T).T  # the chains' positions
                for i, j in stuck.items():  # the next phase starts it where chain j is
                    u[i], steps[i] = u[j], steps[j]
                arrays = {"key": np.asarray(key), "u": u, "steps": steps}
                self._save("warmup", arrays, phase=phase + 1)
            elif stuck:  # no phase left to adapt in: it draws on from chain j's state
                self._follow(stuck)
                steps = self.step_size()
        # one step size for all chains, the geometric mean of their adapted ones: every chain
        # sees the same whitened posterior, and a chain whose 100-iteration dual averaging
        # ended high (0.31 against 0.10-0.22) diverged 39 times in 1000 draws
        self._set_step_size(float(np.exp(np.mean(np.log(steps)))))
        ch = self.chains_drawn
        ch.seconds["warmup"] = ch.seconds.get("warmup", 0.0) + time.perf_counter() - t0
        self._save_draws()

    def _note_restarts(self, phase: int, stuck: dict[int, int], steps: np.ndarray) -> None:
        for i, j in stuck.items():
            self.chains_drawn.warmup_restarts.append(
                {
                    "phase": phase,
                    "chain": i,
                    "follows_chain": j,
                    "step_size": float(steps[i]),
                    "followed_step_size": float(steps[j]),
                }
            )

    def _follow(self, stuck: dict[int, int]) -> None:
        """Each stuck chain ``i`` takes chain ``j``'s whole state, with a random key of its own."""
        leaves = [np.array(x) for x in self._state_leaves()]  # writable copies
        keys = self._rng_keys()
        for i, j in stuck.items():
            for x in leaves:
                x[i] = x[j]
            keys[i] = np.asarray(jax.random.fold_in(jnp.asarray(keys[j]), 1 + i))
        self._put_leaves(leaves)
        if self.parallel:
            old = self._state.rng_key
            self._state = self._state._replace(rng_key=jax.device_put(keys, old.sharding))
        else:
            self._state = [
                st._replace(rng_key=jnp.asarray(keys[i])) for i, st in enumerate(self._state)
            ]

    def _rng_keys(self) -> np.ndarray:
        """The chains' random keys, stacked along the first axis."""
        if self.parallel:
            return np.array(self._state.rng_key)
        return np.stack([np.asarray(st.rng_key) for st in self._state])

    # -- checkpoints ---------------------------------------------------------------------
    def _save(self, stage: str, arrays: dict[str, np.ndarray], **meta: Any) -> None:
        if self.checkpoint is None:
            return
        ch = self.chains_drawn
        meta = {
            **self.checkpoint_meta,
            "stage": stage,
            "chains": self.chains,
            "parallel": self.parallel,
            "warmup": self.warmup,
            "warmup_steps": ch.warmup_steps,
            "warmup_divergences": ch.warmup_divergences,
            "warmup_restarts": ch.warmup_restarts,
            "draws": ch.draws,
            "target": self._target,
            **meta,
        }
        self.checkpoint({"m": self.m, "sqrt_cov": self.sqrt_cov, **arrays}, meta)

    def _save_draws(self, **meta: Any) -> None:
        """Save the chains' states and the draws so far (stage ``draws``)."""
        if self.checkpoint is None:
            return
        leaves = self._state_leaves()
        arrays = {f"state_{i:03d}": x for i, x in enumerate(leaves)}
        if self.chains_drawn.draws:
            for name in ("u", "diverging", "num_steps", "potential"):
                arrays[f"drawn_{name}"] = self.chains_drawn.stacked(name)
        self._save("draws", arrays, **meta)

    def save_finished(self) -> None:
        """Save the final state, marked finished (``--extend`` continues from it)."""
        self._save_draws(finished=True)

    def _state_leaves(self) -> list[np.ndarray]:
        """Every leaf of the chains' NUTS states, with the chains along the first axis."""
        if self.parallel:
            return [np.asarray(x) for x in jax.tree.leaves(self._state)]
        per_chain = [jax.tree.leaves(st) for st in self._state]
        return [np.stack([np.asarray(c[j]) for c in per_chain]) for j in range(len(per_chain[0]))]

    def restore(
        self,
        lap: dict,
        inputs: Any,
        arrays: dict[str, np.ndarray],
        meta: dict[str, Any],
        *,
        progress: Report | None = None,
    ) -> Chains:
        """Continue from a checkpoint (``_save``) to the draws it was heading for.

        The chains go on exactly as they would have: the same states, random keys, step
        size and coordinates. A checkpoint made in warm-up resumes at the start of the phase
        it names; one made while drawing resumes after its last saved draw.
        """
        if meta["chains"] != self.chains:  # parallel or sequential: the leaves are the same
            msg = f"the checkpoint has {meta['chains']} chains, this run {self.chains}"
            raise AnalysisError(msg)
        self._setup(lap, inputs, progress, int(meta["target"]))
        self.m = np.asarray(arrays["m"], dtype=float)
        self.sqrt_cov = np.asarray(arrays["sqrt_cov"], dtype=float)
        ch = self.chains_drawn
        ch.warmup_steps = int(meta["warmup_steps"])
        ch.warmup_divergences = int(meta["warmup_divergences"])
        ch.warmup_restarts = list(meta.get("warmup_restarts", []))
        if meta["stage"] == "warmup":
            key = jnp.asarray(arrays["key"])
            self._warm(key, arrays["u"], arrays["steps"], int(meta["phase"]))
        else:
            # a state of the right structure and layout, whose leaves are then replaced
            keys = jax.random.split(jax.random.PRNGKey(0), self.chains)
            self._init_all(np.zeros((self.chains, len(self.m))), keys, np.full(self.chains, 0.5))
            self._put_leaves([arrays[f"state_{i:03d}"] for i in range(len(self._state_leaves()))])
            if "drawn_u" in arrays:
                for name in ("u", "diverging", "num_steps", "potential"):
                    getattr(ch, name).append(np.asarray(arrays[f"drawn_{name}"]))
        self._report(self.warmup + ch.draws, "sampling")
        return self.extend(int(meta["target"]) - ch.draws)

    def _put_leaves(self, leaves: list[np.ndarray]) -> None:
        if self.parallel:
            fresh, tree = jax.tree.flatten(self._state)
            put = [
                jax.device_put(np.asarray(x, dtype=f.dtype), f.sharding)
                for x, f in zip(leaves, fresh, strict=True)
            ]
            self._state = jax.tree.unflatten(tree, put)
            return
        for i in range(self.chains):
            fresh, tree = jax.tree.flatten(self._state[i])
            put = [
                jnp.asarray(np.asarray(x[i], dtype=f.dtype))
                for x, f in zip(leaves, fresh, strict=True)
            ]
            self._state[i] = jax.tree.unflatten(tree, put)

    def _report(self, done: int, phase: str, steps: np.ndarray | None = None) -> None:
        """Report ``done`` of the iterations per chain, and how the chains are doing.

        ``progress(done, total, info)``: ``info`` (``pipeline.progress``) names the phase
        ("warm-up" or "sampling"), the divergent transitions of that phase so far (all
        chains), the step size (the chains' geometric mean) and, as ``details``, each
        chain's step size and the leapfrog steps per iteration of the last chunk (``steps``).
        """
        if self._progress is None:
            return
        ch = self.chains_drawn
        if phase == "warm-up":
            divergences = ch.warmup_divergences
        else:
            divergences = sum(int(d.sum()) for d in ch.diverging)
        size = self.step_size()
        details: dict[str, Any] = {"step sizes": [float(x) for x in size]}
        if steps is not None:
            details["leapfrog steps per iteration"] = float(np.mean(steps))
        if phase == "sampling":
            details["warm-up divergences"] = ch.warmup_divergences
        if ch.warmup_restarts:
            details["stuck chains restarted"] = len(ch.warmup_restarts)
        info = {
            "phase": phase,
            "chains": f"{self.chains} chains",
            "divergences": divergences,
            "step size": float(np.exp(np.mean(np.log(size)))),
            "details": details,
        }
        self._progress(done, self._total, info)

    def _keep(self, z, div, steps, pe):
        ch = self.chains_drawn
        ch.u.append(z)
        ch.diverging.append(div)
        ch.num_steps.append(steps)
        ch.potential.append(pe)

    def extend(self, samples: int) -> Chains:
        """Draw at least ``samples`` more per chain (whole chunks) from where the chains are."""
        if self._state is None:
            msg = "the chains have not been started"
            raise AnalysisError(msg)
        t0 = time.perf_counter()
        target = self.chains_drawn.draws + max(0, samples)
        self._target = target
        self._total = max(self._total, self.warmup + target)
        while self.chains_drawn.draws < target:
            self._keep(*self._step_all())
            ch = self.chains_drawn
            self._report(self.warmup + ch.draws, "sampling", ch.num_steps[-1])
            if self.chains_drawn.draws % self.checkpoint_every == 0:
                self._save_draws()
        ch = self.chains_drawn
        ch.seconds["sampling"] = ch.seconds.get("sampling", 0.0) + time.perf_counter() - t0
        return ch

    # -- results -------------------------------------------------------------------------
    def step_size(self) -> np.ndarray:
        """The adapted step size of each chain."""
        if self.parallel:
            return np.asarray(self._state.adapt_state.step_size)
        return np.array([float(s.adapt_state.step_size) for s in self._state])

    def flat_draws(self) -> np.ndarray:
        """(chains, draws, n) draws on the unconstrained space ``z = m + L u``."""
        u = self.chains_drawn.stacked("u")
        return self.m + u @ self.sqrt_cov.T
