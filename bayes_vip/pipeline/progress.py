"""How a pipeline reports progress on long work.

A reporter has ``stage(name)``, called when a step starts ("calibration", "classic fit",
"NUTS"), and ``update(task, done, total, info="")`` for work that can be counted (cells,
epochs, iterations). ``info`` is a note (``"val loss 1.2e-03"``) or named values, a mapping:
the sampler reports ``{"phase": "warm-up", "chains": "4 chains", "divergences": 0,
"step size": 0.31, "details": {...}}``; a reporter shows a str value as it is, a number
after its name, and ``details`` (a mapping of the same kind) only when asked for more
(``--verbose``); ``results.console.describe`` writes either form as one line of text.

``bars`` is kept for reporters written against the first version of this protocol: it said
whether numpyro's own progress bars might draw on the terminal; the package's samplers
report through ``update`` now and draw no bars of their own. ``SILENT`` reports nothing; the
CLI passes a terminal reporter (``results.console.TerminalProgress``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["SILENT", "Info", "Progress", "Silent"]

#: What ``update`` carries besides the count: a note, or named values.
Info = str | Mapping[str, Any]


class Progress(Protocol):
    """What a pipeline calls to report progress."""

    bars: bool

    def stage(self, name: str) -> None:
        """A step of the pipeline starts."""

    def update(self, task: str, done: float, total: float | None, info: Info = "") -> None:
        """``done`` of ``total`` units of ``task`` are finished (``info``: e.g. a loss)."""


class Silent:
    """A reporter that reports nothing (library use, tests, ``--json``)."""

    bars = False

    def stage(self, name: str) -> None:
        """Report nothing."""

    def update(self, task: str, done: float, total: float | None, info: Info = "") -> None:
        """Report nothing."""


SILENT = Silent()
