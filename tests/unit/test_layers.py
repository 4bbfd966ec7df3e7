"""The import rules of ARCHITECTURE.md that the layer contract (lint-imports) cannot see:
heavy libraries are imported inside the functions that need them, never at module level,
and loading the pytest plugin costs next to nothing."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "stabtest"
HEAVY = {
    "torch",
    "transformers",
    "sentence_transformers",
    "trl",
    "peft",
    "label_studio_sdk",
    "matplotlib",
    "plotly",
    "hypothesis",
    "vllm",
}
# Modules whose whole purpose is the heavy library (imported only when chosen).
ALLOWED = {"stabtest/variants/strategies.py": {"hypothesis"}}


def module_level_imports(tree: ast.Module) -> set[str]:
    """Top-level names imported at module level, outside `if TYPE_CHECKING:`."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                break
            if isinstance(inner, ast.Import):
                found.update(alias.name.split(".")[0] for alias in inner.names)
            elif isinstance(inner, ast.ImportFrom) and inner.module and not inner.level:
                found.add(inner.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.relative_to(PACKAGE).as_posix()
)
def test_no_heavy_library_at_module_level(path: Path) -> None:
    relative = path.relative_to(PACKAGE.parent).as_posix()
    heavy = module_level_imports(ast.parse(path.read_text(encoding="utf-8"))) & HEAVY
    assert heavy <= ALLOWED.get(relative, set()), f"{relative} imports {heavy} at module level"


def test_loading_the_plugin_and_the_package_imports_nothing_heavy() -> None:
    probe = (
        "import json, sys; import stabtest, stabtest.pytest_plugin.plugin; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'transformers', 'numpy', 'pydantic', 'yaml', 'sentence_transformers', 'vllm'})))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(output) == []


def test_the_public_api_resolves_every_name() -> None:
    import stabtest

    for name in stabtest.__all__:
        assert getattr(stabtest, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        stabtest.nope  # noqa: B018
