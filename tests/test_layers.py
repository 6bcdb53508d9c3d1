"""The house rules, checked on the code's own imports.

- Apps form layers: core (ground floor) <- blocks <- results <- flows; `project` sits on top and
  may see every app. A module never imports from an app above its own.
- Web modules (views, API, admin, forms, URLs, template tags, management commands) may also call
  the services of a higher app, never its models or its web modules; models and services never
  call upward.
- The pure packages (formats, serializers, records, filesystems, previews) import nothing from
  Django and nothing of the project outside the pure packages.
- No private name crosses a module boundary, by `from m import _x` or by `m._x`.
- There is no import cycle between apps, and no module-level import cycle between modules.
- No module is longer than 800 lines (migrations aside).

Each rule is a function over parsed sources, so the first tests show that each rule catches the
mistake it is about before the last ones apply it to the tree.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"core": 0, "blocks": 1, "results": 2, "flows": 3, "prefect_servers": 4}
TOP = 9  # project/ and resultdeck/: the front door, which sees everything
PURE = (
    "apps.blocks.filesystems",
    "apps.results.format",
    "apps.results.preview",
    "apps.results.serializers",
    "apps.results.store",
    "apps.results.records",
    "apps.prefect_servers.client",
)
WEB_NAMES = {"views", "api", "admin", "forms", "urls", "templatetags", "commands"}
MAX_LINES = 800


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (for `from a import b`: a.b if a.b is a module, else a)
    names: tuple[str, ...]
    line: int
    top_level: bool


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    """Every import in a module, function-level ones included, with relative ones made absolute."""
    tree = ast.parse(source)
    found: list[Import] = []
    top_level_nodes = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        top = id(node) in top_level_nodes
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, (), node.lineno, top))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            names = tuple(alias.name for alias in node.names)
            found.append(Import(module, base, names, node.lineno, top))
    return found


def app_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "apps" and len(parts) > 1:
        return parts[1]
    if parts[0] in {"project", "resultdeck"}:
        return parts[0]
    return None


def layer_of(module: str) -> int | None:
    app = app_of(module)
    if app in LAYERS:
        return LAYERS[app]
    if app in {"project", "resultdeck"}:
        return TOP
    return None


def is_web(module: str) -> bool:
    parts = module.split(".")
    return any(part in WEB_NAMES or part.startswith(("views_", "api_")) for part in parts[2:])


def is_pure(module: str) -> bool:
    return any(module == pure or module.startswith(pure + ".") for pure in PURE)


def layer_violations(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        source_layer, target_layer = layer_of(imp.module), layer_of(imp.target)
        if source_layer is None or target_layer is None or target_layer <= source_layer:
            continue
        if is_web(imp.module) and not is_web(imp.target) and not imp.target.endswith(".models"):
            continue  # a web module may call a higher app's services
        problems.append(f"{imp.module}:{imp.line} imports {imp.target} from a higher layer")
    return problems


def purity_violations(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        if not is_pure(imp.module):
            continue
        root = imp.target.split(".")[0]
        if root in {"django", "rest_framework", "celery", "django_htmx"} or (
            root in {"apps", "project"} and not is_pure(imp.target)
        ):
            problems.append(f"{imp.module}:{imp.line} is pure but imports {imp.target}")
    return problems


def private_violations(imports: list[Import], attribute_uses: list[tuple[str, str, str, int]]) -> list[str]:
    problems = []
    for imp in imports:
        if imp.target.split(".")[0] not in {"apps", "project", "resultdeck"}:
            continue
        for name in imp.names:
            if name.startswith("_") and not name.startswith("__"):
                problems.append(f"{imp.module}:{imp.line} imports private {imp.target}.{name}")
    for module, target, name, line in attribute_uses:
        problems.append(f"{module}:{line} uses private {target}.{name}")
    return problems


def private_attribute_uses(
    source: str, module: str, imports: list[Import], *, modules: set[str]
) -> list[tuple[str, str, str, int]]:
    """`alias._name` where alias is a project module imported by this one."""
    aliases: dict[str, str] = {}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in {"apps", "project", "resultdeck"}:
                    aliases[alias.asname or alias.name] = alias.name
    for imp in imports:  # `from apps.x import module` binds a module name too
        for name in imp.names:
            if f"{imp.target}.{name}" in modules:
                aliases.setdefault(name, f"{imp.target}.{name}")
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            target = aliases.get(node.value.id)
            if target and node.attr.startswith("_") and not node.attr.startswith("__"):
                uses.append((module, target, node.attr, node.lineno))
    return uses


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


# --- the tree -----------------------------------------------------------------------------------


def tree_sources() -> dict[str, tuple[Path, str]]:
    sources = {}
    for folder in ("apps", "project", "resultdeck"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            sources[module_name(path)] = (path, path.read_text())
    return sources


@pytest.fixture(scope="module")
def tree():
    sources = tree_sources()
    imports = {
        module: imports_of(text, module, is_package=path.name == "__init__.py")
        for module, (path, text) in sources.items()
    }
    return sources, imports


def resolve_target(imp: Import, modules: set[str]) -> list[str]:
    """The project modules an import loads: `from a import b` loads a.b when that is a module."""
    loaded = [imp.target] if imp.target in modules else []
    loaded += [f"{imp.target}.{name}" for name in imp.names if f"{imp.target}.{name}" in modules]
    return loaded


# --- each rule catches its mistake ----------------------------------------------------------------


def test_an_import_from_a_higher_layer_is_caught():
    service = imports_of("from apps.results.models import ResultReference\n", "apps.blocks.services")
    view_to_model = imports_of("from apps.flows.models import FlowRun\n", "apps.results.views")
    inside_function = imports_of("def f():\n    from apps.flows import engine\n", "apps.core.roles")
    assert layer_violations(service) == [
        "apps.blocks.services:1 imports apps.results.models from a higher layer"
    ]
    assert len(layer_violations(view_to_model)) == 1
    assert len(layer_violations(inside_function)) == 1


def test_web_modules_may_call_higher_services_and_anyone_may_import_lower():
    allowed = imports_of("from apps.results.block_removal import block_delete\n", "apps.blocks.views")
    lower = imports_of("from apps.blocks.models import StorageBlock\n", "apps.flows.engine.recorder")
    relative = imports_of("from ..models import FlowRun\n", "apps.flows.engine.recorder")
    assert layer_violations(allowed) == []
    assert layer_violations(lower) == []
    assert relative[0].target == "apps.flows.models"
    assert layer_violations(relative) == []


def test_django_in_a_pure_package_is_caught():
    direct = imports_of("import django.db\n", "apps.results.format.codecs")
    lazy = imports_of(
        "def f():\n    from apps.blocks.sdk import filesystem_save\n", "apps.blocks.filesystems.base"
    )
    pure_to_pure = imports_of("from apps.results.format import codecs\n", "apps.results.preview.values")
    assert len(purity_violations(direct)) == 1
    assert len(purity_violations(lazy)) == 1
    assert purity_violations(pure_to_pure) == []


def test_a_private_name_across_modules_is_caught():
    source = (
        "from apps.flows.engine import _history_add\nfrom apps.results import purge\npurge._audit_add()\n"
    )
    imports = imports_of(source, "apps.flows.submission")
    uses = private_attribute_uses(source, "apps.flows.submission", imports, modules={"apps.results.purge"})
    assert private_violations(imports, uses) == [
        "apps.flows.submission:1 imports private apps.flows.engine._history_add",
        "apps.flows.submission:3 uses private apps.results.purge._audit_add",
    ]


def test_a_cycle_is_caught():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# --- the tree keeps them --------------------------------------------------------------------------


def test_no_module_imports_from_a_higher_layer(tree):
    _, imports = tree
    problems = [p for found in imports.values() for p in layer_violations(found)]
    assert problems == []


def test_pure_packages_import_no_django(tree):
    sources, imports = tree
    assert all(any(m == p or m.startswith(p + ".") for m in sources) for p in PURE), (
        "a pure module is missing"
    )
    problems = [p for found in imports.values() for p in purity_violations(found)]
    assert problems == []


def test_no_private_name_crosses_a_module(tree):
    sources, imports = tree
    problems = []
    for module, (_, text) in sources.items():
        uses = private_attribute_uses(text, module, imports[module], modules=set(sources))
        problems += private_violations(imports[module], uses)
    assert problems == []


def test_no_import_cycle_between_apps(tree):
    _, imports = tree
    edges: dict[str, set[str]] = {}
    for module, found in imports.items():
        if is_web(module):
            continue  # the page layer may reach sideways; the apps' own code may not
        for imp in found:
            source, target = app_of(module), app_of(imp.target)
            if source and target and source != target:
                edges.setdefault(source, set()).add(target)
    assert cycles(edges) == []


def test_no_module_level_import_cycle(tree):
    sources, imports = tree
    modules = set(sources)
    edges = {
        module: {t for imp in found if imp.top_level for t in resolve_target(imp, modules) if t != module}
        for module, found in imports.items()
    }
    # A package's __init__ re-exporting its submodules is how a package speaks; not a cycle.
    for module in edges:
        edges[module] = {t for t in edges[module] if not module.startswith(t + ".")}
    assert cycles(edges) == []


def test_no_module_is_over_800_lines(tree):
    sources, _ = tree
    long = {module: text.count("\n") for module, (_, text) in sources.items() if text.count("\n") > MAX_LINES}
    assert long == {}
