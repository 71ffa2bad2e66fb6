"""The CLI's answer to bad input: a clear message, exit code 2, and no artifact."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.sentiment.cli import main

from .test_sentiment_data import make_reviews, write_csv


def _train(data: Path, output: Path) -> list[str]:
    return ["train", "--data", str(data), "--output", str(output), "--epochs", "1"]


def test_help_lists_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "train" in out and "compare" in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--max-length" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("review,sentiment\n", "no reviews"),
        ("text,label\nnice,positive\nbad,negative\n", "missing column"),
        ("review,sentiment\nnice,positive\nbad,negative\nhm,neutral\n", "two classes"),
        ("review,sentiment\nnice,positive\ngood,positive\n", "only one class"),
    ],
)
def test_bad_csv_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text(content, encoding="utf-8")
    output = tmp_path / "models" / "sentiment" / "1"
    assert main(_train(data, output)) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err and str(data) in err
    assert not (tmp_path / "models").exists()


def test_too_few_reviews_for_the_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(tmp_path / "reviews.csv", make_reviews(40))
    output = tmp_path / "out"
    assert main(_train(data, output)) == 2  # 5,000 validation + 5,000 test by default
    assert "cannot give" in capsys.readouterr().err
    assert not output.exists()


def test_missing_data_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_train(tmp_path / "nope.csv", tmp_path / "out")) == 2
    assert "no such file" in capsys.readouterr().err


def test_existing_artifact_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_csv(tmp_path / "reviews.csv", make_reviews(100))
    output = tmp_path / "out"
    output.mkdir()
    (output / "card.json").write_text("{}", encoding="utf-8")
    assert main(_train(data, output)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (output / "card.json").read_text(encoding="utf-8") == "{}"


def test_table_without_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "--results-dir", str(tmp_path / "none")]) == 2
    assert "run the comparison first" in capsys.readouterr().err
