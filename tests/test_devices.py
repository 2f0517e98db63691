"""Devices and JAX's persistent compilation cache (``pipeline.devices``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bayes_vip.pipeline.devices import cache_dir

_COMPILE = """
import jax, jax.numpy as jnp
from bayes_vip.pipeline.devices import compilation_cache
hits = []
jax.monitoring.register_event_listener(
    lambda event, **_: hits.append(event) if event == "/jax/compilation_cache/cache_hits" else None
)
path = compilation_cache()
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.jit(lambda x: jnp.sin(x) * 3.0 + jnp.cos(x))(jnp.arange(5.0)).block_until_ready()
print(len(hits))
print(path)
"""


def test_cache_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BAYES_VIP_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.setenv("BAYES_VIP_CACHE", "off")
    assert cache_dir() is None
    monkeypatch.delenv("BAYES_VIP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "bayes_vip" / "jax"


def test_a_compiled_function_lands_in_the_cache_and_is_found_again(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["BAYES_VIP_CACHE"] = str(tmp_path / "cache")
    run = [sys.executable, "-c", _COMPILE]
    r = subprocess.run(run, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    *_, hits, path = r.stdout.strip().splitlines()
    assert Path(path) == tmp_path / "cache"
    assert int(hits) == 0  # an empty cache
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert entries  # the executable was written
    r = subprocess.run(run, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.strip().splitlines()[-2]) >= 1  # read back from the cache
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == entries  # not added
