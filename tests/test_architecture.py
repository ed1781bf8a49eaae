"""The layout DESIGN.md draws, checked on the source: no import circles at module
level, imports only in the drawn direction, and a pure domain that knows neither
Celery nor Redis.

Imports inside functions and under ``TYPE_CHECKING`` are deliberate late binding
and are not counted; everything a module imports when it is imported is.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "evofarm"

#: package -> the evofarm packages it may import at module level.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "registry": {"errors"},
    "settings": {"errors"},
    "keys": {"errors"},
    "providers": {"errors", "registry", "settings"},
    "pipeline": {"errors", "registry", "settings", "providers"},
    "fitness": {"errors", "registry", "settings", "providers", "pipeline"},
    "sandbox": {"errors", "registry", "settings", "providers", "pipeline", "evofarm"},
    "evolution": {"errors", "registry", "settings", "pipeline", "fitness"},
    # DESIGN draws evolution <- store: the collective memory stores mined patterns.
    "store": {
        "errors",
        "registry",
        "settings",
        "keys",
        "evofarm",
        "providers",
        "pipeline",
        "fitness",
        "evolution",
    },
}
#: What the pure domain must never import (it is tested without them).
PURE = {"pipeline", "fitness", "evolution", "providers"}
INFRASTRUCTURE = ("celery", "kombu", "redis", "billiard")
#: The providers modules the language may import: the interface, not the backends.
INTERFACE = {"evofarm.providers", "evofarm.providers.base"}


def _modules() -> dict[str, Path]:
    found = {}
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = file
    return found


def _module_level_imports(name: str, file: Path) -> set[str]:
    imported: set[str] = set()
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.parse(file.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        body = node.body if isinstance(node, ast.Try) else [node]
        for item in body:
            if isinstance(item, ast.Import):
                imported.update(alias.name for alias in item.names)
            elif isinstance(item, ast.ImportFrom):
                base = item.module or ""
                if item.level:
                    anchor = package.split(".")[: len(package.split(".")) - item.level + 1]
                    base = ".".join([*anchor, *([item.module] if item.module else [])])
                imported.add(base)
                imported.update(f"{base}.{alias.name}" for alias in item.names)
    return imported


MODULES = _modules()
IMPORTS = {name: _module_level_imports(name, file) for name, file in MODULES.items()}
GRAPH = {name: {i for i in found if i in MODULES} for name, found in IMPORTS.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "evofarm"


def test_no_import_circles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert circles == []


def test_imports_follow_the_drawn_direction() -> None:
    wrong: dict[str, set[str]] = defaultdict(set)
    for module, deps in GRAPH.items():
        source = _package(module)
        if source not in ALLOWED:
            continue
        for dep in deps:
            target = _package(dep)
            if target != source and target not in ALLOWED[source]:
                wrong[module].add(dep)
    assert dict(wrong) == {}


def test_the_language_knows_providers_only_through_their_interface() -> None:
    concrete = {
        (module, dep)
        for module, deps in GRAPH.items()
        if _package(module) in {"pipeline", "fitness", "evolution"}
        for dep in deps
        if _package(dep) == "providers" and dep not in INTERFACE
    }
    assert concrete == set()


def test_the_pure_domain_knows_no_celery_or_redis() -> None:
    leaks = {
        (module, name)
        for module, found in IMPORTS.items()
        if _package(module) in PURE
        for name in found
        if name.split(".")[0] in INFRASTRUCTURE
    }
    assert leaks == set()
