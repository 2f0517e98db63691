"""Checkpoints of a NUTS run: save the sampler every so many draws, resume, extend.

A checkpoint is one ``.npz`` file, written atomically (``io.atomic``): the chains' NUTS
states (``bayes.nuts.WhitenedNUTS``: positions, momenta' keys, the adapted step size), the
whitening coordinates and the draws so far, with a JSON ``meta`` record. The meta holds the
run's identity (its configuration, seed and a hash of the model's numbers), so that a run
resumes or extends only the run it was made by, and where the sampler stood (the warm-up
phase, or the draws done and the draws it was heading for).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bayes_vip.errors import InputError
from bayes_vip.io.atomic import atomic_path

__all__ = [
    "CHECKPOINT_EVERY",
    "CHUNK",
    "Checkpoint",
    "check_continuation",
    "data_hash",
    "read_meta",
]

#: Iterations per compiled block of ``bayes.nuts.WhitenedNUTS`` (its default ``chunk``): the
#: unit of its progress reports, extensions and checkpoints.
CHUNK = 50
#: Draws per chain between checkpoints (a multiple of ``CHUNK``).
CHECKPOINT_EVERY = 2 * CHUNK
_META = "__meta__"


def data_hash(tree: Any) -> str:
    """A SHA-256 of every array in a pytree of the model's numbers (``Posterior.inputs``)."""
    import jax

    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def check_continuation(meta: dict[str, Any], path: Path, *, resume: bool, extend: int) -> None:
    """Refuse ``--resume`` of a finished run and ``--extend`` of an unfinished one."""
    if resume and meta.get("finished"):
        msg = f"the run finished ({meta['draws']} draws per chain); add draws with --extend N"
        raise InputError(msg, file=path)
    if extend and not meta.get("finished"):
        msg = "the run did not finish; continue it with --resume first"
        raise InputError(msg, file=path)


def read_meta(path: Path) -> dict[str, Any]:
    """A checkpoint's meta record alone; a missing or damaged file is an ``InputError``."""
    if not path.is_file():
        msg = "no checkpoint (a run of `bayes-vip sample` saves one as it draws)"
        raise InputError(msg, file=path)
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            return json.loads(str(z[_META]))
    except Exception as exc:  # zipfile, numpy and json raise many types for a damaged file
        msg = f"cannot read the checkpoint (truncated or corrupt?): {type(exc).__name__}"
        raise InputError(msg, file=path) from None


@dataclass
class Checkpoint:
    """Where a run saves its sampler, and the identity a resumed run must share with it.

    ``identity``: JSON-serialisable; compared whole by ``check``. ``save`` is given to the
    sampler (``WhitenedNUTS.checkpoint``).
    """

    path: Path
    identity: dict[str, Any]
    every: int = CHECKPOINT_EVERY

    def save(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Write ``arrays`` and ``meta`` (with the identity) over the previous checkpoint."""
        record = json.dumps({**meta, "identity": self.identity}, default=str)
        with atomic_path(self.path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{_META: np.array(record)}, **arrays)

    def load(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The arrays and meta of the checkpoint, checked against this run's identity."""
        meta = read_meta(self.path)
        self.check(meta)
        with np.load(self.path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != _META}
        return arrays, meta

    def check(self, meta: dict[str, Any]) -> None:
        """An ``InputError`` naming the first key in which the checkpoint's run differs."""
        have = _flat(meta.get("identity", {}))
        want = _flat(json.loads(json.dumps(self.identity, default=str)))
        for k in sorted(set(have) | set(want)):
            if have.get(k) != want.get(k):
                msg = (
                    f"was made by another run: {k} is {have.get(k)!r} there and "
                    f"{want.get(k)!r} here"
                )
                raise InputError(msg, file=self.path)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
