"""Peak-finder CNN.

Shapes, exact parameter count, a one-step training smoke test, input preparation (Flax's own
tests check these for their examples).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from bayes_vip.calibration.peakfinder import (
    INPUT_BINS,
    LINES,
    N_PARAMS,
    PeakFinder,
    count_params,
    prepare,
)


def test_output_shape_and_exact_parameter_count():
    model = PeakFinder(rngs=nnx.Rngs(0))
    model.eval()
    y = model(jnp.ones((3, INPUT_BINS, 1)))
    assert y.shape == (3, len(LINES))
    # 255 + 255 + 10 + (2105*500 + 500) + (500*50 + 50) + (50*5 + 5), seed 002 sec. 3.1
    expected = 50 * 5 + 5 + 10 * 5 * 5 + 5 + 5 + 5 + 2105 * 500 + 500 + 500 * 50 + 50 + 255
    assert N_PARAMS == expected == count_params(model) == 1_078_825


def test_one_training_step_lowers_the_loss():
    model = PeakFinder(rngs=nnx.Rngs(1))
    # Adam moves every one of the ~1e6 weights by about lr: keep the step small
    opt = nnx.Optimizer(model, optax.adam(1e-4), wrt=nnx.Param)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((16, INPUT_BINS, 1)))
    target = jnp.asarray(rng.uniform(0.2, 0.8, (16, len(LINES))))

    def loss_fn(m):
        return jnp.mean((m(x) - target) ** 2)

    @nnx.jit
    def step(m, o):
        loss, grads = nnx.value_and_grad(loss_fn)(m)
        o.update(m, grads)
        return loss

    model.eval()
    before = float(loss_fn(model))
    model.train()
    assert np.isfinite(float(step(model, opt)))
    model.eval()
    after = float(loss_fn(model))
    assert np.isfinite(before)
    assert after < before


def test_dropout_only_in_training():
    model = PeakFinder(rngs=nnx.Rngs(2))
    x = jnp.asarray(np.random.default_rng(1).random((2, INPUT_BINS, 1)))
    model.eval()
    a, b = model(x), model(x)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    model.train()
    c, d = model(x), model(x)
    assert not np.array_equal(np.asarray(c), np.asarray(d))  # fresh dropout masks


def test_prepare_regroups_and_scales():
    counts = np.zeros(4096)
    counts[2048] = 1000.0  # one line in the middle channel
    counts += 1.0
    x = prepare(counts)
    assert x.shape == (INPUT_BINS, 1)
    assert float(x.max()) == 1.0
    assert int(np.argmax(x[:, 0])) == int(2048.5 / 4096 * 300)
    # totals are kept before the log scaling
    cum = np.diff(
        np.interp(
            np.linspace(0, 4096, 301), np.arange(4097.0), np.concatenate([[0], np.cumsum(counts)])
        )
    )
    assert cum.sum() == np.float64(counts.sum())
    batch = prepare(np.stack([counts, 2 * counts]))
    assert batch.shape == (2, INPUT_BINS, 1)
    assert jax.numpy.allclose(batch[0, :, 0].argmax(), batch[1, :, 0].argmax())
