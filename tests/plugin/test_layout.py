"""The package's folders keep their import rules (docs/architecture.md): no import
cycles, and layers that import one way only (capture at the bottom, plugin on top).

Imports are read with `ast`, function-level ones included (a deferred import is
still a dependency); imports under `if TYPE_CHECKING:` are not, as they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_agenttrace"
NAME = "pytest_agenttrace"

# Who may import whom at run time, by top-level part of the package ("" = the
# package's own __init__). Every part may import itself, `_errors`, `_options` and
# `_full_text`.
ALLOWED = {
    "_errors": set(),
    "_options": set(),
    "_full_text": set(),
    "capture": set(),
    "tree": {"capture"},
    "propagation": {"capture"},
    "policies": {"capture", "tree"},  # a policy selects spans with a tree line
    "remote": {"capture", "tree"},
    "report": {"capture", "tree", "propagation", "policies", "remote"},
    "redis": {"propagation"},
    "strategies": {"tree"},
    "_fixture": {"capture", "tree", "propagation", "policies", "remote"},
    "plugin": {"capture", "tree", "propagation", "policies", "remote", "report", "_fixture"},
    "": {"capture", "tree", "propagation", "policies", "_fixture"},
}
SHARED = {"_errors", "_options", "_full_text"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([NAME, *parts])


def is_package(name: str) -> bool:
    return (PACKAGE.joinpath(*name.split(".")[1:]) / "__init__.py").is_file()


def exists(name: str) -> bool:
    relative = name.split(".")[1:]
    return is_package(name) or PACKAGE.joinpath(*relative).with_suffix(".py").is_file()


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def dependencies(path: Path) -> set[str]:
    """The package's modules this module imports at run time."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    targets: set[str] = set()
    for node in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name.startswith(NAME))
            continue
        if node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            source = f"{base}.{node.module}" if node.module else base
        elif node.module and node.module.startswith(NAME):
            source = node.module
        else:
            continue
        for alias in node.names:  # `from . import _x` imports the submodule _x
            submodule = f"{source}.{alias.name}"
            targets.add(submodule if exists(submodule) else source)
    targets.discard(here)
    return targets


GRAPH = {module_name(path): dependencies(path) for path in sorted(PACKAGE.rglob("*.py"))}


def part(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_covers_every_capability() -> None:
    parts = {part(name) for name in GRAPH}
    assert {"capture", "tree", "propagation", "policies", "remote", "report"} <= parts
    assert all(target in GRAPH for targets in GRAPH.values() for target in targets)


def test_no_import_cycles() -> None:
    # Iterative DFS with colours: a grey module met again closes a cycle.
    colour: dict[str, int] = {}
    for start in GRAPH:
        if colour.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(GRAPH[start]))]
        path = [start]
        colour[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                colour[node] = 2
                stack.pop()
                path.pop()
                continue
            target = todo.pop()
            if colour.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if not colour.get(target):
                colour[target] = 1
                path.append(target)
                stack.append((target, sorted(GRAPH[target])))


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_one_way(module: str) -> None:
    allowed = ALLOWED[part(module)] | SHARED | {part(module)}
    if part(module) in SHARED:
        allowed = {part(module)}
    wrong = sorted(target for target in GRAPH[module] if part(target) not in allowed)
    assert not wrong, f"{module} may not import {wrong} (allowed: {sorted(allowed)})"


def test_the_renderer_does_not_import_the_matcher() -> None:
    assert f"{NAME}.tree._match" not in GRAPH[f"{NAME}.tree._render"]


def test_the_checker_sees_deferred_imports_and_skips_type_checking_ones(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pytest_agenttrace import plugin\n"
        "def later():\n"
        "    from pytest_agenttrace.capture import _router\n"
    )
    found = runtime_imports(ast.parse(source.read_text()))
    modules = [node.module for node in found if isinstance(node, ast.ImportFrom)]
    assert [module for module in modules if module and module.startswith(NAME)] == [
        "pytest_agenttrace.capture"
    ]
