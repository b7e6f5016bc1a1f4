"""Saving and loading fitted models: ``.npz`` arrays plus a JSON header, never pickle."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from funkrs._vocab import Vocabulary
from funkrs.exceptions import ModelFileError

if TYPE_CHECKING:
    from funkrs.model import MatrixFactorization

__all__ = ["FORMAT_VERSION", "load", "save_model"]

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


def save_model(model: MatrixFactorization, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically (a temporary file renamed into place)."""
    from funkrs import __version__

    params = model.get_params()
    if isinstance(params.get("random_state"), np.random.Generator):
        params["random_state"] = None
    if params.get("solver_options") is not None:
        params["solver_options"] = dict(params["solver_options"])
    meta = {
        "magic": _MAGIC,
        "format_version": FORMAT_VERSION,
        "funkrs_version": __version__,
        "solver": model.solver_,
        "params": params,
        "global_mean": model.global_mean_,
        "biased": model.biased_,
        "rating_scale": list(model.rating_scale_),
        "history": model.history_.to_dicts(),
        "best_epoch": model.best_epoch_,
    }
    try:
        header = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model parameters cannot be saved as JSON: {exc}") from None
    arrays = {
        "user_factors": model.user_factors_,
        "item_factors": model.item_factors_,
        "user_bias": model.user_bias_,
        "item_bias": model.item_bias_,
        "user_ids": model.users_.ids_array,
        "item_ids": model.items_.ids_array,
        "seen_indptr": model._seen_indptr,
        "seen_indices": model._seen_indices,
        "item_rank_offset": model.item_rank_offset_,
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


def load(path: str | os.PathLike[str]) -> MatrixFactorization:
    """Load a model written by :meth:`MatrixFactorization.save`.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ModelFileError
        The file is not a funkrs model, or it is truncated or corrupted.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"model file not found: {str(p)!r}")
    try:
        with open(p, "rb") as fh:
            npz = np.load(fh, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("a bare .npy array, not a model archive")
            with npz:
                data = {name: npz[name] for name in npz.files}
    except (
        zipfile.BadZipFile,
        ValueError,
        OSError,
        EOFError,
        KeyError,
        io.UnsupportedOperation,
    ) as exc:
        raise ModelFileError(
            f"{str(p)!r} is not a readable funkrs model file (truncated, corrupted or not a "
            f"model): {exc}"
        ) from None
    meta = _read_meta(p, data)
    return _build(p, meta, data)


def _read_meta(p: Path, data: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = data.get("meta")
    try:
        if raw is None:
            raise ValueError("no header")
        meta = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("magic") != _MAGIC:
            raise ValueError("wrong header")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{str(p)!r} is not a funkrs model file ({exc})") from None
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(p)!r} uses model format {version!r}; this funkrs reads format "
            f"{FORMAT_VERSION} or older; upgrade funkrs"
        )
    from funkrs import __version__

    if meta.get("funkrs_version") != __version__:
        warnings.warn(
            f"{str(p)!r} was saved by funkrs {meta.get('funkrs_version')}; this is {__version__}",
            UserWarning,
            stacklevel=3,
        )
    return meta


def _build(p: Path, meta: dict[str, Any], data: dict[str, np.ndarray]) -> MatrixFactorization:
    from funkrs.model import MatrixFactorization, history_frame

    missing = [name for name in _ARRAYS if name not in data]
    if missing:
        raise ModelFileError(f"{str(p)!r} lacks the arrays {missing}; the file is damaged")
    try:
        model = MatrixFactorization(**meta["params"])
        p_, q_ = data["user_factors"], data["item_factors"]
        n_users, n_items = len(data["user_ids"]), len(data["item_ids"])
        ok = (
            p_.ndim == 2
            and q_.ndim == 2
            and p_.shape[0] == n_users
            and q_.shape[0] == n_items
            and p_.shape[1] == q_.shape[1]
            and data["user_bias"].shape == (n_users,)
            and data["item_bias"].shape == (n_items,)
            and data["seen_indptr"].shape == (n_users + 1,)
        )
        if not ok:
            raise ValueError("array shapes disagree")
        vocab_u, vocab_i = Vocabulary.__new__(Vocabulary), Vocabulary.__new__(Vocabulary)
        vocab_u.__setstate__({"ids": data["user_ids"]})
        vocab_i.__setstate__({"ids": data["item_ids"]})
        model.user_factors_ = p_
        model.item_factors_ = q_
        model.user_bias_ = data["user_bias"]
        model.item_bias_ = data["item_bias"]
        model.global_mean_ = float(meta["global_mean"])
        model.biased_ = bool(meta["biased"])
        model.users_ = vocab_u
        model.items_ = vocab_i
        lo, hi = meta["rating_scale"]
        model.rating_scale_ = (float(lo), float(hi))
        model.history_ = history_frame(meta["history"])
        model.n_iter_ = model.history_.height
        model.best_epoch_ = meta.get("best_epoch")
        model.solver_ = str(meta["solver"])
        model._seen_indptr = data["seen_indptr"]
        model._seen_indices = data["seen_indices"]
        # Files written before recommend had a popularity term rank by the prediction alone.
        offset = data.get("item_rank_offset", np.zeros(n_items, np.float32))
        if offset.shape != (n_items,):
            raise ValueError("item_rank_offset has the wrong shape")
        model.item_rank_offset_ = offset
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{str(p)!r} is damaged: {exc}") from None
    return model
