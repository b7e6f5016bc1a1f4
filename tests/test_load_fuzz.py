"""Fuzzing ``funkrs.load``: a damaged model file loads as a usable model or raises ModelFileError.

Each example takes a valid saved model and damages it: bytes of the archive flipped,
truncated, inserted or deleted (mostly caught by the zip's CRC-32), or single members
rewritten with a correct CRC (arrays with the wrong shape or dtype, NaN, huge or
out-of-range values, reordered ids, missing or garbage members, pickled objects, headers
that claim more data than they hold) and fields of the JSON header replaced or deleted.
``funkrs.load`` must then either raise a :class:`funkrs.exceptions.FunkrsError` or return a
model whose predictions and recommendation scores are finite; any other exception fails.

The number of examples follows the Hypothesis profile of ``tests/conftest.py``
(``FUNKRS_HYPOTHESIS_PROFILE=ci`` in CI). For a long run (2,000 examples per test)::

    FUNKRS_HYPOTHESIS_PROFILE=nightly python -m pytest tests/test_load_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import funkrs
from funkrs.exceptions import FunkrsError

_MEMBERS = (
    "user_factors",
    "item_factors",
    "user_bias",
    "item_bias",
    "user_ids",
    "item_ids",
    "seen_indptr",
    "seen_indices",
    "item_rank_offset",
)
_SPECIAL = (np.nan, np.inf, -np.inf, 3e38, -3e38, 1e30, 1e19, 0.0, -1.0, 2.0**32, 2.0**63)
_DTYPES = ("<f8", "<f2", ">f4", "<i4", "<i8", "<u4", "<u8", "|b1", "<c8", "<U3", "|u1")


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The members of a saved model (string users, int items, biased, with a history)."""
    base = funkrs.testing.low_rank_ratings(30, 20, seed=4)
    users = np.array([f"u{x}" for x in base.raw_users()])
    data = funkrs.Ratings.from_arrays(users, base.raw_items() * 7, base.values)
    model = funkrs.MatrixFactorization(n_factors=3, n_epochs=3, random_state=0).fit(data)
    path = tmp_path_factory.mktemp("fuzz") / "model.funkrs"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-target") / "damaged.funkrs"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names
        with zipfile.ZipFile(buf, "w") as archive:
            for name, content in members.items():
                archive.writestr(name.split("#")[0], content)
    return buf.getvalue()


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _array(content: bytes) -> np.ndarray:
    return np.load(io.BytesIO(content), allow_pickle=False)


def _check(path: Path) -> None:
    """``funkrs.load`` raises a FunkrsError or gives a model with finite scores."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*was saved by funkrs", UserWarning)
            model = funkrs.load(path)
    except FunkrsError as exc:
        event(f"rejected: {type(exc).__name__}")
        return
    event("loaded")
    if model.n_threads is not None and model.n_threads > 2:
        model.n_threads = 2  # a file may ask for up to 1,024 threads; score on two
    model.history_  # noqa: B018 - building the history frame must work
    users, items = model.users_.ids_array, model.items_.ids_array
    if len(users) == 0 or len(items) == 0:
        return
    u = np.repeat(users[:10], min(len(items), 10))
    i = np.tile(items[:10], min(len(users), 10))
    for clip in (True, False):
        assert np.isfinite(model.predict(u, i, clip=clip)).all()
    recs = model.recommend(users=users[:5], n=3)
    assert np.isfinite(recs["score"].to_numpy()).all()


# -- damage to the archive's bytes ---------------------------------------------------------
@st.composite
def _byte_damage(draw: st.DrawFn, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, max(len(buf) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        if kind == "flip" and buf:
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and buf:
            buf[pos] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del buf[pos : pos + draw(st.integers(1, 64))]
    return bytes(buf)


@given(data=st.data())
def test_load_survives_byte_damage(original: dict[str, bytes], target: Path, data: Any) -> None:
    target.write_bytes(data.draw(_byte_damage(_zip(original))))
    _check(target)


# -- members rewritten with a valid CRC ----------------------------------------------------
@st.composite
def _damaged_array(draw: st.DrawFn, arr: np.ndarray) -> bytes:
    kind = draw(
        st.sampled_from(
            ["values", "dtype", "rows", "shape", "order", "garbage", "pickle", "huge header"]
        )
    )
    if kind == "garbage":
        return draw(st.binary(max_size=64))
    if kind == "pickle":
        return _npy(np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    if kind == "huge header":
        header = _npy(arr)[:10]
        fake = f"{{'descr': '{arr.dtype.str}', 'fortran_order': False, 'shape': (10**12,), }}"
        fake = fake.ljust(117) + "\n"  # 10 + 118 bytes: aligned to 64
        return header[:8] + len(fake).to_bytes(2, "little") + fake.encode("latin1")
    out = arr.copy()
    if kind == "values" and out.size:
        flat = out.reshape(-1)
        for _ in range(draw(st.integers(1, 3))):
            j = draw(st.integers(0, flat.size - 1))
            value = draw(st.sampled_from(_SPECIAL))
            if flat.dtype.kind in "iu":
                value = draw(st.sampled_from([-1, 0, flat.size, 2**31, 2**32 - 1, 2**62]))
                value = np.array(value).astype(flat.dtype)  # wraps where it does not fit
            elif flat.dtype.kind == "U":
                value = draw(st.text(max_size=4))
            flat[j] = value
        return _npy(out)
    if kind == "dtype":
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                return _npy(out.astype(draw(st.sampled_from(_DTYPES))))
            except (ValueError, TypeError, OverflowError):
                return _npy(out.astype("<U8"))
    if kind == "rows":
        extra = draw(st.integers(-3, 3))
        out = out[:extra] if extra < 0 else np.concatenate([out, out[: max(extra, 0)]])
        return _npy(np.ascontiguousarray(out))
    if kind == "shape":
        shapes = [out.reshape(-1), out[None], out[:0], np.asarray(out.reshape(-1)[:1]).reshape(())]
        if out.ndim == 2:
            shapes += [np.ascontiguousarray(out.T), np.asfortranarray(out), out[:, :-1]]
        return _npy(draw(st.sampled_from(shapes)))
    perm = draw(st.permutations(range(len(out)))) if out.ndim and len(out) else []
    return _npy(np.ascontiguousarray(out[list(perm)]) if len(perm) else out[::-1].copy())


@given(data=st.data())
def test_load_survives_damaged_arrays(original: dict[str, bytes], target: Path, data: Any) -> None:
    members = dict(original)
    for _ in range(data.draw(st.integers(1, 2))):
        name = data.draw(st.sampled_from(_MEMBERS)) + ".npy"
        action = data.draw(st.sampled_from(["rewrite", "rewrite", "rewrite", "remove", "dup"]))
        if action == "remove":
            members.pop(name, None)
        elif action == "dup":
            members[name + "#dup"] = _npy(np.zeros(3, np.float32))
        elif name in members:
            members[name] = data.draw(_damaged_array(_array(original[name])))
    target.write_bytes(_zip(members))
    _check(target)


# -- fields of the JSON header replaced or deleted -----------------------------------------
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10)
    | st.sampled_from([2**31, 2**63 - 1, 2**63, 2**70, -(2**70), 10**400])
    | st.sampled_from([1e39, -1e39, 3.4e38, 1e300, 5e-324])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@given(data=st.data())
def test_load_survives_damaged_headers(original: dict[str, bytes], target: Path, data: Any) -> None:
    meta = json.loads(_array(original["meta.npy"]).tobytes())
    for _ in range(data.draw(st.integers(1, 3))):
        paths: list[tuple[Any, Any]] = [(meta, k) for k in meta]
        params = meta.get("params")
        if isinstance(params, dict):
            paths += [(params, k) for k in params]
        history = meta.get("history")
        if isinstance(history, list) and history and isinstance(history[0], dict):
            paths += [(history[0], k) for k in history[0]]
        if not paths:
            break
        parent, key = data.draw(st.sampled_from(paths))
        if not isinstance(parent, dict):
            continue
        if data.draw(st.booleans()):
            parent.pop(key, None)
        else:
            parent[key] = data.draw(_JSON)
    text = json.dumps(meta, allow_nan=True).encode("utf-8")
    if data.draw(st.integers(0, 9)) == 0:
        text = text[: data.draw(st.integers(0, len(text)))]
    members = dict(original)
    members["meta.npy"] = _npy(np.frombuffer(text, dtype=np.uint8))
    target.write_bytes(_zip(members))
    _check(target)


def test_the_undamaged_file_loads(original: dict[str, bytes], target: Path) -> None:
    """The fuzz tests start from a file that loads (otherwise they would test nothing)."""
    target.write_bytes(_zip(original))
    model = funkrs.load(target)
    assert model.n_users_ == 30
    pred = model.predict(model.users_.ids_array, np.resize(model.items_.ids_array, 30))
    assert np.isfinite(pred).all()
