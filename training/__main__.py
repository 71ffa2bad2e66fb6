"""`python -m training {forecast,sentiment} ...`: train, evaluate and export the models."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

TASKS = ("forecast", "sentiment")


def _task_main(task: str) -> Callable[[list[str]], int]:
    if task == "forecast":
        from training.forecast.cli import main as forecast_main

        return forecast_main
    from training.sentiment.cli import main as sentiment_main

    return sentiment_main


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in TASKS:
        # Everything after the task, --help included, belongs to the task's own parser.
        return _task_main(args[0])(args[1:])
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train, evaluate and export the recurrent models of the notes.",
    )
    parser.add_argument("task", choices=TASKS, help="which pipeline to run")
    parser.parse_args(args)  # only reached without a valid task: prints help or the error
    return 2


if __name__ == "__main__":
    sys.exit(main())
