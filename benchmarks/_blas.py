"""Native BLAS for the numpy, LAPACK and peer references that these scripts time.

Some machines set ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` because older OpenBLAS builds
compute wrong results on their processors. A current OpenBLAS then runs a generic kernel, about
1.8x slower at sgemm, which would flatter every ratio against numpy. :func:`use_native_blas`
re-runs the benchmark command without them (OpenBLAS reads them once, when it loads), so the
references run at their best; funkrs itself links no BLAS. Tests and CI never change them.
"""

from __future__ import annotations

import os
import sys

OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_MARK = "FUNKRS_BENCH_NATIVE_BLAS"


def use_native_blas() -> None:
    """Re-execute this script with :data:`OVERRIDES` removed from the environment, if set.

    Call it first thing in ``main()``: the process is replaced, so nothing done before the call
    survives. A no-op when neither variable is set.
    """
    found = {k: os.environ[k] for k in OVERRIDES if k in os.environ}
    if not found or os.environ.get(_MARK):
        return
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    env[_MARK] = ",".join(f"{k}={v}" for k, v in found.items())
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def blas_report() -> str:
    """One line naming the BLAS the references use, as threadpoolctl reports it."""
    removed = os.environ.get(_MARK)
    note = f" (unset for this run: {removed})" if removed else ""
    try:
        import numpy  # noqa: F401  (loads the BLAS so that threadpoolctl sees it)
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: unknown (pip install threadpoolctl to report it)" + note
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not libs:
        return "BLAS: none loaded" + note
    parts = [
        f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} "
        f"threads={i.get('num_threads')}"
        for i in libs
    ]
    return "BLAS: " + "; ".join(parts) + note
