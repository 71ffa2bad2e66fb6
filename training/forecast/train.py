"""Training loops: the served generator model (fresh series every epoch) and real CSV series.

Both keep the weights of the best validation epoch, halve the learning rate on a plateau and
stop early; `max_seconds` is a safety net on top of the epoch limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from training.forecast import data, models

Log = Callable[[str], None]


@dataclass(frozen=True)
class FitConfig:
    epochs: int
    batch_size: int = 128
    learning_rate: float = 2e-3
    patience: int = 6  # epochs without a better validation score before stopping
    plateau: int = 2  # epochs without improvement before halving the learning rate
    min_learning_rate: float = 1e-5
    max_seconds: float = float("inf")
    schedule: str = "plateau"  # "plateau": halve on a plateau; "cosine": decay over `epochs`
    loss: str = "mse"
    score_start: bool = False  # score the untrained model too (it may stay the best)


def cosine_learning_rate(config: FitConfig, epoch: int) -> float:
    """Cosine decay from `learning_rate` (epoch 1) towards `min_learning_rate` (last epoch)."""
    progress = (epoch - 1) / max(config.epochs - 1, 1)
    span = config.learning_rate - config.min_learning_rate
    return config.min_learning_rate + 0.5 * span * (1 + math.cos(math.pi * progress))


@dataclass
class FitHistory:
    epochs_run: int = 0
    best_epoch: int = 0
    best_score: float = float("inf")
    seconds: float = 0.0
    scores: list[float] = field(default_factory=list)
    stopped_because: str = ""


def last_step_mse(model: keras.Model, x: np.ndarray, y_vec: np.ndarray) -> float:
    """MSE of the forecast made at the last step (seq2seq) against y_vec [n, horizon*targets]."""
    prediction = np.asarray(model.predict(x, batch_size=1000, verbose=0))
    if prediction.ndim == 3:
        prediction = prediction[:, -1]
    return float(np.mean(np.square(prediction - y_vec.reshape(prediction.shape))))


def fit(
    model: keras.Model,
    next_batch: Callable[[int], tuple[np.ndarray, np.ndarray]],
    score: Callable[[keras.Model], float],
    config: FitConfig,
    log: Log = print,
) -> FitHistory:
    """Train epoch by epoch on `next_batch(epoch)`, keeping the weights with the best `score`."""
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
    model.compile(loss=config.loss, optimizer=optimizer)
    history, best_weights, since_best = FitHistory(), model.get_weights(), 0
    start = time.perf_counter()
    if config.score_start:
        history.best_score = score(model)
    for epoch in range(1, config.epochs + 1):
        if config.schedule == "cosine":
            optimizer.learning_rate.assign(cosine_learning_rate(config, epoch))
        x, y = next_batch(epoch)
        model.fit(x, y, batch_size=config.batch_size, epochs=1, shuffle=True, verbose=0)
        value = score(model)
        history.epochs_run, history.seconds = epoch, time.perf_counter() - start
        history.scores.append(value)
        learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        if value < history.best_score:
            history.best_score, history.best_epoch, since_best = value, epoch, 0
            best_weights = model.get_weights()
        else:
            since_best += 1
            plateau = config.schedule == "plateau" and since_best % config.plateau == 0
            if plateau and learning_rate > config.min_learning_rate:
                optimizer.learning_rate.assign(max(learning_rate / 2, config.min_learning_rate))
        log(
            f"[train] epoch {epoch}/{config.epochs}  val {value:.5g}  best {history.best_score:.5f}"
            f" (epoch {history.best_epoch})  lr {learning_rate:.2g}  {history.seconds:.0f} s"
        )
        if since_best >= config.patience:
            history.stopped_because = f"no improvement for {config.patience} epochs"
            break
        if history.seconds >= config.max_seconds:
            history.stopped_because = f"time budget of {config.max_seconds:.0f} s used"
            break
    else:
        history.stopped_because = "epoch limit"
    model.set_weights(best_weights)
    return history


# --------------------------------------------------------------------------- generator model
@dataclass(frozen=True)
class GeneratorConfig:
    n_steps: int = 50
    horizon: int = 10
    series_per_epoch: int = 10_000  # fresh series drawn for every epoch
    n_valid: int = 2_000
    n_test: int = 10_000
    units: int = 64
    kind: str = "lstm"
    seed: int = 42


@dataclass(frozen=True)
class GeneratorResult:
    model: keras.Sequential
    history: FitHistory
    test_x: np.ndarray  # fresh series (their own seed), [n_test, n_steps, 1]
    test_y: np.ndarray  # the next `horizon` values, [n_test, horizon]
    n_series: int  # distinct training series seen


def generator_seeds(seed: int) -> tuple[int, int, int]:
    """Independent streams for training, validation and the fresh test series."""
    return seed, seed + 1_000_001, seed + 2_000_003


def train_on_generator(
    config: GeneratorConfig, fit_config: FitConfig, log: Log = print
) -> GeneratorResult:
    train_seed, valid_seed, test_seed = generator_seeds(config.seed)
    rng = np.random.default_rng(train_seed)
    total = config.n_steps + config.horizon
    valid = data.generate_time_series(config.n_valid, total, np.random.default_rng(valid_seed))
    test = data.generate_time_series(config.n_test, total, np.random.default_rng(test_seed))
    valid_x, valid_y = valid[:, : config.n_steps], valid[:, -config.horizon :, 0]

    def next_batch(_epoch: int) -> tuple[np.ndarray, np.ndarray]:
        series = data.generate_time_series(config.series_per_epoch, total, rng)
        return series[:, : config.n_steps], data.seq2seq_targets(
            series, config.n_steps, config.horizon
        )

    model = models.served_seq2seq(config.horizon, units=config.units, kind=config.kind)
    log(
        f"[train] {model.count_params():,} parameters;"
        f" {config.series_per_epoch:,} fresh series per epoch"
    )
    history = fit(model, next_batch, lambda m: last_step_mse(m, valid_x, valid_y), fit_config, log)
    return GeneratorResult(
        model=model,
        history=history,
        test_x=test[:, : config.n_steps],
        test_y=test[:, -config.horizon :, 0],
        n_series=config.series_per_epoch * history.epochs_run,
    )
