"""The book-protocol comparison: train the notes' lineup and set it beside Géron's figures.

Protocol of the ch. 15 notebook: n_steps = 50, 10,000 series drawn with seed 42, split
7,000 / 2,000 / 1,000, Adam, 20 epochs, batch 32, seeds reset to 42 before each model; the
figure is the validation MSE (for sequence-to-sequence models: the MSE of the last step's 10
forecasts, the book's `last_time_step_mse`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from training.forecast import data, models

N_STEPS, HORIZON, N_SERIES, N_TRAIN, N_VALID, SEED = 50, 10, 10_000, 7_000, 2_000, 42
BOOK_EPOCHS = 20

Log = Callable[[str], None]


@dataclass
class Row:
    section: str
    name: str
    model: str
    book_mse: float
    our_mse: float
    epochs: int
    seconds: float
    params: int
    recurrent_ops: dict[str, list[str]] = field(default_factory=dict)  # exporter -> op types


@dataclass(frozen=True)
class LineupConfig:
    epochs: int = BOOK_EPOCHS
    n_series: int = N_SERIES
    n_train: int = N_TRAIN
    n_valid: int = N_VALID
    seed: int = SEED
    op_types: bool = True  # record the tf2onnx / native op types of the recurrent models


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.square(np.asarray(y_true) - np.asarray(y_pred))))


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=1000, verbose=0))


def _fit(
    model: keras.Model,
    train: data.Split,
    valid: data.Split,
    epochs: int,
    learning_rate: float,
) -> float:
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
    start = time.perf_counter()
    model.fit(train.x, train.y, epochs=epochs, validation_data=(valid.x, valid.y), verbose=0)
    return time.perf_counter() - start


class Lineup:
    """Runs the lineup one model at a time, appending a `Row` per model."""

    def __init__(self, config: LineupConfig, log: Log = print) -> None:
        self.config = config
        self.log = log
        self.rows: list[Row] = []

    def _reseed(self) -> None:
        keras.utils.set_random_seed(self.config.seed)

    def _record(self, row: Row) -> None:
        self.rows.append(row)
        self.log(
            f"[lineup] {row.section:<22} {row.name:<34} ours {row.our_mse:.4f}"
            f"  book {row.book_mse:.4f}  ({row.seconds:.0f} s)"
        )

    def _train_and_score(
        self,
        section: str,
        name: str,
        book: float,
        build: Callable[[], keras.Sequential],
        split: data.SplitData,
        learning_rate: float = 0.001,
        score: Callable[[keras.Model], float] | None = None,
    ) -> keras.Model:
        self._reseed()
        model = build()
        seconds = _fit(model, split.train, split.valid, self.config.epochs, learning_rate)
        ours = score(model) if score else mse(split.valid.y, _predict(model, split.valid.x))
        row = Row(section, name, model.name, book, ours, self.config.epochs, seconds, 0)
        row.params = int(model.count_params())
        self._record(row)
        return model

    def run(self) -> list[Row]:
        c = self.config
        one = data.next_step_data(c.n_series, N_STEPS, c.seed, c.n_train, c.n_valid)
        sec = "next step"
        self._record(
            Row(
                sec,
                "naive (last value)",
                "-",
                0.0202,
                mse(one.valid.y, one.valid.x[:, -1]),
                0,
                0,
                0,
            )
        )
        self._train_and_score(
            sec, "linear (Flatten + Dense)", 0.0042, lambda: models.linear(N_STEPS, 1), one
        )
        self._train_and_score(
            sec, "SimpleRNN(1)", 0.0109, models.simple_rnn_single_unit, one, learning_rate=0.005
        )
        self._train_and_score(sec, "deep SimpleRNN", 0.0029, models.deep_simple_rnn, one)
        one_step = self._train_and_score(
            sec, "deep SimpleRNN + Dense", 0.0026, lambda: models.deep_rnn_dense(1), one
        )

        ten = data.multi_step_vector_data(
            c.n_series, N_STEPS, HORIZON, c.seed, c.n_train, c.n_valid
        )
        sec = "10 steps (MSE over 10)"
        naive = np.tile(ten.valid.x[:, -1], HORIZON)
        self._record(Row(sec, "naive (last value)", "-", 0.257, mse(ten.valid.y, naive), 0, 0, 0))
        start = time.perf_counter()
        iterated = iterate_one_step(one_step, ten.valid.x, HORIZON)
        self._record(
            Row(
                sec,
                "iterated one-step (deep RNN + Dense)",
                one_step.name,
                0.0275,
                mse(ten.valid.y, iterated),
                0,
                time.perf_counter() - start,
                int(one_step.count_params()),
            )
        )
        self._train_and_score(
            sec,
            "linear (Flatten + Dense(10))",
            0.0187,
            lambda: models.linear(N_STEPS, HORIZON),
            ten,
        )
        self._train_and_score(
            sec,
            "seq2vec deep SimpleRNN + Dense(10)",
            0.0085,
            lambda: models.deep_rnn_dense(HORIZON),
            ten,
        )

        seq, vec = data.seq2seq_data(c.n_series, N_STEPS, HORIZON, c.seed, c.n_train, c.n_valid)
        sec = "seq2seq (last-step MSE)"

        def last_step(model: keras.Model) -> float:
            return mse(vec.valid.y, _predict(model, vec.valid.x)[:, -1])

        self._train_and_score(
            sec,
            "SimpleRNN(20) x2",
            0.0096,
            lambda: models.recurrent_seq2seq("simple_rnn", HORIZON),
            seq,
            learning_rate=0.01,
            score=last_step,
        )
        self._train_and_score(
            sec,
            "LSTM(20) x2",
            0.0086,
            lambda: models.recurrent_seq2seq("lstm", HORIZON),
            seq,
            score=last_step,
        )
        self._train_and_score(
            sec,
            "GRU(20) x2",
            0.0103,
            lambda: models.recurrent_seq2seq("gru", HORIZON),
            seq,
            score=last_step,
        )
        conv = data.SplitData(
            *(
                data.Split(s.x, np.asarray(models.conv_targets(s.y)))
                for s in (seq.train, seq.valid, seq.test)
            )
        )
        self._train_and_score(
            sec,
            "Conv1D + GRU(20) x2",
            0.0080,
            lambda: models.conv_gru_seq2seq(HORIZON),
            conv,
            score=last_step,
        )
        self._train_and_score(
            sec,
            "WaveNet-style dilated Conv1D",
            0.0072,
            lambda: models.wavenet(HORIZON),
            seq,
            score=last_step,
        )
        return self.rows


def iterate_one_step(model: keras.Model, x: np.ndarray, horizon: int) -> np.ndarray:
    """Forecast `horizon` steps by feeding each one-step prediction back as an input."""
    window = x
    for _ in range(horizon):
        step = _predict(model, window)[:, np.newaxis, :]
        window = np.concatenate([window, step], axis=1)
    return window[:, x.shape[1] :, 0]


def write_results(
    rows: list[Row], config: LineupConfig, out_dir: Path, extra: dict[str, Any]
) -> None:
    """Write `lineup.json` and `lineup.md` into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"protocol": asdict(config) | extra, "rows": [asdict(r) for r in rows]}
    (out_dir / "lineup.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    (out_dir / "lineup.md").write_text(render_markdown(rows, config, extra), encoding="utf-8")


def render_markdown(rows: list[Row], config: LineupConfig, extra: dict[str, Any]) -> str:
    n_test = config.n_series - config.n_train - config.n_valid
    lines = [
        "# Forecasting lineup vs. the book (Géron ch. 15)",
        "",
        f"Protocol: n_steps = {N_STEPS}, {config.n_series:,} series from the notes' generator with"
        f" seed {config.seed} (NumPy legacy `RandomState`, the notebook's draws),"
        f" split {config.n_train:,} / {config.n_valid:,} / {n_test:,},"
        f" Adam, batch 32, {config.epochs} epochs (the book: {BOOK_EPOCHS}), seeds reset to"
        f" {config.seed} before each model. Figures are validation MSE.",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in extra.items()]
    lines += [
        "",
        "| section | model | book | ours | ours / book | epochs | train s | params"
        " | recurrent ops |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        ops = "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in r.recurrent_ops.items())
        lines.append(
            f"| {r.section} | {r.name} | {r.book_mse:.4f} | {r.our_mse:.4f} |"
            f" {r.our_mse / r.book_mse:.2f} | {r.epochs} | {r.seconds:.0f} | {r.params:,}"
            f" | {ops or '-'} |"
        )
    return "\n".join(lines) + "\n"
