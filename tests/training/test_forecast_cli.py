"""`python -m training forecast`: help, and bad input exits non-zero with no artifact left."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.forecast.cli import EXIT_BAD_INPUT, main


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "lineup" in out and "train" in out
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--csv", "--columns", "--window", "--horizon", "--out", "--epochs", "--seed"):
        assert flag in out


def test_unknown_option_is_a_usage_error() -> None:
    assert main(["train", "--no-such-flag"]) == 2


def _csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "series.csv"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = "t,value\n" + "\n".join(f"{t},{t % 7}" for t in range(100)) + "\n"


@pytest.mark.parametrize(
    ("body", "columns", "extra", "message"),
    [
        (None, "value", [], "CSV file not found"),
        ("t,value\n1,2\n2,abc\n", "value", [], "non-numeric value 'abc'"),
        ("t,value\n1,2\n2,\n3,4\n", "value", [], "missing value in column 'value', line 3"),
        (GOOD, "value", ["--window", "95", "--horizon", "10"], "shorter than window + horizon"),
        (GOOD, "volume", [], "unknown column(s) volume"),
        (GOOD, "value", ["--targets", "t"], "not among --columns"),
        (GOOD, "", [], "--csv needs --columns"),
    ],
)
def test_bad_input_exits_non_zero_and_leaves_no_artifact(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    body: str | None,
    columns: str,
    extra: list[str],
    message: str,
) -> None:
    csv_path = _csv(tmp_path, body) if body is not None else tmp_path / "missing.csv"
    out = tmp_path / "models"
    argv = ["train", "--csv", str(csv_path), "--columns", columns, "--out", str(out), *extra]
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not out.exists()


def test_existing_artifact_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "models" / "series" / "1"
    existing.mkdir(parents=True)
    (existing / "keep.txt").write_text("x", encoding="utf-8")
    argv = ["train", "--csv", str(_csv(tmp_path, GOOD)), "--columns", "value"]
    assert main([*argv, "--out", str(tmp_path / "models")]) == EXIT_BAD_INPUT
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]
