"""Fit a sentiment model on length-bucketed batches, predict, and score it."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from training.sentiment.sequences import EncodedReviews, batch_count, bucketed_batches

Log = Callable[[str], None]


def limit_threads(threads: int) -> None:
    """Pin TensorFlow to `threads`; call before TensorFlow runs anything."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow already ran in this process (tests): the first setting stays


@dataclass(frozen=True)
class FitSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    patience: int  # epochs without a better validation accuracy before stopping
    # No new epoch starts if it would likely end past this much CPU time of this process (the
    # same as wall time on an idle machine; on a shared one, wall time is longer).
    time_budget_s: float
    seed: int


@dataclass(frozen=True)
class FitResult:
    epochs_run: int
    best_epoch: int
    duration_s: float  # wall time
    cpu_s: float  # CPU time of this process (all its threads)
    stopped_by_budget: bool
    stopped_on_request: bool
    history: dict[str, list[float]]


def _dataset(data: EncodedReviews, batch_size: int, rng: np.random.Generator | None) -> Any:
    import tensorflow as tf

    def generate() -> Any:
        for _, tokens, labels in bucketed_batches(data, batch_size, rng=rng):
            yield tokens, labels

    signature = (
        tf.TensorSpec((None, None), tf.int64),
        tf.TensorSpec((None,), tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(batch_count(data, batch_size)))


def fit(
    model: Any,
    train: EncodedReviews,
    validation: EncodedReviews,
    settings: FitSettings,
    log: Log,
) -> FitResult:
    """Adam + binary cross-entropy; early stopping on validation accuracy, best weights kept."""
    keras.utils.set_random_seed(settings.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(settings.seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    budget = _TimeBudget(settings.time_budget_s)
    progress = _Progress(log, started, settings.epochs)
    request = _StopRequest(log)
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", patience=settings.patience, restore_best_weights=True, mode="max"
    )
    history = model.fit(
        _dataset(train, settings.batch_size, rng),
        validation_data=_dataset(validation, 512, None),
        epochs=settings.epochs,
        callbacks=[stopper, budget, progress, request],
        shuffle=False,  # the batches are shuffled by bucketed_batches
        verbose=0,
    )
    scores = [float(v) for v in history.history["val_accuracy"]]
    best = int(np.argmax(scores))
    if stopper.stopped_epoch == 0 and best != len(scores) - 1:
        # EarlyStopping restores best weights only when it stops the run itself.
        model.set_weights(stopper.best_weights)
    return FitResult(
        epochs_run=len(scores),
        best_epoch=best + 1,
        duration_s=time.perf_counter() - started,
        cpu_s=time.process_time() - cpu_started,
        stopped_by_budget=budget.stopped,
        stopped_on_request=request.requested,
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
    )


class _TimeBudget(keras.callbacks.Callback):
    """Stop before an epoch that would end past the CPU-time budget (judged by the slowest)."""

    def __init__(self, budget_s: float) -> None:
        super().__init__()
        self.budget_s = budget_s
        self.started = time.process_time()
        self.slowest = 0.0
        self.epoch_started = self.started
        self.stopped = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epoch_started = time.process_time()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        now = time.process_time()
        self.slowest = max(self.slowest, now - self.epoch_started)
        if now - self.started + self.slowest > self.budget_s:
            self.stopped = True
            self.model.stop_training = True


class _StopRequest(keras.callbacks.Callback):
    """SIGUSR1 during training: finish the current epoch, keep the best weights, go on to export."""

    def __init__(self, log: Log) -> None:
        super().__init__()
        self.log = log
        self.requested = False
        self.previous: Any = None

    def _request(self, signum: int, frame: Any) -> None:
        self.requested = True
        self.log("stop requested: training ends after this epoch")

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGUSR1, self._request)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self.requested:
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGUSR1, self.previous)


class _Progress(keras.callbacks.Callback):
    def __init__(self, log: Log, started: float, epochs: int) -> None:
        super().__init__()
        self.log = log
        self.started = started
        self.cpu_started = time.process_time()
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        self.log(
            f"epoch {epoch + 1}/{self.epochs}: loss {logs.get('loss', float('nan')):.4f} "
            f"accuracy {logs.get('accuracy', float('nan')):.4f} "
            f"val_loss {logs.get('val_loss', float('nan')):.4f} "
            f"val_accuracy {logs.get('val_accuracy', float('nan')):.4f} "
            f"({time.perf_counter() - self.started:.0f} s elapsed, "
            f"{time.process_time() - self.cpu_started:.0f} s CPU)"
        )


def predict(model: Any, data: EncodedReviews, batch_size: int = 256) -> np.ndarray:
    """Positive-class probabilities in the order of `data` (inference mode, masked padding)."""
    import tensorflow as tf

    traced = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((None, None), tf.int64)],
    )
    probabilities = np.empty(len(data), np.float32)
    for rows, tokens, _ in bucketed_batches(data, batch_size):
        probabilities[rows] = np.asarray(traced(tf.constant(tokens))).reshape(-1)
    return probabilities


def binary_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float
) -> dict[str, float]:
    predicted = probabilities >= threshold
    actual = labels >= 0.5
    tp = float(np.sum(predicted & actual))
    fp = float(np.sum(predicted & ~actual))
    fn = float(np.sum(~predicted & actual))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float(np.mean(predicted == actual)),
        "f1": f1,
        "precision": precision,
        "recall": recall,
    }
