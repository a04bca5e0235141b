"""The rooms of runner/ import one way: no module imports itself back through others, and no
module imports a room on a higher floor (FLOORS; docs/architecture.md) — imports inside
functions and those for annotations only (under TYPE_CHECKING) count alike."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.paths import ROOT

PACKAGE = ROOT / "runner"
# The floors of runner/, bottom first: a module imports only from its own room or a lower floor —
# at its top, inside a function, or for annotations only (docs/architecture.md says why).
FLOORS = [
    {"errors", "reach"},  # one-line errors and their classification; a socket's answer
    {"config", "console", "registry"},  # the typed schema, tag keys, names; console output; registries
    {"tracking", "hub"},  # MLflow behind one protocol; the hub's reachability and local checks
    {"data"},
    {"tokenization"},
    {"model", "task"},  # bodies and heads; the probe
    {"analysis"},  # a sweep's runs read back: comparison, verdict, invariance, conclusion
    {"engine"},  # one run, one job, one sweep
    {"api", "cli", "commands", "__main__", "runner"},  # the entry points
]
FLOOR = {name: n for n, rooms in enumerate(FLOORS) for name in rooms}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _runtime_nodes(tree: ast.AST, annotations: bool = False) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (imports for annotations only), unless
    `annotations`."""
    found: list[ast.AST] = []
    for node in ast.iter_child_nodes(tree):
        if not annotations and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        found.append(node)
        found += _runtime_nodes(node, annotations)
    return found


def imports(path: Path, known: dict[str, Path], annotations: bool = False) -> set[str]:
    """Every runner module `path` imports when it runs (at its top or inside a function), and
    with `annotations` those it imports for annotations only."""
    out = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8")), annotations):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("runner"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("runner")}
    return {m for m in out if m in known}


def graph(annotations: bool = False) -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known, annotations) - {name} for name, path in known.items()}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else parts[-1]


def test_no_module_imports_itself_back():
    edges = graph(annotations=True)  # imports for annotations count: a signature depends on them
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


def _up(module: str, target: str) -> bool:
    """An arrow to a higher floor, or across one floor (the entry points may call each other)."""
    top = len(FLOORS) - 1
    return FLOOR[target] > FLOOR[module] or (FLOOR[target] == FLOOR[module] and FLOOR[module] != top)


def test_no_arrow_runs_back_up_a_floor():
    """Annotations included: what a module names in a signature it depends on."""
    edges = graph(annotations=True)
    rooms = {room(m) for m in edges}
    assert rooms <= set(FLOOR), rooms - set(FLOOR)  # every room has its floor
    up = sorted(
        f"{module} → {target}"
        for module, targets in edges.items()
        for target in targets
        if room(target) != room(module) and _up(room(module), room(target))
    )
    assert up == [], up
