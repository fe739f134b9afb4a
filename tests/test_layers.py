"""The layout shows the architecture: each layer imports only those below it, and no module-level import
cycle exists anywhere (the emulator included). Read from the source with `ast`, as Python would run it:
module-level imports only (not those inside functions, nor under `if TYPE_CHECKING:`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["portal", "deployments", "audit", "stops", "appconfig_emulator"]

# Bottom up. A module belongs to the most specific prefix listed; unlisted portal modules are the bottom.
LAYERS = [
    ["deployments.models", "deployments.appconfig", "portal"],
    ["deployments.access"],
    ["audit"],
    ["deployments"],
    ["stops"],
    [
        "portal.urls",
        "portal.celery",
        "portal.wsgi",
        "portal.health",
        "portal.devrun",
        "portal.__init__",
        "portal.apps",
        "portal.sessions",
        "portal.lockout",
        "portal.sso",
        "portal.signin",
        "portal.metrics",
        "portal.logs",
        "portal.management",
    ],
]


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module `name` refers to (a package's `__init__`), or None for a library."""
    if name in MODULES:
        return name
    if f"{name}.__init__" in MODULES:
        return f"{name}.__init__"
    return None


def _package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:-1]) if parts[-1] != "__init__" else ".".join(parts[:-1])


def _under_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    imported: set[str] = set()

    def walk(body):
        for node in body:
            if isinstance(node, ast.If) and not _under_type_checking(node):
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if target := _resolve(alias.name):
                        imported.add(target)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = _package_of(module).split(".")
                    package = package[: len(package) - node.level + 1]
                    base = ".".join([*package, base] if base else package)
                for alias in node.names:
                    target = _resolve(f"{base}.{alias.name}") or _resolve(base)
                    if target:
                        imported.add(target)

    walk(tree.body)
    imported.discard(module)
    return imported


GRAPH = {module: _module_level_imports(module) for module in MODULES}


def _layer(module: str) -> int | None:
    if module.startswith("appconfig_emulator"):
        return None  # standalone: it imports nothing of the console, and nothing of it is layered
    name = module.removesuffix(".__init__") if module != "portal.__init__" else module
    best, best_length = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    return best


def test_it_finds_the_projects_modules():
    assert {"deployments.access", "stops.services", "audit.records", "portal.http"} <= set(MODULES)
    assert GRAPH["stops.services"] >= {"deployments.access", "audit.records", "stops.tasks"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith("appconfig_emulator")))
def test_it_imports_no_layer_above_its_own(module):
    own = _layer(module)
    upward = sorted(target for target in GRAPH[module] if (_layer(target) or 0) > own)
    assert not upward, f"{module} (layer {own}) imports {upward} from a layer above"


def test_it_keeps_the_emulator_free_of_the_console():
    for module, targets in GRAPH.items():
        if module.startswith("appconfig_emulator"):
            assert all(t.startswith("appconfig_emulator") for t in targets), module


def test_it_has_no_module_level_import_cycle():
    visiting, done, cycles = set(), set(), []

    def visit(module, path):
        if module in done:
            return
        if module in visiting:
            cycles.append(path[path.index(module) :] + [module])
            return
        visiting.add(module)
        for target in sorted(GRAPH[module]):
            visit(target, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
