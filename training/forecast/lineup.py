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
BOOK_BEST_10_STEPS = 0.0072  # WaveNet-style dilated Conv1D, last-step MSE

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
    rows: list[Row],
    config: LineupConfig,
    out_dir: Path,
    extra: dict[str, Any],
    served: dict[str, Any] | None = None,
) -> None:
    """Write `lineup.json` and `lineup.md` into `out_dir` (`served`: the served model's card)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "protocol": asdict(config) | extra,
        "rows": [asdict(r) for r in rows],
    }
    if served is not None:
        payload["served_model"] = served_summary(served)
    (out_dir / "lineup.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    markdown = render_markdown(rows, config, extra, served)
    (out_dir / "lineup.md").write_text(markdown, encoding="utf-8")


def read_results(out_dir: Path) -> tuple[list[Row], LineupConfig, dict[str, Any]]:
    """Read back what `write_results` wrote (to re-render the table)."""
    payload = json.loads((out_dir / "lineup.json").read_text(encoding="utf-8"))
    fields = set(LineupConfig.__dataclass_fields__)
    protocol = payload["protocol"]
    config = LineupConfig(**{k: v for k, v in protocol.items() if k in fields})
    extra = {k: v for k, v in protocol.items() if k not in fields}
    return [Row(**row) for row in payload["rows"]], config, extra


def served_summary(card: dict[str, Any]) -> dict[str, Any]:
    training, metrics = card["training"], card["metrics"]
    return {
        "artifact": f"models/{card['name']}/{card['version']}",
        "architecture": training.get("architecture"),
        "mse_10_steps": metrics.get("mse_10_steps"),
        "mse_10_steps_onnx": metrics.get("mse_10_steps_onnx"),
        "noise_floor_mse": metrics.get("noise_floor_mse"),
        "n_test": training.get("n_test"),
        "n_series": training.get("n_series"),
        "epochs": training.get("epochs"),
        "duration_s": training.get("duration_s"),
        "threads": training.get("threads"),
        "recurrent_ops": card.get("recurrent_ops"),
        "command": training.get("command"),
    }


NOTES = [
    "Book figures: Géron's ch. 15 notebook (2nd edition). `ours / book` < 1 means we beat it.",
    "Learning rates as in the notebook: Adam 0.005 for SimpleRNN(1), 0.01 for the seq2seq"
    " SimpleRNN, Keras' default 0.001 elsewhere.",
    "Iterated one-step: the deep SimpleRNN + Dense next-step model above, fed its own"
    " predictions 10 times.",
    "Sequence-to-sequence heads are `Dense` on the 3-D tensor (same maths as the book's"
    " `TimeDistributed(Dense)`, which breaks in Keras 3.15 with a dynamic time axis); the"
    " Conv1D + GRU model (kernel 4, stride 2, valid) trains on the book's `Y[:, 3::2]`.",
    "Recurrent ops: what each architecture becomes in ONNX through tf2onnx 1.17 (Keras 3)"
    " and through our native exporter (`training/onnx_native.py`); op types depend on the"
    " architecture only, so they are read from freshly built copies of each model.",
]


def render_markdown(
    rows: list[Row],
    config: LineupConfig,
    extra: dict[str, Any],
    served: dict[str, Any] | None = None,
) -> str:
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
    lines += ["", *[f"- {note}" for note in NOTES]]
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
    if served is not None:
        lines += ["", *render_served(served_summary(served))]
    return "\n".join(lines) + "\n"


def render_served(summary: dict[str, Any]) -> list[str]:
    mse, onnx_mse = float(summary["mse_10_steps"]), float(summary["mse_10_steps_onnx"])
    return [
        "## The served model (not the book protocol: fresh generator data, trained longer)",
        "",
        f"`{summary['artifact']}`: {summary['architecture']}.",
        "",
        "| model | MSE over 10 steps, Keras | same, ONNX | book's best (WaveNet) | noise floor"
        " | test series | training series | epochs | train s | threads | recurrent ops |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| served | {mse:.4f} | {onnx_mse:.4f} | {BOOK_BEST_10_STEPS:.4f}"
        f" | {float(summary['noise_floor_mse']):.5f} | {summary['n_test']:,} |"
        f" {summary['n_series']:,} | {summary['epochs']} | {summary['duration_s']:.0f}"
        f" | {summary['threads']} | {', '.join(summary['recurrent_ops'] or [])} |",
        "",
        f"Test series: fresh draws with their own seed, never seen in training or validation."
        f" Command: `{summary['command']}`.",
    ]
