from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import funkrs


@pytest.mark.timeout(120)
def test_concurrent_predict_and_fit_from_python_threads(small: funkrs.Ratings) -> None:
    """Calls release the GIL; concurrent use must neither deadlock nor change results."""
    model = funkrs.MatrixFactorization(n_factors=4, n_epochs=5, random_state=0).fit(small)
    users, items = small.raw_users(), small.raw_items()
    ref = model.predict(users, items)

    def work(j: int) -> np.ndarray:
        if j % 4 == 0:
            other = funkrs.MatrixFactorization(n_factors=4, n_epochs=5, random_state=0)
            np.testing.assert_array_equal(other.fit(small).user_factors_, model.user_factors_)
        return model.predict(users, items)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for out in pool.map(work, range(16)):
            np.testing.assert_array_equal(out, ref)


def _worker_masks() -> dict[str, str]:
    masks = {}
    for task in Path("/proc/self/task").iterdir():
        name = (task / "comm").read_text().strip()
        if name.startswith("funkrs-"):
            status = (task / "status").read_text().splitlines()
            line = next(x for x in status if x.startswith("Cpus_allowed_list"))
            masks[f"{name} ({task.name})"] = line.split()[1]
    return masks


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_worker_placement_never_leaves_a_worker_pinned(small: funkrs.Ratings) -> None:
    """By default no worker is ever pinned: the pool keeps the caller's CPU set."""
    allowed = sorted(os.sched_getaffinity(0))
    for threads in {2, len(allowed)}:
        funkrs.MatrixFactorization(n_factors=4, n_epochs=3, n_threads=threads).fit(small)
    deadline = time.monotonic() + 5.0
    while True:
        masks = _worker_masks()
        assert masks, "no funkrs worker threads found"
        # Compare as CPU sets: the kernel prints ranges ("0-1") for contiguous CPUs.
        pinned = {k: v for k, v in masks.items() if _cpus(v) != allowed}
        if not pinned or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not pinned, f"workers left pinned: {pinned} (the process may use CPUs {allowed})"


def _cpus(mask: str) -> list[int]:
    out: list[int] = []
    for part in mask.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_spread_workers_on_gives_the_same_model(small: funkrs.Ratings, tmp_path: Path) -> None:
    """The opt-in ``FUNKRS_SPREAD_WORKERS=1`` only changes where threads run, never the model,
    and leaves no worker pinned once they have woken up (see ``Pool::spread``)."""
    data = tmp_path / "small.npz"
    np.savez(data, u=small.raw_users(), i=small.raw_items(), r=small.values)
    script = (
        "import sys, numpy as np, funkrs\n"
        "d = np.load(sys.argv[1])\n"
        "r = funkrs.Ratings.from_arrays(d['u'], d['i'], d['r'])\n"
        "m = funkrs.MatrixFactorization(n_factors=4, n_epochs=5, n_threads=2, random_state=3)\n"
        "np.save(sys.argv[2], m.fit(r).item_factors_)\n"
        "import os, time, pathlib\n"
        "allowed = sorted(os.sched_getaffinity(0))\n"
        "def cpus(mask):\n"
        "    out = []\n"
        "    for part in mask.split(','):\n"
        "        lo, _, hi = part.partition('-')\n"
        "        out += range(int(lo), int(hi or lo) + 1)\n"
        "    return out\n"
        "deadline = time.monotonic() + 5.0\n"
        "while True:\n"
        "    pinned = []\n"
        "    for task in pathlib.Path('/proc/self/task').iterdir():\n"
        "        if (task / 'comm').read_text().startswith('funkrs-'):\n"
        "            line = [x for x in (task / 'status').read_text().splitlines()\n"
        "                    if x.startswith('Cpus_allowed_list')][0]\n"
        "            if cpus(line.split()[1]) != allowed:\n"
        "                pinned.append(line)\n"
        "    if not pinned or time.monotonic() > deadline:\n"
        "        break\n"
        "    time.sleep(0.01)\n"
        "assert not pinned, pinned\n"
    )
    out = tmp_path / "q.npy"
    env = dict(os.environ, FUNKRS_SPREAD_WORKERS="1")
    subprocess.run([sys.executable, "-c", script, str(data), str(out)], env=env, check=True)
    ref = funkrs.Ratings.from_arrays(small.raw_users(), small.raw_items(), small.values)
    model = funkrs.MatrixFactorization(n_factors=4, n_epochs=5, n_threads=2, random_state=3)
    np.testing.assert_array_equal(np.load(out), model.fit(ref).item_factors_)
