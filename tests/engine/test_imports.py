"""The import graph of engine/, gui/ and training/ (issue 22): no circle, and no module
takes another module's private name (``from X import _name``, or ``X._name`` on a
module imported as ``X``).  Imports inside functions count: a lazy import is still an
arrow.  A registry that imports its folder's modules by name (encodings, jobs) draws no
arrow: the modules point at the registry, never back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("engine", "gui", "training")


def _modules() -> dict[str, Path]:
    out = {}
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]):
    """(target module, imported names or None, line, alias) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno, alias.asname or alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:  # from package import module
                    yield sub, None, node.lineno, alias.asname or alias.name
                else:
                    yield base, alias.name, node.lineno, alias.asname or alias.name


def _graph():
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private: list[str] = []
    for name, path in modules.items():
        aliases = {}
        for target, imported, line, alias in _imports(name, path, modules):
            if target in modules and target != name:
                edges[name].add(target)
                if imported is None:
                    aliases[alias] = target
            if imported and imported.startswith("_") and not imported.startswith("__") \
                    and target != name and target.split(".")[0] in ROOMS:
                private.append(f"{path.relative_to(ROOT)}:{line} from {target} import {imported}")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                private.append(f"{path.relative_to(ROOT)}:{node.lineno} "
                               f"{aliases[node.value.id]}.{node.attr}")
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        work = [(v, iter(sorted(edges[v])))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    component.append(w)
                    if w == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    edges, _ = _graph()
    assert "engine.generation.sampling" in edges["engine.generation.generator"]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_module_imports_in_a_circle():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_no_module_takes_another_modules_private_name():
    _, private = _graph()
    assert private == []


def test_one_capability_query_decides_what_a_model_can_do():
    """Polyphony, fill and harmonise are asked of ``capabilities_of`` alone: nowhere else
    looks for an encoding's grammar or reads a card's "polyphonic" flag."""
    import re

    asked = re.compile(r"""hasattr\([^)]*["']grammar["']\)"""
                       r"""|card\(\)(\[|\.get\()["']polyphonic["']""")
    found = [f"{path.relative_to(ROOT)}:{i}"
             for room in (*ROOMS, "bench") for path in sorted((ROOT / room).rglob("*.py"))
             if path.relative_to(ROOT).as_posix() != "engine/encodings/base.py"
             for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if asked.search(line)]
    assert found == []
