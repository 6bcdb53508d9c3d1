"""apps/core is the ground floor: it imports no other app, so every app can build on it."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "apps" / "core"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_core_imports_no_other_app():
    sources = [path for path in CORE.rglob("*.py") if "migrations" not in path.parts]
    assert len(sources) > 5
    upward = {
        f"{path.relative_to(CORE)}: {name}"
        for path in sources
        for name in imported_modules(path)
        if name.startswith("apps.") and not name.startswith("apps.core")
    }
    assert upward == set()
