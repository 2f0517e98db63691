"""How a pipeline reports progress on long work.

A reporter has ``stage(name)``, called when a step starts ("calibration", "classic fit",
"NUTS"), ``update(task, done, total, info="")`` for work that can be counted (cells, epochs,
iterations), and ``bars``: whether third-party progress bars (numpyro's) may draw on the
terminal. ``SILENT`` reports nothing; the CLI passes a terminal reporter
(``results.console.TerminalProgress``).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["SILENT", "Progress", "Silent"]


class Progress(Protocol):
    """What a pipeline calls to report progress."""

    bars: bool

    def stage(self, name: str) -> None:
        """A step of the pipeline starts."""

    def update(self, task: str, done: float, total: float | None, info: str = "") -> None:
        """``done`` of ``total`` units of ``task`` are finished (``info``: e.g. a loss)."""


class Silent:
    """A reporter that reports nothing (library use, tests, ``--json``)."""

    bars = False

    def stage(self, name: str) -> None:
        """Report nothing."""

    def update(self, task: str, done: float, total: float | None, info: str = "") -> None:
        """Report nothing."""


SILENT = Silent()
