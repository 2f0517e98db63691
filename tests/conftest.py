"""Test configuration: CPU, float64, shared fixtures.

The measured data are read from ``../shared/data/vip2-2016-17/`` beside the repository,
never copied into it. Tests that need them fail (not skip) when they are missing.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)

REPO = Path(__file__).resolve().parents[1]
MEASURED_RUN = REPO / "runs" / "vip2-2016-17"
MEASURED_ROOT = REPO.parent / "shared" / "data" / "vip2-2016-17" / "energyHistograms.root"


@pytest.fixture(scope="session")
def measured_root() -> Path:
    if not MEASURED_ROOT.is_file():
        pytest.fail(f"measured data not found at {MEASURED_ROOT}: the tests need ../shared/")
    return MEASURED_ROOT


@pytest.fixture(scope="session")
def measured_campaign(measured_root):
    from bayes_vip.io.campaign import load_campaign

    return load_campaign(MEASURED_RUN)
