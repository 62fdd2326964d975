"""The layers: imports point cli -> web -> stations -> geo, never up and never in a cycle.

Every import counts, at module level or inside a function: an import moved into a
function still ties the two modules together, it only hides the tie until run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("geo", "stations", "web", "cli")  # lowest first: each imports only those before it
WEB_FRAMEWORKS = ("flask", "werkzeug")  # the domain and geometry know nothing of HTTP


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the four packages by dotted name (a package by its own name)."""
    found = {}
    for top in LAYERS:
        for path in sorted((root / top).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_names(name: str, path: Path) -> Iterator[tuple[str, ...]]:
    """What ``path`` (module ``name``) imports, anywhere in it, as absolute dotted names.

    Each import is a tuple of readings, likeliest first: ``from a import b`` imports the
    module ``a.b`` when there is one, else the name ``b`` of module ``a``.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name,) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from . import x, from ..y import z
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield from ((f"{base}.{alias.name}", base) for alias in node.names)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Project module -> the project modules it imports."""
    modules = project_modules(root)

    def resolve(readings: tuple[str, ...]) -> str | None:
        for dotted in readings:
            if dotted in modules:
                return dotted
        dotted = readings[-1]
        while dotted and dotted not in modules:  # import a.b.c where only a.b is ours
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for readings in imported_names(name, path):
            if readings[0].split(".")[0] in LAYERS:
                target = resolve(readings)
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: strongly connected groups of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports of a higher layer from a lower one (stations importing web, and so on)."""

    def rank(module: str) -> int:
        return LAYERS.index(module.split(".")[0])

    return sorted((a, b) for a, targets in graph.items() for b in targets if rank(b) > rank(a))


def test_imports_point_downwards_only():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_domain_and_geometry_never_import_the_web_framework():
    used = [
        (name, readings[0])
        for name, path in project_modules().items()
        if name.split(".")[0] in ("stations", "geo")
        for readings in imported_names(name, path)
        if readings[0].split(".")[0] in WEB_FRAMEWORKS
    ]
    assert used == []


def test_the_checks_see_imports_inside_functions(tmp_path):
    """An upward import and a cycle hidden in functions are both found."""
    for package in LAYERS:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "geo" / "shapes.py").write_text("def f():\n    from stations import a\n")
    (tmp_path / "stations" / "a.py").write_text("from stations.b import thing\n")
    (tmp_path / "stations" / "b.py").write_text("def g():\n    from . import a\n")
    graph = import_graph(tmp_path)
    assert upward_imports(graph) == [("geo.shapes", "stations.a")]
    assert cycles(graph) == [["stations.a", "stations.b"]]
