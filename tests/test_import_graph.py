"""The import graph of ``python/funkrs`` has no cycles (``tools/check_import_cycles.py``).

The checker is first run on small synthetic packages written to a temporary directory, so
that a checker which finds nothing fails here rather than passing on the real package.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUNKRS_DIR = ROOT / "python" / "funkrs"


def _load_checker() -> ModuleType:
    path = ROOT / "tools" / "check_import_cycles.py"
    spec = importlib.util.spec_from_file_location("check_import_cycles", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


def make_package(tmp_path: Path, files: dict[str, str], name: str = "pkg") -> Path:
    """Write ``files`` (relative path -> source) as a package ``name`` under ``tmp_path``."""
    package = tmp_path / name
    for rel, source in {"__init__.py": "", **files}.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return package


def cycles(package: Path) -> list[set[str]]:
    return [set(c) for c in checker.find_cycles(checker.collect_edges(package))]


def test_an_acyclic_package_passes(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "__init__.py": "from pkg.a import f\nfrom pkg import b\n",
            "a.py": "import os\nfrom pkg.b import g\n",
            "b.py": "import numpy as np\n",
        },
    )
    assert cycles(package) == []
    assert checker.check(package) == []
    assert checker.main([str(package)]) == 0


def test_top_level_cycle_is_found_and_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = make_package(tmp_path, {"a.py": "from pkg.b import g\n", "b.py": "import pkg.a\n"})
    assert cycles(package) == [{"pkg.a", "pkg.b"}]
    assert checker.main([str(package)]) == 1
    out = capsys.readouterr().out
    assert "import cycle between pkg.a, pkg.b" in out
    assert "pkg.a -> pkg.b (pkg/a.py:1)" in out
    assert "pkg.b -> pkg.a (pkg/b.py:1)" in out


def test_function_level_imports_are_edges(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "a.py": "import pkg.b\n",
            "b.py": "class C:\n    def m(self):\n        from pkg.c import x\n",
            "c.py": "def f():\n    try:\n        import pkg.a\n    except ImportError:\n"
            "        pass\n",
        },
    )
    assert cycles(package) == [{"pkg.a", "pkg.b", "pkg.c"}]


def test_from_package_import_submodule_is_an_edge_to_the_submodule(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {"a.py": "from pkg import b\n", "b.py": "from pkg import a as alias, c\n", "c.py": ""},
    )
    assert cycles(package) == [{"pkg.a", "pkg.b"}]


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "sub/__init__.py": "from .x import f\n",
            "sub/x.py": "from ..y import g\n",
            "y.py": "from . import sub\n",
        },
    )
    assert cycles(package) == [{"pkg.sub", "pkg.sub.x", "pkg.y"}]


def test_type_checking_imports_are_not_edges(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "a.py": "import pkg.b\n",
            "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n",
            "c.py": "import typing\nif typing.TYPE_CHECKING:\n    import pkg.d\nelse:\n"
            "    import pkg.e\n",
            "d.py": "import pkg.c\n",
            "e.py": "import pkg.c\n",
        },
    )
    assert cycles(package) == [{"pkg.c", "pkg.e"}]


def test_the_package_root_closes_cycles_and_is_reported(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "__init__.py": "from pkg._ext import __version__\nfrom pkg.a import f\n",
            "_ext.pyi": "__version__: str\n",
            "a.py": "from pkg import __version__\n",
            "b.py": "import pkg\n",
        },
    )
    assert cycles(package) == [{"pkg", "pkg.a"}]
    problems = checker.check(package)
    assert len(problems) == 3
    assert problems[0].startswith("import cycle between pkg, pkg.a")
    assert problems[1].startswith("pkg.a imports the package root pkg")
    assert problems[2].startswith("pkg.b imports the package root pkg")


def test_extension_modules_are_modules(tmp_path: Path) -> None:
    package = make_package(
        tmp_path, {"__init__.py": "from pkg.a import f\n", "a.py": "from pkg import _ext\n"}
    )
    (package / "_ext.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    assert checker.check(package) == []


def test_a_module_importing_itself_via_the_package_root_is_a_cycle(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"a.py": "from pkg import a\n"})
    assert cycles(package) == [{"pkg.a"}]


def test_pending_cycles_and_edges_are_tolerated_exactly(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {"a.py": "import pkg.b\n", "b.py": "import pkg.a\nimport pkg\n", "c.py": "import pkg\n"},
    )
    pending = {
        "pending_cycles": [frozenset({"pkg.a", "pkg.b"})],
        "pending_edges": [("pkg.b", "pkg")],
    }
    everything = checker.check(package, pending_cycles=(), pending_edges=())
    assert [p.splitlines()[0] for p in everything] == [
        "import cycle between pkg.a, pkg.b:",
        "pkg.b imports the package root pkg; import the submodule that defines the name instead:",
        "pkg.c imports the package root pkg; import the submodule that defines the name instead:",
    ]
    assert checker.check(package, **pending) == everything[2:]
    # The tolerated set must match the cycle exactly: a third module joining it is reported.
    (package / "b.py").write_text("import pkg.c\n", encoding="utf-8")
    (package / "c.py").write_text("import pkg.a\n", encoding="utf-8")
    problems = checker.check(package, **pending)
    assert [p.splitlines()[0] for p in problems] == ["import cycle between pkg.a, pkg.b, pkg.c:"]


def test_funkrs_has_no_import_cycles() -> None:
    problems = checker.check(FUNKRS_DIR)
    assert not problems, "\n".join(problems)
