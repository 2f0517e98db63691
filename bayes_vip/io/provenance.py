"""Provenance of a figure or a benchmark: the command that made it and the commit of the code.

Every JSON that the README or ``docs/`` quotes (``docs/figures/*.json``, a benchmark's output)
records ``provenance``: the command as typed from the repository root, the git commit (and
whether the working tree differed from it), the package version and the date. Paths of the
machine are never recorded: ``scrub`` turns paths inside the repository into relative ones
and cuts any other absolute path to its last component.
"""

from __future__ import annotations

import datetime as _dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bayes_vip import __version__
from bayes_vip.io.atomic import write_json

__all__ = ["REPO", "provenance", "record", "scrub", "write_record"]

#: The repository root (the folder holding ``bayes_vip/``).
REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def _relative(arg: str) -> str:
    p = Path(arg)
    if p.is_absolute():
        try:
            return str(p.resolve().relative_to(REPO))
        except ValueError:
            return p.name
    return arg


def provenance(argv: list[str] | None = None) -> dict[str, Any]:
    """Where a result comes from: command, commit, dirty flag, version and date.

    ``command`` is ``python SCRIPT ARGS`` from the repository root, ``commit`` the git commit
    and ``dirty`` whether tracked files have uncommitted changes.
    """
    argv = sys.argv if argv is None else argv
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "command": " ".join(["python", *(_relative(a) for a in argv)]),
        "commit": _git("rev-parse", "HEAD") or "unknown",
        "dirty": bool(status) if status is not None else None,
        "bayes_vip_version": __version__,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d"),
    }


def scrub(obj: Any) -> Any:
    """``obj`` with every path inside the repository made relative to it.

    An absolute path outside it (a temporary folder, a home directory) is cut to its last
    component.
    """
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [scrub(v) for v in obj]
    if isinstance(obj, Path) or (isinstance(obj, str) and obj.startswith(os.sep)):
        return _relative(str(obj))
    return obj


def record(obj: dict[str, Any], argv: list[str] | None = None) -> dict[str, Any]:
    """``obj`` with its ``provenance`` and no path of this machine (for printed JSON)."""
    return {**scrub(obj), "provenance": provenance(argv)}


def write_record(
    path: str | os.PathLike[str], obj: dict[str, Any], argv: list[str] | None = None
) -> None:
    """Write ``obj`` as JSON with its ``provenance``, and no path of this machine."""
    write_json(path, record(obj, argv))
