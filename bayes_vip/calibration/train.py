"""Training, saving and loading the peak finder (seed 002 sec. 3.1).

Two stages, as the seed does: first on synthetic spectra over a wide range of total counts,
then a fine-tune at low counts. The loss is the mean squared error of the normalised
centroids (ADC / 4096). The weights of the epoch with the lowest validation loss are kept.

``models/peakfinder/`` holds the shipped result: ``weights.npz`` (float32 parameters) and
``metadata.json`` (architecture, parameter count, training spec, seed, measured metrics).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from bayes_vip.calibration.peakfinder import (
    DROPOUT_RATE,
    INPUT_BINS,
    LINES,
    N_PARAMS,
    PeakFinder,
    count_params,
)
from bayes_vip.calibration.synthetic import N_ADC, Variations, draw_spectra
from bayes_vip.errors import InputError
from bayes_vip.io.atomic import atomic_path, write_json

__all__ = [
    "TrainSpec",
    "default_model_dir",
    "load_model",
    "predict_adc",
    "save_model",
    "train_peakfinder",
]

REPO_MODELS = Path(__file__).resolve().parents[2] / "models" / "peakfinder"


def default_model_dir() -> Path:
    """``$BAYES_VIP_PEAKFINDER`` if set, else the repository's ``models/peakfinder``."""
    env = os.environ.get("BAYES_VIP_PEAKFINDER")
    return Path(env) if env else REPO_MODELS


@dataclass
class TrainSpec:
    """What ``train-peakfinder`` does; stored in the metadata."""

    seed: int = 2024
    n_train: int = 100_000
    counts_train: tuple[float, float] = (3e3, 3e6)
    epochs: int = 40
    n_finetune: int = 20_000
    counts_finetune: tuple[float, float] = (5e2, 2e4)
    finetune_epochs: int = 10
    n_val: int = 4_000
    batch_size: int = 128
    learning_rate: float = 3e-4
    finetune_learning_rate: float = 1e-4
    variations: dict = field(default_factory=lambda: Variations().to_dict())

    def to_dict(self) -> dict:
        """The specification as a dict (stored in the metadata)."""
        return asdict(self)


def _loss(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


@nnx.jit
def _train_step(model, opt, x, y):
    loss, grads = nnx.value_and_grad(_loss)(model, x, y)
    opt.update(model, grads)
    return loss


@nnx.jit
def _eval_loss(model, x, y):
    return _loss(model, x, y)


def _run_stage(model, data, val, *, epochs, lr, batch, rng, progress, label):
    n = data["x"].shape[0]
    steps = epochs * (n // batch)
    sched = optax.cosine_decay_schedule(lr, max(steps, 1), alpha=0.05)
    opt = nnx.Optimizer(model, optax.adam(sched), wrt=nnx.Param)
    xv, yv = jnp.asarray(val["x"]), jnp.asarray(val["y"] / N_ADC, dtype=jnp.float32)
    best, best_state, history = np.inf, None, []
    for ep in range(epochs):
        model.train()
        perm = rng.permutation(n)
        losses = []
        for k in range(n // batch):
            idx = perm[k * batch : (k + 1) * batch]
            y = jnp.asarray(data["y"][idx] / N_ADC, dtype=jnp.float32)
            losses.append(float(_train_step(model, opt, jnp.asarray(data["x"][idx]), y)))
        model.eval()
        vloss = float(_eval_loss(model, xv, yv))
        history.append(
            {"stage": label, "epoch": ep + 1, "train": float(np.mean(losses)), "val": vloss}
        )
        if vloss < best:
            best = vloss
            best_state = jax.tree.map(
                lambda a: np.array(a), nnx.to_pure_dict(nnx.state(model, nnx.Param))
            )
        if progress:
            progress(label, ep + 1, epochs, vloss)
    st = nnx.state(model, nnx.Param)
    nnx.replace_by_pure_dict(st, best_state)
    nnx.update(model, st)
    return history


def train_peakfinder(
    spec: TrainSpec, *, rng: np.random.Generator, rngs: nnx.Rngs, progress=None
) -> tuple[PeakFinder, dict]:
    """Train a PeakFinder from scratch; returns the model and a training record.

    ``rng`` draws the synthetic spectra and shuffles them, ``rngs`` initialises the network
    and its dropout (both made from ``spec.seed`` by the caller).
    ``progress(stage, epoch, epochs, val_loss)`` is called after every epoch, and
    ``progress("data", i, n, None)`` while the data are drawn.
    """
    var = Variations(**spec.variations)
    t0 = time.perf_counter()
    if progress:
        progress("data", 0, 3, None)
    train = draw_spectra(spec.n_train, spec.counts_train, rng=rng, variations=var)
    if progress:
        progress("data", 1, 3, None)
    fine = draw_spectra(spec.n_finetune, spec.counts_finetune, rng=rng, variations=var)
    val = draw_spectra(
        spec.n_val, (spec.counts_finetune[0], spec.counts_train[1]), rng=rng, variations=var
    )
    if progress:
        progress("data", 3, 3, None)
    t_data = time.perf_counter() - t0
    model = PeakFinder(rngs=rngs)
    # Start the output layer at the mean normalised centroids: with the seed's ReLU on the
    # output, a unit initialised below zero is dead from the start (we saw Cu Ka's die).
    model.dense3.bias[...] = jnp.asarray(train["y"].mean(axis=0) / N_ADC, dtype=jnp.float32)
    hist = _run_stage(
        model,
        train,
        val,
        epochs=spec.epochs,
        lr=spec.learning_rate,
        batch=spec.batch_size,
        rng=rng,
        progress=progress,
        label="train",
    )
    hist += _run_stage(
        model,
        fine,
        val,
        epochs=spec.finetune_epochs,
        lr=spec.finetune_learning_rate,
        batch=spec.batch_size,
        rng=rng,
        progress=progress,
        label="finetune",
    )
    model.eval()
    record = {
        "data_seconds": t_data,
        "train_seconds": time.perf_counter() - t0 - t_data,
        "total_seconds": time.perf_counter() - t0,
        "history": hist,
        "jax_version": jax.__version__,
        "device": str(jax.devices()[0]),
    }
    return model, record


def save_model(model: PeakFinder, out: str | os.PathLike, metadata: dict) -> Path:
    """Write ``weights.npz`` and ``metadata.json`` to ``out`` (atomically, each)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    flat = {}
    for layer, leaves in nnx.to_pure_dict(nnx.state(model, nnx.Param)).items():
        for name, arr in leaves.items():
            flat[f"{layer}/{name}"] = np.asarray(arr, dtype=np.float32)
    with atomic_path(out / "weights.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **flat)
    meta = {
        "architecture": {
            "name": "seed 002 sec. 3.1 two-branch CNN",
            "input_bins": INPUT_BINS,
            "lines": list(LINES),
            "output": "centroid ADC / 4096 (Ka: intensity-weighted doublet centroid)",
            "padding": "VALID",
            "dropout_rate": DROPOUT_RATE,
            "n_adc": N_ADC,
        },
        "n_params": count_params(model),
        **metadata,
    }
    write_json(out / "metadata.json", meta)
    return out


def load_model(path: str | os.PathLike | None = None) -> tuple[PeakFinder, dict]:
    """Load shipped or trained weights; no training. Returns (model in eval mode, metadata)."""
    d = Path(path) if path is not None else default_model_dir()
    wfile, mfile = d / "weights.npz", d / "metadata.json"
    for f in (wfile, mfile):
        if not f.is_file():
            msg = "peak-finder model file missing; run `bayes-vip train-peakfinder`"
            raise InputError(msg, file=f)
    try:
        meta = json.loads(mfile.read_text())
        arrays = dict(np.load(wfile))
    except Exception as exc:
        msg = f"cannot read the peak-finder model: {exc}"
        raise InputError(msg, file=d) from None
    if meta.get("n_params") != N_PARAMS:
        msg = f"model has {meta.get('n_params')} parameters, this code expects {N_PARAMS}"
        raise InputError(
            msg,
            file=mfile,
            field="n_params",
        )
    # the module's structure without computing its random initial weights (eagerly, that
    # cost about 3 s of compiling small kernels); every parameter is replaced below
    abstract = nnx.eval_shape(lambda: PeakFinder(rngs=nnx.Rngs(0)))
    graphdef, st, rest = nnx.split(abstract, nnx.Param, ...)
    pure = nnx.to_pure_dict(st)
    for layer, leaves in pure.items():
        for name in leaves:
            key = f"{layer}/{name}"
            if key not in arrays or arrays[key].shape != leaves[name].shape:
                msg = f"weights lack {key!r} or have the wrong shape"
                raise InputError(msg, file=wfile)
            leaves[name] = jnp.asarray(arrays[key], dtype=jnp.float32)
    nnx.replace_by_pure_dict(st, pure)
    # the dropout's random stream (unused in eval mode): a concrete key and count
    rest = jax.tree.map(
        lambda a: (
            jax.random.key(0)
            if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key)
            else jnp.zeros(a.shape, a.dtype)
        ),
        rest,
    )
    model = nnx.merge(graphdef, st, rest)
    model.eval()
    return model, meta


_predict = nnx.jit(lambda model, x: model(x))


def predict_adc(model: PeakFinder, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Centroids in ADC (n, 5) for prepared inputs x (n, 300, 1)."""
    out = [
        np.asarray(_predict(model, jnp.asarray(x[i : i + chunk], dtype=jnp.float32)))
        for i in range(0, len(x), chunk)
    ]
    return np.concatenate(out) * N_ADC if out else np.zeros((0, len(LINES)))
