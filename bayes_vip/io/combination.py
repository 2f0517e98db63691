"""A combination's folder: ``combination.toml`` names the runs analysed together.

``bayes-vip fit RUN1 RUN2 ...`` and ``bayes-vip sample RUN1 RUN2 ...`` write it
(``pipeline.combine``); ``bayes-vip report FOLDER`` reads it.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from bayes_vip.errors import InputError
from bayes_vip.io.atomic import atomic_path
from bayes_vip.io.manifest import Manifest

__all__ = ["COMBINATION", "combination_runs", "write_combination"]

#: The combination folder's file naming its runs.
COMBINATION = "combination.toml"


def write_combination(out: Path, mans: list[Manifest]) -> Path:
    """``OUT/combination.toml``: the runs' folders (relative to ``out``) and names."""
    import tomli_w

    out.mkdir(parents=True, exist_ok=True)
    table = {
        "schema": 1,
        "combination": {
            "name": "+".join(m.name for m in mans),
            "runs": [os.path.relpath(m.run_dir.resolve(), out.resolve()) for m in mans],
            "names": [m.name for m in mans],
        },
    }
    path = out / COMBINATION
    with atomic_path(path) as tmp:
        tmp.write_text(
            "# runs analysed together (bayes-vip fit/sample RUN1 RUN2 ...)\n" + tomli_w.dumps(table)
        )
    return path


def combination_runs(folder: str | os.PathLike[str]) -> list[Path] | None:
    """The run folders of a combination folder (None where ``folder`` is none)."""
    path = Path(folder) / COMBINATION
    if not path.is_file():
        return None
    try:
        table = tomllib.loads(path.read_text())["combination"]
        runs = [Path(folder) / p for p in table["runs"]]
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        msg = f"not a combination file ({type(exc).__name__}: {exc})"
        raise InputError(msg, file=path) from None
    return runs
