"""Figures quoted in the docs say how they were made.

Every docs/figures/*.json records the command and the commit, and no path of the machine
that made it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bayes_vip.io.provenance import provenance, scrub

FIGURES = sorted((Path(__file__).resolve().parents[1] / "docs" / "figures").glob("*.json"))


def _strings(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


@pytest.mark.parametrize("path", FIGURES, ids=[p.name for p in FIGURES])
def test_every_figure_json_names_its_command_and_commit(path):
    rec = json.loads(path.read_text())
    prov = rec["provenance"]
    assert prov["command"].startswith(("python docs/scripts/", "python benchmarks/"))
    assert re.fullmatch(r"[0-9a-f]{40}", prov["commit"])
    machine_paths = [s for s in _strings(rec) if s.startswith("/")]
    assert not machine_paths


def test_provenance_makes_paths_relative_and_drops_foreign_ones(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    p = provenance([str(repo / "docs" / "scripts" / "x.py"), "--out", str(tmp_path / "o.json")])
    assert p["command"] == "python docs/scripts/x.py --out o.json"
    assert re.fullmatch(r"[0-9a-f]{40}", p["commit"])
    out = scrub({"run": str(repo / "runs" / "demo"), "tmp": [str(tmp_path / "a")], "n": 1})
    assert out == {"run": "runs/demo", "tmp": ["a"], "n": 1}
