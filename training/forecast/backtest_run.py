"""One backtest from options: train on the first part (unless an artifact is given), score."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from training.forecast import backtest
from training.forecast.realplan import RealOptions, load_series, plan

Log = Callable[[str], None]


@dataclass(frozen=True)
class BacktestOptions:
    real: RealOptions  # the series and the training options (use_fraction = training part)
    origins: int = 10
    results: Path = Path("results/forecast/backtest")
    name: str | None = None
    model: Path | None = None  # an existing artifact instead of training one
    out: Path | None = None  # where to put the trained artifact (default: a temporary dir)
    budget_minutes: float = 2.5
    threads: int = 1


def run(options: BacktestOptions, command: str, log: Log = print) -> backtest.BacktestResult:
    name = options.name or options.real.csv_path.stem
    notes: list[str] = []
    series, _ = load_series(replace(options.real, use_fraction=1.0), notes)
    values = series.values.astype("float64")
    train_rows = round(len(values) * options.real.use_fraction)
    seasons = options.real.seasons
    train_seconds = None
    with tempfile.TemporaryDirectory() as scratch:
        artifact = options.model
        if artifact is None:
            prepared = plan(options.real)  # checks everything before TensorFlow starts
            from training.forecast import runtime

            runtime.configure(options.threads, options.real.seed)
            from training.forecast.realrun import Budget
            from training.forecast.realrun import run as train
            from training.forecast.target import Target

            root = options.out or Path(scratch)
            target = Target(root, name, "1", overwrite=True)
            start = time.perf_counter()
            card = train(
                target,
                prepared,
                Budget(seconds=options.budget_minutes * 60),
                command,
                allow_worse=True,
                log=log,
            )
            train_seconds = time.perf_counter() - start
            artifact = target.directory
            seasons = card.forecast.seasons if card.forecast else seasons
        if seasons is None:
            from contract.card import ModelCard

            spec = ModelCard.load(artifact).forecast
            seasons = spec.seasons if spec and spec.seasons else [1]
        horizon = options.real.horizon
        origins = backtest.rolling_origins(len(values), train_rows, horizon, options.origins)
        result = backtest.backtest(name, values, artifact, seasons, origins, train_rows)
    trained = (
        f"trained on the first {train_rows} of {len(values)} steps in {train_seconds:.0f} s"
        if train_seconds is not None
        else f"artifact {options.model}"
    )
    header = (
        f"`{command}`: horizon {horizon}, seasons {seasons}; model {trained}; each origin's "
        "request carries the whole history before it; baselines (statsforecast) are fitted "
        "on the same history."
    )
    backtest.write(result, values, options.results, header)
    log(f"[backtest] wrote {options.results / name}.md/.json/.png")
    return result
