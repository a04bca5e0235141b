"""The rooms of runner/ import one way: no module imports itself back through others (imports
inside functions count; those for annotations only, under TYPE_CHECKING, do not), and each room
imports only the rooms docs/architecture.md lists."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.helpers.paths import ROOT

PACKAGE = ROOT / "runner"
# room → the rooms it may import (top-level modules by name); docs/architecture.md says why
ALLOWED = {
    "config": {"errors"},
    "data": {"config", "errors", "console", "hub", "registry"},
    "tokenization": {"config", "data", "errors", "hub", "registry", "tracking"},
    "model": {"config", "tokenization", "errors", "hub", "registry"},
    "tracking": {"config", "errors", "console", "probe", "model", "engine", "analysis"},
    "analysis": {"config", "model", "tracking", "errors", "console"},
    "task": {"config", "errors", "tokenization"},
    "engine": {
        "config",
        "data",
        "tokenization",
        "model",
        "tracking",
        "analysis",
        "task",
        "errors",
        "console",
        "hub",
    },
}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (imports for annotations only)."""
    found: list[ast.AST] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        found.append(node)
        found += _runtime_nodes(node)
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Every runner module `path` imports when it runs: at its top or inside a function."""
    out = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("runner"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("runner")}
    return {m for m in out if m in known}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else parts[-1]


def test_no_module_imports_itself_back():
    edges = graph()
    assert len(edges) > 50
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " → ".join(path[path.index(module) :] + [module]))
        if module in done:
            return
        for target in sorted(edges[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])


def test_each_room_imports_only_the_rooms_it_may():
    used: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph().items():
        for target in targets:
            if room(target) != room(module):
                used[room(module)].add(room(target))
    assert set(ALLOWED) <= set(used) | {"config"}
    for name, allowed in ALLOWED.items():
        assert used[name] <= allowed, (name, used[name] - allowed)
