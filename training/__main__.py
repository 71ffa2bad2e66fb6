"""`python -m training {forecast,sentiment} ...`: train, evaluate and export the models."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train, evaluate and export the recurrent models of the notes.",
    )
    parser.add_argument("task", choices=["forecast", "sentiment"], help="which pipeline to run")
    args, rest = parser.parse_known_args(argv)
    if args.task == "forecast":
        from training.forecast.cli import main as task_main
    else:
        from training.sentiment.cli import main as task_main
    return task_main(rest)


if __name__ == "__main__":
    sys.exit(main())
