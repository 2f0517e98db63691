"""The package's layers (docs/architecture.md).

No module imports from a higher layer, there are no import cycles, imports between the
package's own modules sit at the top of the file unless they are heavy, and the command line
answers without loading JAX.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayes_vip"

#: Layers, bottom to top (docs/architecture.md). A module may import its own layer and those
#: below it. ``bayes`` sits above ``analysis``: the Bayesian model reuses the classic
#: definitions (lines of the region, the exposure), never the reverse.
LAYERS = {
    "errors": 0,
    "seeding": 0,
    "physics": 1,
    "io": 2,
    "simulate": 3,
    "calibration": 4,
    "analysis": 5,
    "bayes": 6,
    "results": 7,
    "pipeline": 8,
    "studies": 8,
    "cli": 9,
    "__init__": 0,
}
#: Third-party modules whose import takes about a second or more on 2 cores (JAX and
#: friends; xarray 0.8 s, scipy.stats 0.9 s, xraydb 0.7 s, pandas 0.5 s): a lazy import of
#: an own module is justified only when that module pulls one of these in.
HEAVY = (
    "jax", "jaxlib", "numpyro", "flax", "optax", "arviz", "iminuit", "matplotlib", "uproot",
    "xarray", "pandas", "xraydb", "pyarrow", "dask", "scipy.stats", "scipy.optimize",
    "scipy.signal", "scipy.ndimage", "scipy.integrate", "h5netcdf",
)  # fmt: skip


def _is_heavy_name(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in HEAVY)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else "__init__"]


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at top level) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(n) for n in tree.body}
    for n in tree.body:  # `if TYPE_CHECKING:` blocks count as top level
        if isinstance(n, ast.If):
            top |= {id(m) for m in n.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
            # `from bayes_vip.physics import lines` imports the module bayes_vip.physics.lines;
            # `from scipy import integrate` is kept as scipy.integrate (its cost is the
            # submodule's)
            own = node.module.split(".")[0] == "bayes_vip"
            mods = [n if not own or _is_module(n) else node.module for n in names]
            out += [(m, node.lineno, id(node) in top) for m in dict.fromkeys(mods)]
    return out


def _is_module(name: str) -> bool:
    p = PACKAGE.parent / Path(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {m: _imports(p) for m, p in MODULES.items()}


def _heavy(module: str, seen: frozenset = frozenset()) -> bool:
    """Whether importing ``module`` loads a heavy third-party package."""
    for name, _, at_top in GRAPH[module]:
        if not at_top:
            continue
        if _is_heavy_name(name):
            return True
        if (
            name.startswith("bayes_vip")
            and name in GRAPH
            and name not in seen
            and _heavy(name, seen | {module})
        ):
            return True
    return False


def test_every_module_has_a_layer():
    for m in MODULES:
        _layer(m)  # KeyError names a subpackage missing from LAYERS


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"{m}:{line} imports {name} (layer {_layer(name)} > {_layer(m)})"
        for m, imports in GRAPH.items()
        for name, line, _ in imports
        if name.startswith("bayes_vip.") and name in GRAPH and _layer(name) > _layer(m)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = {
        m: {n for n, _, _ in imps if n.startswith("bayes_vip") and n in GRAPH and n != m}
        for m, imps in GRAPH.items()
    }
    # a package's __init__ is imported with each of its modules: not an edge of a cycle
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(" -> ".join([*stack[stack.index(n) :], n]))
            elif n not in state:
                visit(n, [*stack, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_lazy_imports_of_own_modules_are_heavy():
    bad = [
        f"{m}:{line} imports {name} inside a function, but it is light: import it at the top"
        for m, imports in GRAPH.items()
        for name, line, at_top in imports
        if name.startswith("bayes_vip") and name in GRAPH and not at_top and not _heavy(name)
    ]
    assert not bad, "\n".join(bad)


def test_the_checks_see_a_violation(tmp_path):
    """The helpers do find an upward import and a light lazy import when there is one."""
    f = tmp_path / "x.py"
    f.write_text("import os\n\ndef g():\n    from bayes_vip.pipeline import fit\n")
    assert _imports(f) == [("os", 1, True), ("bayes_vip.pipeline.fit", 4, False)]
    assert _layer("bayes_vip.pipeline.fit") > _layer("bayes_vip.physics.lines")
    assert not _heavy("bayes_vip.errors")
    assert _heavy("bayes_vip.physics.response")


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["sample", "--prior-upper", "-1"], ["fit", "--signal-energy", "abc"]],
)
def test_the_cli_answers_without_loading_jax(argv, tmp_path):
    """--version and option errors come before any heavy import (that is why they are fast)."""
    code = (
        "import sys\nfrom bayes_vip.cli import main\n"
        f"rc = main({argv!r})\n"
        "print('RC', rc, 'jax' in sys.modules)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    rc, jax_loaded = r.stdout.split()[-2:]
    assert jax_loaded == "False", r.stdout
    if argv != ["--version"]:
        assert rc == "2"
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert argv[1] in lines[0], r.stderr
        assert list(tmp_path.iterdir()) == []  # no demo simulated, nothing written


def test_the_readme_layout_and_the_architecture_page_match_the_tree():
    """The README's layout and docs/architecture.md name every part of the package.

    Every subpackage and top-level module is in both, every module has its row in the
    architecture page, and the import test's layers are exactly the package's parts.
    """
    repo = PACKAGE.parent
    readme = (repo / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    arch = (repo / "docs" / "architecture.md").read_text()
    parts = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    parts |= {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    for part in sorted(parts):
        assert f"bayes_vip/{part}" in layout, part
        assert part in arch, part
    # every layer of the import test is a real part of the package
    assert set(LAYERS) - {"__init__"} == {p.removesuffix(".py") for p in parts}
    for m in MODULES:  # every module has its row in the architecture page
        rel = "/".join(m.split(".")[1:])
        if rel:  # the package itself has no row
            assert f"`{rel}.py`" in arch or f"`{rel}/" in arch, rel
