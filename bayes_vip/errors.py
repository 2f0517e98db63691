"""Exception types of bayes_vip.

Every user mistake (a bad file, a bad manifest field, a bad argument) raises an
``InputError`` naming the file and the field. The CLI turns it into one line on stderr and
exit code 2. This module imports nothing from the package, so every layer may use it.
"""

from __future__ import annotations

__all__ = ["AnalysisError", "BayesVipError", "InputError", "SamplingFailed"]


class BayesVipError(Exception):
    """Base class of the errors the CLI reports as one line, with exit code ``exit_code``."""

    exit_code = 2


class InputError(BayesVipError):
    """Bad user input: a file, a manifest field or a command-line value.

    Parameters
    ----------
    message : what is wrong and, where possible, what was expected.
    file : the file concerned (path as the user gave it), if any.
    field : the field, key or column concerned (e.g. ``periods[1].time_s``), if any.
    """

    def __init__(self, message: str, *, file: object | None = None, field: str | None = None):
        self.file = None if file is None else str(file)
        self.field = field
        self.message = message
        parts = [p for p in (self.file, self.field) if p]
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class AnalysisError(BayesVipError):
    """An analysis could not produce a valid result (e.g. a fit that did not converge)."""


class SamplingFailed(AnalysisError):
    """The sampler cannot produce draws worth gating (every chain's warm-up collapsed).

    Exit code 3, as for a run that fails its gates: the input was valid, the sampling was not.
    """

    exit_code = 3
