"""The forecasting models of the notes (Géron ch. 15), plus the model we serve.

Every builder returns an uncompiled `keras.Sequential`. Sequence-to-sequence heads use a plain
`Dense` on the 3-D tensor instead of `TimeDistributed(Dense)`: they compute the same thing, and
Keras 3.15.1's `TimeDistributed` with a dynamic time axis, under `tf.function`/export, loops
over the batch size instead of time (keras/src/layers/rnn/time_distributed.py), so the
exported graph fails or is silently wrong.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

RecurrentLayer = Callable[..., keras.layers.Layer]
RECURRENT_LAYERS: dict[str, RecurrentLayer] = {
    "simple_rnn": keras.layers.SimpleRNN,
    "gru": keras.layers.GRU,
    "lstm": keras.layers.LSTM,
}


def _sequence_input(n_features: int) -> keras.layers.InputLayer:
    return keras.Input(shape=(None, n_features), name="series")


def linear(n_steps: int, outputs: int, n_features: int = 1) -> keras.Sequential:
    """Flatten + Dense: a linear model of the whole window (needs a fixed window)."""
    return keras.Sequential(
        [
            keras.Input(shape=(n_steps, n_features)),
            keras.layers.Flatten(),
            keras.layers.Dense(outputs),
        ]
    )


def simple_rnn_single_unit(n_features: int = 1) -> keras.Sequential:
    """SimpleRNN(1): one recurrent neuron, the notes' simplest RNN."""
    return keras.Sequential([_sequence_input(n_features), keras.layers.SimpleRNN(1)])


def deep_simple_rnn(n_features: int = 1) -> keras.Sequential:
    """SimpleRNN(20) x2 + SimpleRNN(1): the output is the last recurrent layer's state."""
    return keras.Sequential(
        [
            _sequence_input(n_features),
            keras.layers.SimpleRNN(20, return_sequences=True),
            keras.layers.SimpleRNN(20, return_sequences=True),
            keras.layers.SimpleRNN(1),
        ]
    )


def deep_rnn_dense(outputs: int, n_features: int = 1) -> keras.Sequential:
    """SimpleRNN(20) x2 + Dense(outputs): sequence to vector."""
    return keras.Sequential(
        [
            _sequence_input(n_features),
            keras.layers.SimpleRNN(20, return_sequences=True),
            keras.layers.SimpleRNN(20),
            keras.layers.Dense(outputs),
        ]
    )


def recurrent_seq2seq(
    kind: str, horizon: int, n_features: int = 1, units: int = 20, layers: int = 2
) -> keras.Sequential:
    """Stacked SimpleRNN/GRU/LSTM returning sequences + Dense(horizon) at every step."""
    cell = RECURRENT_LAYERS[kind]
    stack: list[keras.layers.Layer] = [_sequence_input(n_features)]
    stack += [cell(units, return_sequences=True) for _ in range(layers)]
    stack.append(keras.layers.Dense(horizon))
    return keras.Sequential(stack)


def conv_gru_seq2seq(horizon: int, n_features: int = 1) -> keras.Sequential:
    """The book's Conv1D(20, 4, strides=2, valid) + GRU(20) x2 + Dense(horizon).

    The stride halves the time axis, so the targets must be `y[:, 3::2]` (see `conv_targets`).
    """
    return keras.Sequential(
        [
            _sequence_input(n_features),
            keras.layers.Conv1D(20, kernel_size=4, strides=2, padding="valid"),
            keras.layers.GRU(20, return_sequences=True),
            keras.layers.GRU(20, return_sequences=True),
            keras.layers.Dense(horizon),
        ]
    )


CONV_KERNEL, CONV_STRIDE = 4, 2


def conv_targets(y_seq: object) -> object:
    """Align seq2seq targets with the strided Conv1D output (the book's `Y[:, 3::2]`)."""
    return y_seq[:, CONV_KERNEL - 1 :: CONV_STRIDE]  # type: ignore[index]


def wavenet(horizon: int, n_features: int = 1) -> keras.Sequential:
    """Causal dilated Conv1D stack (rates 1, 2, 4, 8 twice) + 1x1 Conv1D(horizon)."""
    stack: list[keras.layers.Layer] = [_sequence_input(n_features)]
    for rate in (1, 2, 4, 8) * 2:
        stack.append(
            keras.layers.Conv1D(
                20, kernel_size=2, padding="causal", activation="relu", dilation_rate=rate
            )
        )
    stack.append(keras.layers.Conv1D(horizon, kernel_size=1))
    return keras.Sequential(stack)


def served_seq2seq(
    horizon: int, n_features: int = 1, n_targets: int = 1, units: int = 64, kind: str = "gru"
) -> keras.Sequential:
    """The model we serve: causal Conv1D front end + two recurrent layers + Dense on 3-D.

    Causal padding with stride 1 keeps one output per input step, so the exported graph can
    read each series' forecast at its last valid step whatever its length.
    """
    cell = RECURRENT_LAYERS[kind]
    return keras.Sequential(
        [
            _sequence_input(n_features),
            keras.layers.Conv1D(units // 2, kernel_size=4, padding="causal", activation="relu"),
            cell(units, return_sequences=True),
            cell(units, return_sequences=True),
            keras.layers.Dense(horizon * n_targets),
        ]
    )


def window_forecaster(
    outputs: int, n_features: int = 1, units: int = 32, stride: int = 1, kind: str = "lstm"
) -> keras.Sequential:
    """The real-series model: [strided Conv1D] + two recurrent layers + Dense(outputs).

    Sequence to vector on a per-window normalised input. The Dense layer starts at zero, so
    before training the model answers the window's seasonal-naive forecast (the transform adds
    it) and training only has to learn corrections. A strided Conv1D shortens long windows.
    """
    cell = RECURRENT_LAYERS[kind]
    stack: list[keras.layers.Layer] = [_sequence_input(n_features)]
    if stride > 1:
        stack.append(keras.layers.Conv1D(units, kernel_size=stride, strides=stride))
    stack += [
        cell(units, return_sequences=True),
        cell(units),
        keras.layers.Dense(outputs, kernel_initializer="zeros"),
    ]
    return keras.Sequential(stack)
