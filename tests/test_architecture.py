"""The layers of DESIGN.md keep imports one-way, and ``import cytoplan`` stays cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cytoplan"

#: top-level module or package of cytoplan → layer (DESIGN.md, "Layers")
LAYERS = {
    "exceptions": 0,
    "_typing": 0,
    "config": 0,
    "schema": 1,
    "query": 1,
    "io": 2,
    "stats": 2,
    "ops": 3,
    "api": 4,
    "pipeline": 4,
    "testing": 4,
    "recipe": 5,
    "executors": 5,
    "cli": 6,
    "compat": 6,
}
#: pairs that may not import each other even though they sit in allowed layers
INDEPENDENT = {("io", "ops"), ("ops", "io"), ("io", "stats"), ("stats", "io")}


def _part(module_path: Path) -> str:
    relative = module_path.relative_to(SRC)
    return relative.parts[0].removesuffix(".py")


def _imported_parts(module_path: Path) -> set[str]:
    tree = ast.parse(module_path.read_text())
    parts: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            if name.startswith("cytoplan."):
                parts.add(name.split(".")[1])
    return parts


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


@pytest.mark.parametrize("module_path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layers(module_path: Path) -> None:
    own = _part(module_path)
    assert own in LAYERS, f"{own} has no layer in DESIGN.md; add it to LAYERS"
    for imported in _imported_parts(module_path) - {own}:
        assert imported in LAYERS, f"{module_path} imports unknown part cytoplan.{imported}"
        assert LAYERS[imported] <= LAYERS[own], (
            f"{module_path.relative_to(SRC)} (layer {LAYERS[own]}) imports cytoplan.{imported} "
            f"(layer {LAYERS[imported]})"
        )
        assert (own, imported) not in INDEPENDENT, f"{own} must not import {imported}"


def test_import_cytoplan_is_cheap() -> None:
    code = (
        "import sys, cytoplan\n"
        "heavy = [m for m in ('numpy', 'duckdb', 'pandas', 'yaml', 'scipy', 'sqlalchemy')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve() -> None:
    import cytoplan

    missing = [name for name in cytoplan.__all__ if not hasattr(cytoplan, name)]
    assert missing == []
