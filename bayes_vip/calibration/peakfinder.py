"""The peak-finder CNN of seed 002 section 3.1, in Flax NNX.

Input: a 300-bin uncalibrated (ADC) spectrum, shape (batch, 300, 1). Two branches:

- convolutional: Conv(5 filters, kernel 50), ReLU, Conv(5, kernel 10), ReLU, MaxPool(2);
- "dense": Conv(5, kernel 1), then Dropout;

both flattened and concatenated, then Dense 500, 50 and 5, each with ReLU (the seed applies
ReLU to all three). Output: the normalised centroids (ADC / ADC range) of Ti Ka, Ti Kb,
Mn Ka, Mn Kb and Cu Ka.

The seed does not state the convolution padding; we use "valid" (Keras' default, the
framework of the seed's figure), which gives exactly ``N_PARAMS = 1 078 825`` parameters:
255 + 255 (branch 1) + 10 (branch 2) + 2105*500+500 + 500*50+50 + 50*5+5. The dropout rate
is not stated either; ``DROPOUT_RATE`` is our choice.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = [
    "DROPOUT_RATE",
    "INPUT_BINS",
    "LINES",
    "N_PARAMS",
    "PeakFinder",
    "count_params",
    "prepare",
    "scale_input",
]

#: The five calibration lines the network locates, in output order (seed 002 sec. 3.1).
LINES = ("Ti Ka", "Ti Kb", "Mn Ka", "Mn Kb", "Cu Ka")
#: Length of the input spectrum (seed 002 sec. 3.1).
INPUT_BINS = 300
#: Exact parameter count of the architecture with "valid" convolutions (see module doc).
N_PARAMS = 1_078_825
#: Dropout rate of the second branch (not given by the seed).
DROPOUT_RATE = 0.2


class PeakFinder(nnx.Module):
    """Seed 002's two-branch CNN; call ``model.eval()`` for inference (no dropout)."""

    def __init__(self, *, rngs: nnx.Rngs, dropout_rate: float = DROPOUT_RATE):
        self.conv_a1 = nnx.Conv(1, 5, kernel_size=(50,), padding="VALID", rngs=rngs)
        self.conv_a2 = nnx.Conv(5, 5, kernel_size=(10,), padding="VALID", rngs=rngs)
        self.conv_b = nnx.Conv(1, 5, kernel_size=(1,), padding="VALID", rngs=rngs)
        self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)
        n_a = ((INPUT_BINS - 50 + 1) - 10 + 1) // 2 * 5  # 121 positions x 5 filters
        n_b = INPUT_BINS * 5
        self.dense1 = nnx.Linear(n_a + n_b, 500, rngs=rngs)
        self.dense2 = nnx.Linear(500, 50, rngs=rngs)
        self.dense3 = nnx.Linear(50, len(LINES), rngs=rngs)

    def __call__(self, x):
        """x: (batch, 300, 1) -> normalised centroids (batch, 5)."""
        a = nnx.relu(self.conv_a1(x))
        a = nnx.relu(self.conv_a2(a))
        a = nnx.max_pool(a, window_shape=(2,), strides=(2,))
        b = self.dropout(self.conv_b(x))
        h = jnp.concatenate([a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)], axis=-1)
        h = nnx.relu(self.dense1(h))
        h = nnx.relu(self.dense2(h))
        return nnx.relu(self.dense3(h))


def count_params(model: nnx.Module) -> int:
    """Number of trainable parameters."""
    import jax

    return int(sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param))))


def prepare(counts: np.ndarray, n_adc: int | None = None) -> np.ndarray:
    """An ADC histogram (..., n_adc) -> the network's input (..., 300, 1).

    The spectrum is regrouped into 300 equal bins of the ADC range by interpolating its
    cumulative sum (exact when counts are uniform within a channel), then compressed with
    log1p and scaled to a maximum of 1, so that lines two orders of magnitude weaker than
    Ti Ka (Cu Ka) stay visible to the network.
    """
    counts = np.asarray(counts, dtype=float)
    n = counts.shape[-1] if n_adc is None else n_adc
    cum = np.concatenate([np.zeros((*counts.shape[:-1], 1)), np.cumsum(counts, axis=-1)], axis=-1)
    # linear interpolation of the cumulative sum at the 301 grid points (vectorised np.interp)
    grid = np.clip(np.linspace(0.0, n, INPUT_BINS + 1), 0.0, counts.shape[-1])
    i0 = np.minimum(np.floor(grid).astype(int), counts.shape[-1] - 1)
    w = grid - i0
    c_grid = cum[..., i0] * (1.0 - w) + cum[..., i0 + 1] * w
    return scale_input(np.diff(c_grid, axis=-1))


def scale_input(c300: np.ndarray) -> np.ndarray:
    """Counts in the 300 input bins (..., 300) -> network input (..., 300, 1): log1p, max 1."""
    x = np.log1p(np.asarray(c300, dtype=float))
    x /= np.maximum(x.max(axis=-1, keepdims=True), 1e-12)
    return x[..., None]
