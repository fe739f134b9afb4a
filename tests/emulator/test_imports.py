"""No module of appconfig_emulator imports, at module level, a module that (directly or not) imports it back.

Imports are read from the source with `ast`, not by importing: every import statement that runs when the
module is loaded counts, including those under `if TYPE_CHECKING:` (a cycle for the type checker only is
still two modules that each need the other); imports inside functions and classes do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import appconfig_emulator

PACKAGE_DIR = Path(appconfig_emulator.__file__).parent


def _module_level_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run on import: the top level, and the blocks of top-level if/try/with statements."""
    statements: list[ast.stmt] = []
    for statement in body:
        statements.append(statement)
        if isinstance(statement, ast.If):
            statements.extend(_module_level_statements(statement.body + statement.orelse))
        elif isinstance(statement, ast.Try):
            blocks = statement.body + statement.orelse + statement.finalbody
            for handler in statement.handlers:
                blocks += handler.body
            statements.extend(_module_level_statements(blocks))
        elif isinstance(statement, ast.With):
            statements.extend(_module_level_statements(statement.body))
    return statements


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module name (without the package) -> the package's modules it imports at module level."""
    package = package_dir.name
    modules = {path.stem for path in package_dir.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for module in sorted(modules):
        tree = ast.parse((package_dir / f"{module}.py").read_text(encoding="utf-8"))
        targets: set[str] = set()
        for statement in _module_level_statements(tree.body):
            if isinstance(statement, ast.Import):
                for alias in statement.names:
                    parts = alias.name.split(".")
                    if parts[0] == package:
                        targets.add(parts[1] if len(parts) > 1 else "__init__")
            elif isinstance(statement, ast.ImportFrom):
                if statement.level == 0 and statement.module and statement.module.split(".")[0] == package:
                    parts = statement.module.split(".")[1:]
                elif statement.level == 1:
                    parts = statement.module.split(".") if statement.module else []
                else:
                    continue  # outside the package
                if parts:
                    targets.add(parts[0])
                else:  # `from . import a, b` names submodules (or, failing that, the package itself)
                    targets.update(a.name if a.name in modules else "__init__" for a in statement.names)
        graph[module] = targets & modules - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that ends where it starts, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        for target in sorted(graph.get(module, ())):
            cycle = visit(target, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_it_has_no_module_level_import_cycle():
    graph = import_graph(PACKAGE_DIR)
    assert "emulator" in graph and "server" in graph["emulator"]  # the graph really was read
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_it_keeps_fault_and_counter_state_below_the_control_interface():
    graph = import_graph(PACKAGE_DIR)
    for below in ("faults", "counters"):
        assert "control" not in graph[below] and "emulator" not in graph[below]


def test_it_finds_a_cycle_through_a_type_checking_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .a import A\n")
    (package / "a.py").write_text("from . import b\n\nclass A:\n    pass\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg.c import C\n"
    )
    (package / "c.py").write_text("from .a import A\n\ndef f():\n    from . import b\n")

    assert find_cycle(import_graph(package)) == ["a", "b", "c", "a"]


def test_it_ignores_imports_inside_functions(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("def f():\n    from . import a\n")

    assert import_graph(package) == {"__init__": set(), "a": {"b"}, "b": set()}
    assert find_cycle(import_graph(package)) is None
