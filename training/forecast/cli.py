"""`python -m training forecast {lineup,train} ...`: the forecasting command line."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

DEFAULT_RESULTS = Path("results/forecast")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    parser.add_argument(
        "--threads", type=int, default=1, help="TensorFlow CPU threads (default: 1)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training forecast",
        description="Train the notes' forecasting models, compare them with the book, export ONNX.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    lineup = sub.add_parser(
        "lineup", help="train the book's lineup (book protocol) and write the results table"
    )
    _add_common(lineup)
    lineup.add_argument("--epochs", type=int, default=20, help="epochs per model (book: 20)")
    lineup.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="output directory")
    lineup.add_argument(
        "--no-op-types", action="store_true", help="skip recording the exported op types"
    )
    return parser


def run_lineup(args: argparse.Namespace, argv: list[str]) -> int:
    from training.forecast import runtime

    runtime.configure(args.threads, args.seed)
    from training.forecast.lineup import Lineup, LineupConfig, write_results

    config = LineupConfig(epochs=args.epochs, seed=args.seed, op_types=not args.no_op_types)
    start = time.perf_counter()
    rows = Lineup(config).run()
    seconds = time.perf_counter() - start
    extra = {
        "command": "python -m training forecast " + " ".join(argv),
        "threads": runtime.thread_count(),
        "wall_time_s": round(seconds, 1),
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    write_results(rows, config, args.results, extra)  # first, so a failure below loses nothing
    if config.op_types:
        from training.forecast.optypes import record_op_types

        record_op_types(rows)
        write_results(rows, config, args.results, extra)
    print(f"[lineup] wrote {args.results / 'lineup.md'} and lineup.json ({seconds:.0f} s)")
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "lineup":
        return run_lineup(args, argv)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
