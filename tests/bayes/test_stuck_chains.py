"""A chain stuck in warm-up goes on from a healthy chain (``bayes.nuts.stuck_chains``).

One chain whose step size collapses made the shared step size of all chains tiny, and an
ADC-level SBC simulation ran for more than 20 minutes (docs/bayes.md, "Stuck chains"). Here a
trap makes one chain stuck for real: a region where one direction is curved 1e12 times more
than the standard normal around it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayes_vip.bayes.nuts import COLLAPSED_STEP, STUCK_STEP_RATIO, WhitenedNUTS, stuck_chains
from bayes_vip.errors import SamplingFailed


def test_stuck_chains_are_those_far_below_the_median_step():
    assert stuck_chains(np.array([0.05, 0.07, 4e-8, 0.04])) == {2: 0}
    assert stuck_chains(np.array([0.05, 0.07, 0.02, 0.04])) == {}  # healthy spread
    assert stuck_chains(np.array([np.nan, 1e-9, 0.1, 0.2])) == {0: 2, 1: 3}
    assert stuck_chains(np.array([0.1, 1e-9])) == {1: 0}  # two chains
    assert stuck_chains(np.array([0.1, 0.1 / STUCK_STEP_RATIO * 1.01])) == {}
    assert stuck_chains(np.array([np.nan, np.inf, 0.0])) == {}  # nothing healthy to follow


class _Trap:
    """A standard normal in 3 dimensions, with a trap beyond u_0 = 8 where u_1 is stiff."""

    @staticmethod
    def _flat_pot(z, inputs):
        stiff = inputs["stiff"] * jax.nn.sigmoid(10.0 * (z[0] - 8.0))
        return 0.5 * jnp.sum(z**2) + 0.5 * stiff * z[1] ** 2


_LAP = {"flat_map": np.zeros(3), "sqrt_cov": np.eye(3)}
_INPUTS = {"stiff": jnp.asarray(1e12)}
_STARTS = np.array([[0.5, -0.3, 0.2], [20.0, 0.5, 0.0], [-0.4, 0.8, -1.0]])


def _warmed(phases: int, parallel: bool = False, inputs=_INPUTS) -> WhitenedNUTS:
    s = WhitenedNUTS(
        _Trap(), chains=3, warmup=100 * phases, window=100, chunk=20, parallel=parallel
    )
    s._setup(_LAP, inputs, None, 0)
    s._warm(jax.random.PRNGKey(1), _STARTS.copy(), np.full(3, 0.5), 0)
    return s


@pytest.mark.parametrize("phases", [1, 2])
def test_a_trapped_chain_follows_a_healthy_one(phases):
    s = _warmed(phases)
    (restart,) = s.chains_drawn.warmup_restarts  # the trapped chain, in the first phase
    assert restart["phase"] == 0
    assert restart["chain"] == 1
    assert restart["follows_chain"] == 0
    assert restart["step_size"] < restart["followed_step_size"] / STUCK_STEP_RATIO
    # the shared step size is a healthy one, not pulled down by the trapped chain
    steps = s.step_size()
    assert np.all(steps == steps[0])
    assert 0.1 < steps[0] < 3.0
    s.extend(100)
    u = s.chains_drawn.stacked("u")  # (chains, draws, 3)
    assert np.all(u[..., 0] < 8.0)  # every chain draws outside the trap
    assert not np.array_equal(u[0], u[1])  # the follower has its own random key


def test_a_warm_up_with_every_chain_trapped_stops_after_its_first_phase():
    """No chain is healthy to follow: the sampler stops (exit 3 in the CLI), not draws on."""
    s = WhitenedNUTS(_Trap(), chains=3, warmup=300, window=100, chunk=20)
    s._setup(_LAP, _INPUTS, None, 0)
    trapped = _STARTS.copy()
    trapped[:, 0] = [20.0, 15.0, 12.0]
    with pytest.raises(SamplingFailed, match=r"collapsed: after phase 1 of 3 every chain"):
        s._warm(jax.random.PRNGKey(1), trapped, np.full(3, 0.5), 0)
    assert np.all(s.step_size() < COLLAPSED_STEP)
    assert SamplingFailed.exit_code == 3


def test_without_a_trap_no_chain_is_restarted():
    s = _warmed(1, inputs={"stiff": jnp.asarray(0.0)})
    assert s.chains_drawn.warmup_restarts == []


_PARALLEL = """
import json, sys
import jax
import numpy as np
jax.config.update("jax_enable_x64", True)
sys.path.insert(0, sys.argv[1])
from tests.bayes.test_stuck_chains import _warmed
assert jax.local_device_count() == 3
s = _warmed(1, parallel=True)  # the trapped chain takes a healthy one's state after warm-up
s.extend(100)
u = s.chains_drawn.stacked("u")
print(json.dumps({"restarts": s.chains_drawn.warmup_restarts, "steps": s.step_size().tolist(),
                  "u0_max": float(u[..., 0].max()), "same": bool(np.array_equal(u[0], u[1]))}))
"""


def test_a_trapped_chain_follows_a_healthy_one_on_three_devices():
    """The same with the chains in parallel, one per device (``jax.pmap``)."""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=3",
        "JAX_ENABLE_X64": "1",
        "JAX_PLATFORMS": "cpu",
    }
    repo = str(Path(__file__).resolve().parents[2])
    r = subprocess.run(
        [sys.executable, "-c", _PARALLEL, repo],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    (restart,) = out["restarts"]
    assert (restart["phase"], restart["chain"], restart["follows_chain"]) == (0, 1, 0)
    assert len(set(out["steps"])) == 1
    assert 0.1 < out["steps"][0] < 3.0
    assert out["u0_max"] < 8.0
    assert not out["same"]
