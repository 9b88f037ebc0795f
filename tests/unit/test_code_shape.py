"""The code's shape rules, read from the source: small modules, no import circles, and no
product or benchmark code that imports from tests/.

Imports are read with `ast` (every `import`, also inside functions and `if TYPE_CHECKING:`),
so a circle hidden by a function-level import still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = ("shared", "functions", "simulator", "localrun", "benchmarks", "scripts")
MAX_LINES = 600  # the rule is "split a file past ~500 lines"; this catches one left far past it
BEING_SPLIT: set[str] = set()  # files allowed past the limit while a split is in flight (none now)


def _files() -> list[Path]:
    found = [ROOT / "function_app.py"]
    for folder in CODE:
        found += sorted((ROOT / folder).rglob("*.py"))
    return found


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The modules of this repository that `path` imports (`from package import module` names only the module)."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            named = [f"{base}.{alias.name}" for alias in node.names]
            if not all(name in modules for name in named):
                found.add(base)  # names defined in `base` itself, not only its submodules
            found.update(named)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    files = _files()
    modules = {_module(path) for path in files}
    return {_module(path): _imports(path, modules) - {_module(path)} for path in files}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_module_is_left_far_past_the_size_rule() -> None:
    """Every product, simulator, local-run, benchmark and script module stays under MAX_LINES."""
    long = {
        str(path.relative_to(ROOT)): count
        for path in _files()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert {k: v for k, v in long.items() if k not in BEING_SPLIT} == {}


def test_no_import_circles() -> None:
    """No two modules import each other, directly or round a longer loop, not even lazily."""
    assert _circles(_graph()) == []


def test_the_circle_finder_sees_a_lazy_circle() -> None:
    """The finder reports a loop closed only by a function-level import (as guest/guest_script was)."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]


def test_product_and_benchmark_code_import_nothing_from_tests() -> None:
    """shared/, functions/, simulator/, localrun/, benchmarks/ and scripts/ never import tests."""
    offenders = {}
    for path in _files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        bad = [name for name in names if name == "tests" or name.startswith("tests.")]
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}
