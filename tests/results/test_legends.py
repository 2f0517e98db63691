"""Every legend in the package's figures has a fixed place.

Matplotlib's default place, ``loc="best"``, searches for the emptiest corner and warns
("can be slow with large amounts of data") when that takes more than a second, which on a
loaded machine it does for a histogram of 8000 draws: the tests turn warnings into errors, so
a figure failed or passed by the machine's load.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "bayes_vip"


def _legends_without_loc(source: str) -> list[int]:
    """Lines of the ``.legend(...)`` calls in ``source`` that give no ``loc``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "legend"
        and not any(k.arg == "loc" for k in node.keywords)
    ]


def test_the_check_sees_a_legend_without_a_place():
    assert _legends_without_loc("ax.legend(fontsize=8)\nax.legend(loc='upper left')\n") == [1]


def test_every_legend_has_a_place():
    missing = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in _legends_without_loc(path.read_text())
    ]
    assert not missing, missing
