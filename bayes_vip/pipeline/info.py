"""``bayes-vip info``: what a run holds (periods, SDDs, batches, counts, binning)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayes_vip.io.campaign import load_campaign, summary
from bayes_vip.pipeline.progress import SILENT, Progress
from bayes_vip.pipeline.simulate import ensure_demo

__all__ = ["info"]


def info(run: Path, *, progress: Progress = SILENT) -> dict[str, Any]:
    """The summary of ``run``'s Campaign (``io.campaign.summary``)."""
    return summary(load_campaign(ensure_demo(run, progress=progress)))
