"""The blocks layer stands below results and flows, and its filesystems package is pure."""

import ast
from pathlib import Path

import apps.blocks

BLOCKS = Path(apps.blocks.__file__).parent
LOWER_LAYER_MODULES = ["__init__.py", "models.py", "services.py", "secrets.py", "sdk.py"]


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module or "")
    return names


def test_models_and_services_import_nothing_from_results_or_flows():
    for name in LOWER_LAYER_MODULES:
        upward = {m for m in _imported_modules(BLOCKS / name) if m.startswith(("apps.results", "apps.flows"))}
        assert upward == set(), name


def test_the_filesystems_package_imports_neither_django_nor_the_rest_of_the_app():
    modules = sorted((BLOCKS / "filesystems").glob("*.py"))
    assert len(modules) >= 7
    for path in modules:
        imported = _imported_modules(path)
        assert not {m for m in imported if m.split(".")[0] == "django" or m.startswith("apps.")}, path.name
        assert len(path.read_text().splitlines()) <= 800, path.name
