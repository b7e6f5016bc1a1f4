from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import funkrs
from funkrs.exceptions import ModelFileError


def _same(a: funkrs.MatrixFactorization, b: funkrs.MatrixFactorization) -> None:
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert a.global_mean_ == b.global_mean_
    assert a.users_ == b.users_
    assert a.items_ == b.items_
    assert a.get_params() == b.get_params()
    assert a.rating_scale_ == b.rating_scale_
    assert a.history_.equals(b.history_)


def test_save_load_is_bit_exact(fitted: funkrs.MatrixFactorization, small, tmp_path: Path) -> None:
    path = tmp_path / "model.funkrs"
    fitted.save(path)
    assert path.exists()
    assert not list(tmp_path.glob("*.tmp"))
    back = funkrs.load(path)
    _same(fitted, back)
    np.testing.assert_array_equal(
        back.predict(small.raw_users(), small.raw_items()),
        fitted.predict(small.raw_users(), small.raw_items()),
    )
    assert back.recommend(n=3).equals(fitted.recommend(n=3))
    with np.load(path, allow_pickle=False) as npz:  # the documented format needs no pickle
        assert "meta" in npz.files


def test_pickle_round_trip(fitted: funkrs.MatrixFactorization) -> None:
    _same(fitted, pickle.loads(pickle.dumps(fitted)))


def test_foreign_truncated_and_corrupted_files(fitted, tmp_path: Path) -> None:
    good = tmp_path / "m.funkrs"
    fitted.save(good)
    data = good.read_bytes()
    cases = {
        "text.funkrs": b"hello, not a model",
        "truncated.funkrs": data[: len(data) // 2],
        "flipped.funkrs": data[:100] + bytes(b ^ 0xFF for b in data[100:400]) + data[400:],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelFileError):
            funkrs.load(tmp_path / name)
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with pytest.raises(ModelFileError, match="not a funkrs model"):
        funkrs.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        funkrs.load(tmp_path / "missing.funkrs")


def test_missing_array_is_reported(fitted, tmp_path: Path) -> None:
    good = tmp_path / "m.funkrs"
    fitted.save(good)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "cut.funkrs", "w") as dst:
        for info in src.infolist():
            if info.filename != "item_bias.npy":
                dst.writestr(info, src.read(info))
    with pytest.raises(ModelFileError, match="item_bias"):
        funkrs.load(tmp_path / "cut.funkrs")


def test_a_failed_save_leaves_nothing_behind(fitted, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "m.funkrs"
    target.write_bytes(b"previous content")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        fitted.save(target)
    assert target.read_bytes() == b"previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.funkrs"]


def test_unsaveable_params_fail_before_writing(fitted, tmp_path: Path) -> None:
    fitted.solver_options = {"weird": object()}
    with pytest.raises(ValueError, match="JSON"):
        fitted.save(tmp_path / "m.funkrs")
    assert not list(tmp_path.iterdir())


def test_a_bare_npy_file_is_not_a_model(tmp_path: Path) -> None:
    with open(tmp_path / "x.npy", "wb") as fh:
        np.save(fh, np.arange(4))
    with pytest.raises(ModelFileError, match="bare"):
        funkrs.load(tmp_path / "x.npy")
