"""Which recurrent ops each lineup model becomes in ONNX: tf2onnx (Keras 3) vs our native export.

Op types depend on the architecture only, so each model is rebuilt untrained from its row name.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from training.forecast import models
from training.forecast.lineup import HORIZON, N_STEPS, Row

Builder = Callable[[], keras.Sequential]

# Lineup row name -> (builder, forecast horizon of its output); models without recurrence are
# left out (their graphs hold no recurrent op either way).
RECURRENT_BUILDERS: dict[str, tuple[Builder, int]] = {
    "SimpleRNN(1)": (models.simple_rnn_single_unit, 1),
    "deep SimpleRNN": (models.deep_simple_rnn, 1),
    "deep SimpleRNN + Dense": (lambda: models.deep_rnn_dense(1), 1),
    "iterated one-step (deep RNN + Dense)": (lambda: models.deep_rnn_dense(1), 1),
    "seq2vec deep SimpleRNN + Dense(10)": (lambda: models.deep_rnn_dense(HORIZON), HORIZON),
    "SimpleRNN(20) x2": (lambda: models.recurrent_seq2seq("simple_rnn", HORIZON), HORIZON),
    "LSTM(20) x2": (lambda: models.recurrent_seq2seq("lstm", HORIZON), HORIZON),
    "GRU(20) x2": (lambda: models.recurrent_seq2seq("gru", HORIZON), HORIZON),
    "Conv1D + GRU(20) x2": (lambda: models.conv_gru_seq2seq(HORIZON), HORIZON),
}


def recurrent_ops(model: keras.Sequential, horizon: int) -> dict[str, list[str]]:
    """Recurrent op types of `model` through tf2onnx and through the native exporter."""
    import tensorflow as tf

    from training.export import RECURRENT_OPS, recurrent_op_types, tf2onnx_op_types
    from training.onnx_native import keras_to_onnx

    model(tf.zeros((1, N_STEPS, 1)))  # build it, so both exporters can trace it
    tf2onnx_ops = tf2onnx_op_types(model, [tf.TensorSpec([None, None, 1], tf.float32)])
    try:
        native = recurrent_op_types(keras_to_onnx(model, "forecast", horizon=horizon))
    except ValueError as error:  # the native exporter refuses: say so in the table
        native = [f"unsupported: {error}"]
    return {
        "tf2onnx": [op for op in tf2onnx_ops if op in RECURRENT_OPS or "failed" in op],
        "native": native,
    }


def record_op_types(rows: list[Row]) -> None:
    """Fill `row.recurrent_ops` of every recurrent lineup row."""
    for row in rows:
        entry = RECURRENT_BUILDERS.get(row.name)
        if entry is not None:
            build, horizon = entry
            row.recurrent_ops = recurrent_ops(build(), horizon)
            print(f"[lineup] op types of {row.name}: {row.recurrent_ops}", flush=True)
