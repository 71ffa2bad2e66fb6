"""Mistakes on the command line are reported before TensorFlow (or gensim) is imported.

Each case runs `python -m training ...` in a fresh interpreter and checks the exit status, the
message and that no heavy module was loaded; the wall time bound is loose on purpose (a busy
machine), importing TensorFlow alone takes longer than the whole run should.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "keras", "tf2onnx", "gensim")
MAX_SECONDS = 2.0
_RUN = f"""
import sys
from training.__main__ import main
try:
    status = main(sys.argv[1:])
except SystemExit as exit_info:
    status = exit_info.code
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print("heavy modules:", ",".join(heavy) or "none", file=sys.stderr)
sys.exit(status)
"""


def _run(*args: str) -> tuple[int, str, float]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _RUN, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    return result.returncode, result.stdout + result.stderr, time.perf_counter() - started


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    empty = root / "empty.csv"
    empty.write_text("review,sentiment\n", encoding="utf-8")
    existing = root / "existing"
    existing.mkdir()
    return {
        "empty": empty,
        "missing": root / "missing.csv",
        "existing": existing,
        "fresh": root / "out",
    }


CASES: list[tuple[list[str], int, str]] = [
    (["--help"], 0, "which pipeline to run"),
    ([], 2, "the following arguments are required: task"),
    (["weather"], 2, "invalid choice"),
    (["sentiment", "--help"], 0, "compare"),
    (["sentiment"], 2, "required"),
    (["sentiment", "train", "--help"], 0, "--max-length"),
    (["sentiment", "train", "--epochs", "0"], 2, "--epochs: must be >= 1, got 0"),
    (["sentiment", "train", "--dropout", "2"], 2, "--dropout: must be in [0, 1), got 2.0"),
    (["sentiment", "train", "--threshold", "1"], 2, "--threshold: must be in (0, 1)"),
    (["sentiment", "train", "--learning-rate", "nan"], 2, "--learning-rate: must be > 0"),
    (["sentiment", "train", "--units", "ten"], 2, "--units: must be an integer, got 'ten'"),
    (["sentiment", "compare", "--batch-size", "-1"], 2, "--batch-size: must be >= 1"),
    (["sentiment", "compare", "--models", "rnn"], 2, "invalid choice: 'rnn'"),
    (["sentiment", "train", "--data", "{missing}", "--output", "{fresh}"], 2, "no such file"),
    (["sentiment", "compare", "--data", "{empty}"], 2, "no reviews below the header"),
    (["sentiment", "train", "--output", "{existing}"], 2, "--overwrite"),
]


@pytest.mark.parametrize(("args", "status", "message"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_command_lines_fail_fast_without_tensorflow(
    files: dict[str, Path], args: list[str], status: int, message: str
) -> None:
    args = [arg.format(**files) for arg in args]
    code, output, seconds = _run(*args)
    assert code == status, output
    assert message in output, output
    assert "heavy modules: none" in output, output
    assert seconds < MAX_SECONDS, f"{seconds:.2f} s"
