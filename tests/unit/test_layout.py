"""The layout's rules, checked on the source: only the store package talks to Redis, no module
is over 400 lines, and imports form no circle, counting the ones inside functions too (so none
hides there to break one; lazy imports of heavy modules are fine as long as no circle results).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("service", "worker")
STORE = "service.core.store"


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _runtime_nodes(node: ast.AST) -> list[ast.AST]:
    """Every node below ``node`` but those under ``if TYPE_CHECKING:`` (never imported)."""
    found: list[ast.AST] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue
        found.append(child)
        found += _runtime_nodes(child)
    return found


def imported(path: Path, name: str) -> set[str]:
    """Modules named by the file's imports, wherever they stand (``from a import b`` counts as
    ``a`` and ``a.b``)."""
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative
                base = ".".join(name.split(".")[: -node.level] + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{alias.name}" for alias in node.names}
    return out


def test_only_the_store_package_uses_a_redis_client() -> None:
    offenders = []
    for name, path in modules().items():
        if name == STORE or name.startswith(STORE + "."):
            continue
        names = imported(path, name)
        if any(n == "redis" or n.startswith("redis.") for n in names):
            offenders.append(name)
        if ".redis." in path.read_text() or "store.redis" in path.read_text():
            offenders.append(f"{name} (.redis)")
    assert offenders == []


def test_no_module_is_over_400_lines() -> None:
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}


def test_imports_form_no_circle() -> None:
    known = modules()
    graph = {
        name: {n for n in imported(path, name) if n in known and n != name}
        for name, path in known.items()
    }
    # a package imports its own submodules' names through its __init__; that is no circle
    for name, edges in graph.items():
        graph[name] = {e for e in edges if not name.startswith(e + ".")}
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert circles == []


def test_the_core_imports_no_framework() -> None:
    """``service.core`` is shared by the API and the workers: neither side's stack in it."""
    banned = ("flask", "celery", "kombu", "tensorflow", "keras", "skopt", "sklearn", "worker")
    offenders = {
        name: sorted(n for n in imported(path, name) if n.split(".")[0] in banned)
        for name, path in modules().items()
        if name.startswith("service.core")
    }
    assert {name: found for name, found in offenders.items() if found} == {}
