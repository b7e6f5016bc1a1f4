"""Model files: a fitted state and its parameters as ``.npz`` arrays plus a JSON header.

A model file is numpy's ``.npz`` (a zip archive of ``.npy`` members, written with
``allow_pickle=False``): the factor, bias, id and seen-items arrays of a
:class:`~funkrs._state.FittedState`, and a ``meta`` member holding a UTF-8 JSON header
(``magic``, ``format_version``, ``funkrs_version``, the estimator's parameters and the
state's scalar fields, history and ``solver_info``).

This module knows the fitted state and a parameters dict, not the estimator:
:meth:`funkrs.MatrixFactorization.save` calls :func:`write_state` and :func:`funkrs.load`
(:func:`funkrs.model.load`) builds the estimator from :func:`read_state`. Reading never
trusts the file: archive members are size-checked before anything is allocated, and the
state is validated as a whole, so a damaged file raises :class:`ModelFileError` naming the
problem and never yields a partly usable model.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from funkrs._checks import show_value
from funkrs._funkrs import __version__
from funkrs._state import FittedState, history_rows
from funkrs._vocab import Vocabulary
from funkrs.exceptions import InvalidParameterError, ModelFileError

__all__ = ["FORMAT_VERSION", "load", "read_state", "set_loader", "write_state"]

FORMAT_VERSION = 1
_MAGIC = "funkrs-model"
_ARRAYS = (
    "user_factors",
    "item_factors",
    "user_bias",
    "item_bias",
    "user_ids",
    "item_ids",
    "seen_indptr",
    "seen_indices",
)
# A compressed member may expand, but not without bound (a zip bomb).
_MAX_EXPANSION = 1024


def write_state(path: str | os.PathLike[str], params: dict[str, Any], state: FittedState) -> None:
    """Write ``params`` and ``state`` to ``path`` atomically (a temporary file renamed).

    Raises
    ------
    InvalidParameterError
        A parameter (or the history) cannot be written as JSON (an object, NaN, a key that
        is not a string); the message names it and nothing is written. It is a
        ``ValueError`` and a ``TypeError``.
    """
    meta = {
        "magic": _MAGIC,
        "format_version": FORMAT_VERSION,
        "funkrs_version": __version__,
        "solver": state.solver,
        "params": params,
        "global_mean": float(state.global_mean),
        "biased": bool(state.biased),
        "rating_scale": [float(v) for v in state.rating_scale],
        "history": list(state.history),
        "best_epoch": state.best_epoch,
        "solver_info": dict(state.solver_info),
    }
    try:
        header = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidParameterError(_unsaveable(meta, exc)) from None
    arrays = {
        "user_factors": state.user_factors,
        "item_factors": state.item_factors,
        "user_bias": state.user_bias,
        "item_bias": state.item_bias,
        "user_ids": state.users.ids_array,
        "item_ids": state.items.ids_array,
        "seen_indptr": state.seen_indptr,
        "seen_indices": state.seen_indices,
        "item_rank_offset": state.item_rank_offset,
        "meta": np.frombuffer(header.encode("utf-8"), dtype=np.uint8),
    }
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _unsaveable(meta: dict[str, Any], exc: BaseException) -> str:
    """The message for a header that JSON cannot hold, naming the first such parameter."""
    params = meta["params"] if isinstance(meta.get("params"), dict) else {}
    fields = [(f"parameter {name}", value) for name, value in params.items()]
    fields += [
        (field, meta[field]) for field in ("history", "best_epoch", "solver_info") if field in meta
    ]
    for where, value in fields:
        problem = _json_problem(value)
        if problem is not None:
            return (
                f"the model cannot be saved: {where} = {show_value(value)} cannot be written "
                f"as JSON ({problem})"
            )
    return f"the model cannot be saved: its header cannot be written as JSON ({exc})"


def _json_problem(value: object) -> str | None:
    """Why ``value`` cannot be written as strict JSON, or None if it can."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return str(exc)
    return None


def read_state(
    path: str | os.PathLike[str], *, stacklevel: int = 1
) -> tuple[dict[str, Any], FittedState]:
    """Read a model file: the estimator's parameters and the validated fitted state.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`write_state`.
    stacklevel : int
        Where the warning about a file from another funkrs version points, counted as in
        :func:`warnings.warn` from the caller of this function (1 = the caller).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ModelFileError
        The file is not a funkrs model, is truncated or corrupted, or holds a state that
        fails :meth:`FittedState.validate` (the message names the field).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"model file not found: {str(p)!r}")
    arrays = _read_arrays(p)
    meta = _read_meta(p, arrays, stacklevel + 2)
    state = _build_state(p, meta, arrays)
    params = meta.get("params")
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise ModelFileError(f"{str(p)!r} is damaged: params must be a JSON object")
    return params, state


def _read_arrays(p: Path) -> dict[str, np.ndarray]:
    try:
        with open(p, "rb") as fh:
            if fh.read(6) == b"\x93NUMPY":
                raise ValueError("a bare .npy array, not a model archive")
        with zipfile.ZipFile(p) as archive:
            limit = _MAX_EXPANSION * max(p.stat().st_size, 1 << 16)
            return {
                info.filename.removesuffix(".npy"): _read_member(archive, info, limit)
                for info in archive.infolist()
                if info.filename.endswith(".npy")
            }
    # zipfile, its decompressors and numpy's header parser fail in many ways on damaged
    # input (BadZipFile, zlib.error, NotImplementedError for an unknown compression,
    # RuntimeError for an "encrypted" member, SyntaxError from the header literal, EOFError,
    # MemoryError, ...): each means the file is damaged.
    except Exception as exc:
        raise ModelFileError(
            f"{str(p)!r} is not a readable funkrs model file (truncated, corrupted or not a "
            f"model): {type(exc).__name__}: {exc}"
        ) from None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> np.ndarray:
    """One ``.npy`` member, after checking that its header fits the bytes it holds."""
    name = info.filename
    if info.file_size > limit:
        raise ValueError(f"member {name} claims {info.file_size} bytes")
    with archive.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"member {name} uses .npy format {version}")
    if dtype.hasobject:
        raise ValueError(f"member {name} holds Python objects, which funkrs never reads")
    if math.prod(shape) * dtype.itemsize > info.file_size:
        raise ValueError(f"member {name} declares shape {shape}, more data than it holds")
    with archive.open(info) as fh:
        arr = np.lib.format.read_array(fh, allow_pickle=False)
    return np.ascontiguousarray(arr)


def _read_meta(p: Path, arrays: dict[str, np.ndarray], stacklevel: int) -> dict[str, Any]:
    raw = arrays.get("meta")
    try:
        if raw is None:
            raise ValueError("no header")
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"the header is {raw.dtype} of shape {raw.shape}, not bytes")
        meta = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("magic") != _MAGIC:
            raise ValueError("wrong header")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{str(p)!r} is not a funkrs model file ({exc})") from None
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{str(p)!r} is damaged: format_version is {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(p)!r} uses model format {version!r}; this funkrs reads format "
            f"{FORMAT_VERSION} or older; upgrade funkrs"
        )
    if meta.get("funkrs_version") != __version__:
        warnings.warn(
            f"{str(p)!r} was saved by funkrs {meta.get('funkrs_version')}; this is {__version__}",
            UserWarning,
            stacklevel=stacklevel,
        )
    return meta


def _build_state(p: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> FittedState:
    missing = [name for name in _ARRAYS if name not in arrays]
    if missing:
        raise ModelFileError(f"{str(p)!r} lacks the arrays {missing}; the file is damaged")
    lacking = [k for k in ("solver", "global_mean", "biased", "rating_scale") if k not in meta]
    if lacking:
        raise ModelFileError(f"{str(p)!r} is damaged: the header lacks the fields {lacking}")
    item_ids = arrays["item_ids"]
    # Files written before recommend had a popularity term rank by the prediction alone.
    n_items = item_ids.shape[0] if item_ids.ndim == 1 else 0
    offset = arrays.get("item_rank_offset", np.zeros(n_items, np.float32))
    scale = meta["rating_scale"]
    state = FittedState(
        user_factors=arrays["user_factors"],
        item_factors=arrays["item_factors"],
        user_bias=arrays["user_bias"],
        item_bias=arrays["item_bias"],
        global_mean=meta["global_mean"],
        biased=meta["biased"],
        users=Vocabulary.from_sorted(arrays["user_ids"]),
        items=Vocabulary.from_sorted(item_ids),
        rating_scale=tuple(scale) if isinstance(scale, list) else scale,
        seen_indptr=arrays["seen_indptr"],
        seen_indices=arrays["seen_indices"],
        item_rank_offset=offset,
        history=history_rows(meta.get("history", [])),
        best_epoch=meta.get("best_epoch"),
        solver=meta["solver"],
        # Files written before solver diagnostics were kept have none.
        solver_info=meta.get("solver_info", {}),
    )
    try:
        state.validate(ModelFileError)
    except ModelFileError as exc:
        raise ModelFileError(f"{str(p)!r} is damaged: {exc}") from None
    lo, hi = state.rating_scale
    return state.replace(
        global_mean=float(state.global_mean),
        biased=bool(state.biased),
        rating_scale=(float(lo), float(hi)),
    )


# -- the estimator-level loader -------------------------------------------------------------
# funkrs.model registers its loader here, so that ``funkrs.persistence.load`` keeps working
# for existing callers without this module importing the estimator.
_loader: Callable[[str | os.PathLike[str]], Any] | None = None


def set_loader(loader: Callable[[str | os.PathLike[str]], Any]) -> None:
    """Register the function :func:`load` delegates to (done by :mod:`funkrs.model`)."""
    global _loader
    _loader = loader


def load(path: str | os.PathLike[str]) -> Any:
    """Load a model file as a fitted estimator; the same as :func:`funkrs.load`.

    New code should call :func:`funkrs.load` or :func:`funkrs.model.load`.
    """
    if _loader is None:  # pragma: no cover - funkrs.model is imported by the package
        raise ModelFileError("no estimator loader is registered; import funkrs first")
    return _loader(path)
