"""``bayes-vip train-peakfinder``: train the seed-002 CNN on synthetic spectra.

Train it, measure it on held-out spectra and write ``models/peakfinder/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayes_vip.errors import InputError
from bayes_vip.pipeline.progress import SILENT, Progress

__all__ = ["train"]


def train(
    out: Path,
    *,
    seed: int = 2024,
    n_train: int = 100_000,
    epochs: int = 40,
    n_finetune: int = 20_000,
    finetune_epochs: int = 10,
    metrics_n: int = 300,
    progress: Progress = SILENT,
) -> dict[str, Any]:
    """Train, measure and save the peak finder; returns where it went, the time and the metrics.

    ``seed`` seeds the spectra, the initial weights and the held-out spectra (``seed + 1``).
    """
    for key, v, lo in (
        ("train.n_train", n_train, 1),
        ("train.epochs", epochs, 1),
        ("train.n_finetune", n_finetune, 1),
        ("train.metrics_n", metrics_n, 1),
        ("train.finetune_epochs", finetune_epochs, 0),
        ("train.seed", seed, 0),
    ):
        if v < lo:
            msg = f"must be >= {lo}, got {v}"
            raise InputError(msg, field=key)
    import numpy as np
    from flax import nnx

    from bayes_vip.calibration.metrics import evaluate_levels
    from bayes_vip.calibration.train import TrainSpec, save_model, train_peakfinder

    spec = TrainSpec(
        seed=seed,
        n_train=n_train,
        epochs=epochs,
        n_finetune=n_finetune,
        finetune_epochs=finetune_epochs,
    )

    def report(stage: str, done: float, total: float, val: float | None) -> None:
        progress.update(stage, done, total, "" if val is None else f"val loss {val:.2e}")

    model, record = train_peakfinder(
        spec, rng=np.random.default_rng(seed), rngs=nnx.Rngs(seed), progress=report
    )
    progress.stage("metrics on held-out spectra")
    metrics = evaluate_levels(model, rng=np.random.default_rng(seed + 1), n=metrics_n)
    path = save_model(
        model, out, {"training": spec.to_dict(), "record": record, "metrics": metrics}
    )
    return {"out": str(path), "seconds": record["total_seconds"], "metrics": metrics}
