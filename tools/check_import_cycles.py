"""Check that the modules of a Python package import each other one way only.

Every ``.py`` file under the package directory is parsed with :mod:`ast` (nothing is
imported or run). Each ``import`` and ``from ... import`` statement that names a module of
the package becomes an edge of the module graph, wherever the statement sits: at the top
level, inside a function or method (a lazy import still runs, and still needs the other
module), inside ``try``/``except``. Names are resolved as Python resolves them:

- ``import pkg.a.b`` is an edge to ``pkg.a.b``;
- ``from pkg.a import x`` is an edge to ``pkg.a.x`` when that is a module of the package
  (a ``.py`` file, a subpackage, or a compiled extension such as ``_ext.so``/``_ext.pyi``),
  and to ``pkg.a`` otherwise (``x`` is then a name defined in ``pkg.a``);
- relative imports (``from . import x``, ``from ..a import y``) are resolved against the
  importing module's package first.

Not edges:

- imports under ``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``): they are read by
  type checkers only and never run, so they cannot take part in an import cycle at run time
  (the ``else:`` branch of such an ``if`` does run, and counts);
- the implicit import of a module's parent packages (importing ``pkg.a.b`` runs
  ``pkg/__init__.py`` and ``pkg/a/__init__.py`` first); only what the source spells out is
  an edge;
- imports by string (``importlib.import_module``, ``"module:attr"`` registries, entry
  points).

The check fails on

- every import cycle: a strongly connected component of more than one module, and a module
  that imports itself (for example ``from pkg import a`` inside ``pkg/a.py``, a self-edge via
  the package root);
- every submodule that imports the top-level package itself (``import pkg``,
  ``from pkg import __version__``): the top-level ``__init__`` re-exports the public API, so
  such a submodule depends on every module the root imports, and becomes a cycle as soon as
  the root imports it. Import the defining submodule instead.

Run ``python tools/check_import_cycles.py [PACKAGE_DIR]`` (default: ``python/funkrs``), or
``make imports``; ``tests/test_import_graph.py`` runs the same check under pytest. The exit
status is 1 when a problem is found, and each problem is printed with the file and line of
every import that closes it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "PENDING_CYCLES",
    "PENDING_EDGES",
    "Edge",
    "check",
    "collect_edges",
    "find_cycles",
    "main",
    "package_modules",
]

#: Cycles the check tolerates, each as the exact set of its modules (none at present). An
#: entry is for a cycle whose removal is under way; delete it once the cycle is gone.
PENDING_CYCLES: frozenset[frozenset[str]] = frozenset()

#: Edges ``(importer, imported)`` left out of the graph (none at present), for imports whose
#: removal is under way; delete an entry once the import is gone.
PENDING_EDGES: frozenset[tuple[str, str]] = frozenset()

_EXTENSION_SUFFIXES = (".so", ".pyd", ".pyi")


class Edge(NamedTuple):
    """One import statement from a module of the package to another one."""

    source: str
    target: str
    path: Path
    line: int

    def show(self, base: Path) -> str:
        """``source -> target (file:line)`` with the file relative to ``base``."""
        try:
            where = self.path.relative_to(base)
        except ValueError:
            where = self.path
        return f"{self.source} -> {self.target} ({where}:{self.line})"


def package_modules(package_dir: Path) -> dict[str, Path]:
    """Dotted name of every module under ``package_dir`` mapped to its source file.

    Compiled extensions (``.so``, ``.pyd``, or only a ``.pyi`` stub) are modules too, so
    that ``from pkg import _ext`` resolves to them; their path is the extension or stub file.
    """
    root = package_dir.name
    modules: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        rel = path.relative_to(package_dir)
        stem = rel.name.split(".", 1)[0]
        if rel.suffix == ".py":
            parts = list(rel.parent.parts) if stem == "__init__" else [*rel.parent.parts, stem]
        elif rel.name.endswith(_EXTENSION_SUFFIXES) and stem.isidentifier():
            parts = [*rel.parent.parts, stem]
        else:
            continue
        name = ".".join([root, *parts])
        if rel.suffix == ".py" or name not in modules:
            modules[name] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that can run, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _longest_known_prefix(name: str, modules: dict[str, Path]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _from_base(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    """Absolute module named by ``from <base> import ...`` in ``module``."""
    if node.level == 0:
        return node.module
    package = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 >= len(package):
        return None  # beyond the top-level package: not one of ours
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path]
) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            target = _longest_known_prefix(alias.name, modules)
            if target is not None:
                yield target
        return
    base = _from_base(node, module, is_package)
    if base is None:
        return
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if alias.name != "*" and submodule in modules:
            yield submodule
        else:
            target = _longest_known_prefix(base, modules)
            if target is not None:
                yield target


def collect_edges(package_dir: Path) -> list[Edge]:
    """Every runtime import between two modules of the package under ``package_dir``."""
    modules = package_modules(package_dir)
    edges: list[Edge] = []
    for module, path in modules.items():
        if path.suffix != ".py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in _runtime_imports(tree):
            edges.extend(
                Edge(module, target, path, node.lineno)
                for target in _targets(node, module, is_package, modules)
            )
    return sorted(set(edges), key=lambda e: (e.source, e.target, e.line))


def find_cycles(edges: Iterable[Edge]) -> list[frozenset[str]]:
    """Sets of modules that import each other (Tarjan's algorithm, iterative).

    Each strongly connected component of more than one module, and each module that imports
    itself, is one set.
    """
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        found.append(frozenset(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(found, key=lambda c: sorted(c))


def check(
    package_dir: Path,
    *,
    pending_cycles: Iterable[frozenset[str]] = PENDING_CYCLES,
    pending_edges: Iterable[tuple[str, str]] = PENDING_EDGES,
) -> list[str]:
    """Problems found in the package under ``package_dir``, one message each (empty: none).

    Edges listed in ``pending_edges`` are left out of the graph, and a cycle whose modules
    are exactly one of ``pending_cycles`` is not reported.
    """
    skip = set(pending_edges)
    allowed = set(pending_cycles)
    edges = [e for e in collect_edges(package_dir) if (e.source, e.target) not in skip]
    base = package_dir.parent
    problems: list[str] = []
    for cycle in find_cycles(edges):
        if cycle in allowed:
            continue
        inside = [e.show(base) for e in edges if e.source in cycle and e.target in cycle]
        names = ", ".join(sorted(cycle))
        problems.append(f"import cycle between {names}:\n    " + "\n    ".join(inside))
    root = package_dir.name
    for source in sorted({e.source for e in edges if e.target == root and e.source != root}):
        lines = [e.show(base) for e in edges if e.source == source and e.target == root]
        problems.append(
            f"{source} imports the package root {root}; import the submodule that defines "
            "the name instead:\n    " + "\n    ".join(lines)
        )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Print the problems of a package's import graph; the exit status is 1 if any."""
    default = Path(__file__).resolve().parent.parent / "python" / "funkrs"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "package_dir", nargs="?", type=Path, default=default, help="package directory"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also report the cycles and edges in PENDING_CYCLES and PENDING_EDGES",
    )
    args = parser.parse_args(argv)
    package_dir: Path = args.package_dir.resolve()
    if not (package_dir / "__init__.py").is_file():
        print(f"{package_dir} is not a package directory (no __init__.py)", file=sys.stderr)
        return 2
    if args.strict:
        problems = check(package_dir, pending_cycles=(), pending_edges=())
    else:
        problems = check(package_dir)
    for problem in problems:
        print(problem)
    n_modules = len(package_modules(package_dir))
    verdict = f"{len(problems)} problem(s)" if problems else "no import cycles"
    print(f"{package_dir.name}: {n_modules} modules, {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
