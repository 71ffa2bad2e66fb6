"""`python -m training` hands everything after the task to that task's parser."""

from __future__ import annotations

import pytest

from training.__main__ import main


@pytest.mark.parametrize("task", ["forecast", "sentiment"])
def test_task_help_is_the_tasks_own(task: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        status = main([task, "--help"])
    except SystemExit as exit_info:  # a task parser may exit or return its status
        status = int(exit_info.code or 0)
    assert status == 0
    out = capsys.readouterr().out
    assert "which pipeline to run" not in out
    assert task in out


def test_unknown_task_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["weather"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "which pipeline to run" in capsys.readouterr().out
