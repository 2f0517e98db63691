"""Regression: two end-to-end commands give the golden numbers to 1e-9 relative.

The golden numbers are in tests/golden/, made by tests/golden/make_golden.py; a kind of
machine whose CPU gives other rounding keeps its own set in tests/golden/platforms/TAG/
(``make_golden.platform_tag``, ``python tests/golden/make_golden.py --platform``).

Only the keys the golden files hold are compared, so a result may gain new entries; every
number it already had must stay. The sample golden holds the posterior draws themselves.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.golden import make_golden

RTOL = 1e-9


def _compare(golden, got, path="") -> list[str]:
    """Differences between ``golden`` and ``got`` (numbers at RTOL, the rest exactly)."""
    if isinstance(golden, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected a mapping, got {type(got).__name__}"]
        out = []
        for k, v in golden.items():
            if k not in got:
                out.append(f"{path}.{k}: missing")
            else:
                out += _compare(v, got[k], f"{path}.{k}")
        return out
    if isinstance(golden, list):
        if not isinstance(got, list) or len(got) != len(golden):
            return [f"{path}: expected a list of {len(golden)}, got {got!r:.80}"]
        return [
            d
            for i, (a, b) in enumerate(zip(golden, got, strict=True))
            for d in _compare(a, b, f"{path}[{i}]")
        ]
    if isinstance(golden, float) and not isinstance(got, bool) and isinstance(got, int | float):
        if golden == got or abs(got - golden) <= RTOL * abs(golden):
            return []
        return [f"{path}: {got!r} != golden {golden!r}"]
    return [] if golden == got else [f"{path}: {got!r} != golden {golden!r}"]


def test_compare_finds_a_change_at_the_tenth_digit():
    g = {"a": [1.0, {"b": 2.0}], "c": "x"}
    assert _compare(g, {"a": [1.0, {"b": 2.0 * (1 + 5e-10)}], "c": "x", "new": 1}) == []
    assert _compare(g, {"a": [1.0, {"b": 2.0 * (1 + 2e-9)}], "c": "x"}) != []
    assert _compare(g, {"a": [1.0, {}], "c": "x"}) == [".a[1].b: missing"]


@pytest.mark.slow
def test_fit_measured_matches_the_golden_values(tmp_path, measured_root):
    golden = json.loads((make_golden.golden_dir() / "fit_measured.json").read_text())
    diffs = _compare(golden, make_golden.run_fit_measured(tmp_path))
    assert not diffs, "\n".join(diffs[:20])


@pytest.mark.slow
def test_sample_demo_draws_match_the_golden_values(tmp_path):
    golden = json.loads((make_golden.golden_dir() / "sample_demo.json").read_text())
    res, draws = make_golden.run_sample_demo(tmp_path)
    diffs = _compare(golden, res)
    with np.load(make_golden.golden_dir() / "sample_demo_draws.npz") as g:
        for k in g.files:
            if k not in draws:
                diffs.append(f"draws {k}: missing")
            elif not np.allclose(draws[k], g[k], rtol=RTOL, atol=0.0, equal_nan=True):
                err = np.nanmax(np.abs(draws[k] - g[k]) / np.abs(g[k]))
                diffs.append(f"draws {k}: max relative difference {err:.2e}")
    assert not diffs, "\n".join(diffs[:20])
