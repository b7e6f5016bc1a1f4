"""Golden models: sha256 of the fitted parameters for fixed seeds on fixed generated data.

Any change to the numbers a fit produces (initialisation, update order, arithmetic, the data
generator) shows up here as a changed hash. The hashes change only deliberately, in the commit
that changes the numbers, whose message says why. To regenerate the tables, run

    python tests/test_golden.py

which fits every model and prints ``DATA_SHA256``, ``SGD_SHA256`` and this machine's row of
``SVD_SHA256`` to paste below; a failing test prints the hash it got as well.

Which bits depend on the machine (x86-64):

- ``funk-sgd`` does not. Its block loop is picked at run time (AVX2 with FMA, or portable
  code), but both loops fuse the same multiply-adds (``f32::mul_add`` rounds once on every
  CPU) and reduce in the same lane order, which the Rust core's tests check bit for bit; the
  rest is compiled for the baseline ISA. The grid of blocks is drawn from the seed and never
  depends on ``n_threads``, so the one- and two-thread fits must give the same hash. (The
  table of the ziggurat that draws the initial factors is built with the C library's ``exp``
  and ``log``; a C library whose results differ from this one's by an ulp would change a
  draw only with negligible probability.)
- The SVD solvers do. faer's matrix products and eigensolver pick their kernels at run time
  (AVX-512, AVX2 with FMA, or scalar code), and the kernels sum in different orders, so
  ``SVD_SHA256`` has one row per instruction set (:func:`instruction_set`). A machine whose
  row is missing skips those tests and prints its hashes. With AVX2 or AVX-512, faer's
  products sum in blocks of a fixed 512 terms whatever the CPU's cache sizes (which only
  decide how the output is tiled); the scalar fallback's blocking may also follow them. One
  and two threads give the same bits here, as ``random_state`` promises.
- The data set is drawn by numpy (``funkrs.datasets.synthetic``); ``DATA_SHA256`` pins it, so
  that a numpy whose random streams or SIMD kernels give other bits fails there first rather
  than as a changed model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funkrs

# ---------------------------------------------------------------------------------------------
# Expected hashes. Regenerate with `python tests/test_golden.py` (see the module docstring).

DATA_SHA256 = {
    "sparse": "6713bc0f6302a0d289239cd825c14f897841a977d9d2a8f6ecbadb21cb62fef7",
    "complete": "7448aebbb41d8123610effa6edd74c3dec80c75225f3cdc0ee8df9bff96c9b26",
}

SGD_SHA256 = {
    "rating": "c5c4d36901eae0177732d19e230f643ddc19acadb5785b3387c7f28c02720a54",
    "ranking": "e97cf8945a3a778ecbbfb47e685f530a62cd54de68353a3fce9645a33595320b",
    "feature-wise": "67d56e1d9d49b447e50d52bc2f2da491955630e7827b48cdcd3bc3a61d581d21",
}

SVD_SHA256: dict[str, dict[str, str]] = {
    "avx2+fma": {
        "exact-svd": "21d2f1cb4d114295b5a60df1785f7718b096661ed0e5d1472f425c946c617ea0",
        "imputed-svd": "ece60200497dbfc76cdbc661bc120f836e3563d87996ca6b0cb7f73403bebd57",
        "imputed-svd-implicit": "b89dda5aaecfcc0183af0d0e3c61c7801ab66a3f12b7387f111e8803b7d8b0f5",
    },
}

# ---------------------------------------------------------------------------------------------


@cache
def sparse_data() -> funkrs.Ratings:
    """12,605 ratings of 300 users × 200 items: a 3 × 3 grid of SGD blocks, run on two threads."""
    return funkrs.datasets.synthetic(300, 200, 20_000, random_state=0)


@cache
def complete_data() -> funkrs.Ratings:
    """Every cell of a 40 × 25 matrix (the draws cover it), for ``exact-svd``."""
    data = funkrs.datasets.synthetic(40, 25, 50_000, random_state=1)
    assert len(data) == data.n_users * data.n_items
    return data


SGD_CONFIGS: dict[str, dict[str, Any]] = {
    # n_factors=70 pads rows to 72 floats: the AVX2 loop's one-pass variant (from 64 on).
    "rating": {"n_factors": 70, "n_epochs": 8},
    "ranking": {"n_factors": 12, "n_epochs": 5, "solver_options": {"objective": "ranking"}},
    "feature-wise": {
        "n_factors": 4,
        "n_epochs": 4,
        "solver_options": {"schedule": "feature-wise"},
    },
}

SVD_CONFIGS: dict[str, tuple[Callable[[], funkrs.Ratings], dict[str, Any]]] = {
    "exact-svd": (complete_data, {"solver": "exact-svd", "n_factors": 6}),
    "imputed-svd": (sparse_data, {"solver": "imputed-svd", "n_factors": 10}),
    "imputed-svd-implicit": (
        sparse_data,
        {"solver": "imputed-svd", "n_factors": 10, "solver_options": {"path": "implicit"}},
    ),
}


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over each array's name, dtype, shape and C-order bytes, in the given order."""
    h = hashlib.sha256()
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def data_hash(data: funkrs.Ratings) -> str:
    return _digest(
        {
            "users": data.raw_users(),
            "items": data.raw_items(),
            "values": data.values,
            "scale": np.array(data.rating_scale, dtype=np.float64),
        }
    )


def model_hash(model: funkrs.MatrixFactorization) -> str:
    return _digest(
        {
            "user_factors": model.user_factors_,
            "item_factors": model.item_factors_,
            "user_bias": model.user_bias_,
            "item_bias": model.item_bias_,
            "global_mean": np.array([model.global_mean_], dtype=np.float64),
        }
    )


def fit_hash(data: funkrs.Ratings, n_threads: int, **params: Any) -> str:
    model = funkrs.MatrixFactorization(random_state=0, n_threads=n_threads, **params)
    return model_hash(model.fit(data))


def instruction_set() -> str:
    """The widest kernel family faer dispatches to on this CPU: the key of ``SVD_SHA256``."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        return "unknown"
    if "avx512f" in flags:
        return "avx512f"
    if {"avx2", "fma"} <= flags:
        return "avx2+fma"
    return "baseline"


def _mismatch(table: str, key: str, got: str) -> str:
    return (
        f"{table}[{key!r}] changed: got {got}. If the change is deliberate, regenerate the "
        "tables with `python tests/test_golden.py` and say why in the commit."
    )


@pytest.mark.parametrize("name", sorted(DATA_SHA256))
def test_data_sets_are_unchanged(name: str) -> None:
    got = data_hash(sparse_data() if name == "sparse" else complete_data())
    assert got == DATA_SHA256[name], _mismatch("DATA_SHA256", name, got)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("name", sorted(SGD_CONFIGS))
def test_funk_sgd_models_are_unchanged(name: str, n_threads: int) -> None:
    got = fit_hash(sparse_data(), n_threads, **SGD_CONFIGS[name])
    assert got == SGD_SHA256[name], _mismatch("SGD_SHA256", name, got)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("name", sorted(SVD_CONFIGS))
def test_svd_models_are_unchanged(name: str, n_threads: int) -> None:
    data, params = SVD_CONFIGS[name]
    got = fit_hash(data(), n_threads, **params)
    isa = instruction_set()
    if isa not in SVD_SHA256:
        pytest.skip(f"no SVD_SHA256 row for {isa!r}; this machine's {name!r} hash is {got}")
    assert got == SVD_SHA256[isa][name], _mismatch(f"SVD_SHA256[{isa!r}]", name, got)


def test_the_hash_sees_every_parameter() -> None:
    """A change of one bit in any fitted array, or in the global mean, changes the hash."""
    model = funkrs.MatrixFactorization(n_factors=3, n_epochs=2, random_state=0, n_threads=1)
    model.fit(funkrs.testing.low_rank_ratings(20, 15))
    before = model_hash(model)
    for attr in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        a = getattr(model, attr)
        flat = a.reshape(-1).view(np.uint32 if a.dtype == np.float32 else np.uint64)
        flat[-1] ^= 1
        assert model_hash(model) != before, attr
        flat[-1] ^= 1
        assert model_hash(model) == before, attr
    mean = model.global_mean_
    model.global_mean_ = float(np.nextafter(mean, np.inf))
    assert model_hash(model) != before
    model.global_mean_ = mean


def _table() -> str:
    """The expected-hash tables as computed on this machine, ready to paste."""
    lines = ["DATA_SHA256 = {"]
    lines += [f'    "sparse": "{data_hash(sparse_data())}",']
    lines += [f'    "complete": "{data_hash(complete_data())}",', "}", "", "SGD_SHA256 = {"]
    for name, params in SGD_CONFIGS.items():
        lines.append(f"    {_row(name, sparse_data, params)}")
    lines += ["}", "", f"# SVD_SHA256 row for {instruction_set()!r}:"]
    lines.append(f'    "{instruction_set()}": {{')
    for name, (data, params) in SVD_CONFIGS.items():
        lines.append(f"        {_row(name, data, params)}")
    lines.append("    },")
    return "\n".join(lines)


def _row(name: str, data: Callable[[], funkrs.Ratings], params: dict[str, Any]) -> str:
    one, two = (fit_hash(data(), t, **params) for t in (1, 2))
    row = f'"{name}": "{one}",'
    return row if one == two else f"{row}  # BUT two threads give {two}"


if __name__ == "__main__":
    print(_table())
