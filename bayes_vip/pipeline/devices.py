"""The devices JAX runs on, set at the program's entry point.

On a CPU, JAX sees one device unless told otherwise before it loads; NUTS chains then run
one after the other. ``host_devices(n)`` asks XLA for ``n`` host devices, so that ``n``
chains run in parallel on the cores (they share the cores when there are more chains). It
must run before JAX is first imported: the CLI calls it once the configuration is known.
"""

from __future__ import annotations

import os
import sys

__all__ = ["MAX_HOST_DEVICES", "host_devices"]

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
