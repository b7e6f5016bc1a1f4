"""What the host machine did during a benchmark, shared by the scripts in this directory."""

from __future__ import annotations

import os


def steal_seconds() -> float | None:
    """CPU time the hypervisor gave to other guests so far (``steal`` in /proc/stat).

    None where /proc/stat is missing or has no steal column (not Linux, very old kernels).
    A virtual machine whose other tenants are busy shows it rising while the benchmark runs.
    """
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None
