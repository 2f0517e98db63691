"""Random seeds at the entry points, and the record of them.

Library functions take a ``numpy.random.Generator`` (``rng=``) or a JAX key (``key=``),
keyword-only; integer seeds become generators and keys only in the pipeline and the CLI.
``seed_of`` recovers, for the record, the seed a generator was made from. This module
imports nothing from the package, so every layer may use it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["seed_of"]


def seed_of(rng: np.random.Generator) -> int | None:
    """The integer seed a generator was made from (``numpy.random.default_rng(seed)``).

    For the record; None when it was made otherwise (from OS entropy or a spawned sequence).
    """
    seq = getattr(rng.bit_generator, "seed_seq", None)
    entropy = getattr(seq, "entropy", None)
    if isinstance(entropy, int) and not getattr(seq, "spawn_key", ()):
        return entropy
    return None
