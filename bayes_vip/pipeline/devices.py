"""The devices JAX runs on, and its compilation cache, set at the program's entry point.

On a CPU, JAX sees one device unless told otherwise before it loads; NUTS chains then run
one after the other. ``host_devices(n)`` asks XLA for ``n`` host devices, so that ``n``
chains run in parallel on the cores (they share the cores when there are more chains). It
must run before JAX is first imported: the CLI calls it once the configuration is known.

``compilation_cache()`` points JAX's persistent compilation cache at the user's cache
directory (``$BAYES_VIP_CACHE``, else ``$XDG_CACHE_HOME/bayes_vip/jax`` or
``~/.cache/bayes_vip/jax``), so that a second run of the same layout loads its compiled
log density and sampler instead of compiling them again. ``BAYES_VIP_CACHE=off`` disables
it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["MAX_HOST_DEVICES", "cache_dir", "compilation_cache", "host_devices"]

#: At most this many host devices are requested, whatever the number of chains.
MAX_HOST_DEVICES = 16


def host_devices(n: int) -> bool:
    """Request ``min(n, MAX_HOST_DEVICES)`` XLA host devices; True if requested.

    False if it is too late (JAX already loaded) or the environment already sets a device
    count.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or "xla_force_host_platform_device_count" in flags:
        return False
    k = max(1, min(n, MAX_HOST_DEVICES))
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={k}".strip()
    return True


def cache_dir() -> Path | None:
    """The persistent compilation cache's directory; None when disabled."""
    env = os.environ.get("BAYES_VIP_CACHE")
    if env is not None:
        return None if env.lower() in ("", "off", "0", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bayes_vip" / "jax"


def compilation_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache (before or after JAX loads).

    Every compilation that takes at least 0.5 s is stored. Returns the directory, or None
    when disabled or when the environment already names a cache directory (then JAX uses
    that one).
    """
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    path = cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: run without the cache
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    # half JAX's default of 1 s: the smaller compiled pieces of a run (the constraining map,
    # the predictive, the calibration's fits) are worth keeping too; reading an entry back
    # takes milliseconds
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path
