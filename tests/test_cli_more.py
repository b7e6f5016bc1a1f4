from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest

import funkrs
from funkrs._progress import FitProgress
from funkrs.cli import main

FIT = ["--n-factors", "4", "--n-epochs", "5", "--seed", "1"]


@pytest.fixture
def ratings_csv(tmp_path: Path) -> Path:
    data = funkrs.testing.low_rank_ratings(30, 20)
    path = tmp_path / "ratings.csv"
    data.to_frame().write_csv(path)
    return path


@pytest.fixture
def model_file(ratings_csv: Path, tmp_path: Path, capsys) -> Path:
    out = tmp_path / "m.funkrs"
    args = ["fit", str(ratings_csv), "-o", str(out), *FIT, "--validation", str(ratings_csv)]
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    return out


def test_cross_validate_json(ratings_csv: Path, capsys) -> None:
    args = ["cross-validate", str(ratings_csv), *FIT, "--folds", "3", "--json"]
    assert main([*args, "--metrics", "rmse", "ndcg@5", "--jobs", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["folds"]) == 3
    assert set(out["mean"]) == {"rmse", "ndcg@5", "fit_time", "test_time"}
    assert out["mean"]["rmse"] > 0


def test_cross_validate_table_and_quiet(ratings_csv: Path, capsys) -> None:
    assert main(["cross-validate", str(ratings_csv), *FIT, "--folds", "2"]) == 0
    out = capsys.readouterr().out
    assert "2-fold cross-validation" in out
    assert "mean" in out
    assert main(["cross-validate", str(ratings_csv), *FIT, "--folds", "2", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("RMSE ")


def test_cross_validate_errors(ratings_csv: Path, capsys) -> None:
    assert main(["cross-validate", str(ratings_csv), "--metrics", "auc"]) == 1
    err = capsys.readouterr().err
    assert "unknown metric 'auc'" in err
    assert "Traceback" not in err
    assert main(["cross-validate", str(ratings_csv), "--folds", "1"]) == 1
    assert "cv must be an integer >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["cross-validate"])
    assert info.value.code == 2


def test_evaluate_ranking_metrics(model_file: Path, ratings_csv: Path, capsys) -> None:
    args = ["evaluate", str(model_file), str(ratings_csv), "--json", "--threshold", "0"]
    assert main([*args, "--metrics", "rmse", "precision@3", "coverage@3"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert list(scores) == ["rmse", "precision@3", "coverage@3"]


def test_similar(model_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["similar", str(model_file), "0", "1", "-n", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 6
    assert {r["item"] for r in rows} == {0, 1}
    assert main(["similar", str(model_file), "0", "--users", "-n", "2"]) == 0
    assert "similar" in capsys.readouterr().out
    out = tmp_path / "sim.parquet"
    assert main(["similar", str(model_file), "2", "-o", str(out), "--metric", "dot"]) == 0
    assert pl.read_parquet(out).height == 10
    assert main(["similar", str(model_file), "abc"]) == 1
    assert "integers" in capsys.readouterr().err
    assert main(["similar", str(model_file), "999"]) == 1
    assert "999" in capsys.readouterr().err


def test_recommend_parquet_batches(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "recs.parquet"
    args = ["recommend", str(model_file), "-o", str(out), "-n", "2", "--batch-size", "7"]
    assert main([*args, "--quiet"]) == 0
    recs = pl.read_parquet(out)
    assert recs.height == 60
    assert recs["user"].n_unique() == 30


def test_recommend_rejects_ids_of_the_wrong_type(model_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "recs.parquet"
    assert main(["recommend", str(model_file), "-o", str(out), "--users", "abc"]) == 1
    err = capsys.readouterr().err
    assert "user ids of this model are integers" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_fit_progress_bar() -> None:
    pytest.importorskip("tqdm")
    buf = io.StringIO()
    prog = FitProgress(3, bar=True, file=buf)
    for e in range(1, 4):
        prog({"epoch": e, "train_rmse": 1.0 / e, "validation_rmse": 2.0, "seconds": 0.1})
    prog.close()
    text = buf.getvalue()
    assert "3/3" in text
    assert "val_rmse=2.0000" in text


def test_fit_progress_lines_and_quiet(capsys) -> None:
    prog = FitProgress(2, bar=False)
    prog({"epoch": 1, "train_rmse": 0.5, "validation_rmse": None, "seconds": 0.1})
    assert "epoch   1/2  train RMSE 0.5000" in capsys.readouterr().out
    quiet = FitProgress(2, quiet=True)
    quiet({"epoch": 1, "train_rmse": 0.5, "validation_rmse": None, "seconds": 0.1})
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "args",
    [
        ["learning-curve", "{model}"],
        ["spectrum", "{model}"],
        ["spectrum", "{data}"],
        ["latent", "{model}", "-n", "5", "--labels", "{labels}"],
        ["latent", "{model}", "--dims", "3", "--kind", "users"],
        ["grid-search", "{data}", "--values", "2", "4", "--folds", "2", "--n-epochs", "3"],
    ],
)
def test_plot(args, model_file: Path, ratings_csv: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    labels = tmp_path / "labels.csv"
    pl.DataFrame({"item": [0, 1], "title": ["zero", "one"]}).write_csv(labels)
    subst = {"{model}": str(model_file), "{data}": str(ratings_csv), "{labels}": str(labels)}
    out = tmp_path / "fig.png"
    filled = [subst.get(a, a) for a in args]
    assert main(["plot", *filled, "-o", str(out)]) == 0, capsys.readouterr().err
    assert out.read_bytes().startswith(b"\x89PNG")


def test_plot_errors(model_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["plot", "learning-curve", str(model_file), "-o", str(tmp_path / "x.jpg")]) == 1
    assert ".png" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["plot", "nope", "-o", "x.png"])
    assert info.value.code == 2


def test_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for cmd in ["demo", "fit", "predict", "evaluate", "cross-validate", "recommend", "similar",
                "info", "plot"]:  # fmt: skip
        assert cmd in out
