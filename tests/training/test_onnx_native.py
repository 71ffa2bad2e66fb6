"""Keras -> native ONNX converter: parity with Keras for every supported layer, per row."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Callable

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf

from training.onnx_native import OPSET, UnsupportedLayerError, keras_to_onnx
from training.sentiment.models import MaskedMeanMaxPooling1D

try:  # only possible before TensorFlow's runtime starts (another test module may have started it)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:
    pass

L = keras.layers
TOLERANCE = 1e-5


def randomize(model: keras.Model, seed: int = 0, scale: float = 0.5) -> keras.Model:
    """Random values in every weight, biases included (zero biases would hide ordering bugs)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign((scale * rng.standard_normal(weight.shape)).astype("float32"))
    return model


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def traced(model: keras.Model, spec: tf.TensorSpec) -> Callable[[np.ndarray], tf.Tensor]:
    """Keras in inference mode, traced once for any batch and length (eager RNNs are slow)."""
    return tf.function(lambda x: model(x, training=False), input_signature=[spec])


def keras_rows(model: keras.Model, padded: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    """Keras on every row alone (rows of equal length run together: rows are independent)."""
    run = traced(model, tf.TensorSpec([None, None, padded.shape[-1]], tf.float32))
    out: list[np.ndarray] = [np.empty(0)] * len(lengths)
    for length in sorted(set(lengths)):
        rows = [i for i, n in enumerate(lengths) if n == length]
        y = np.asarray(run(padded[rows, :length]))
        for position, row in enumerate(rows):
            out[row] = y[position]
    return out


def forecast_model(layers: list[keras.layers.Layer], n_features: int = 3) -> keras.Model:
    return randomize(keras.Sequential([keras.Input((None, n_features)), *layers]))


def assert_forecast_parity(
    model: keras.Model, lengths: list[int], *, n_targets: int = 1, n_features: int = 3
) -> None:
    onnx_model = keras_to_onnx(model, "forecast", n_targets=n_targets)
    rng = np.random.default_rng(1)
    longest = max(lengths)
    # noise in the padding: a graph that reads past a row's length cannot pass
    padded = (10 * rng.standard_normal((len(lengths), longest, n_features))).astype(np.float32)
    for row, length in enumerate(lengths):
        padded[row, :length] = rng.standard_normal((length, n_features))
    (got,) = session(onnx_model).run(
        None, {"series": padded, "lengths": np.array(lengths, np.int32)}
    )
    assert got.dtype == np.float32
    for row, expected in enumerate(keras_rows(model, padded, lengths)):
        if expected.ndim == 2:  # sequence-to-sequence: the prediction made at the last step
            expected = expected[-1]
        expected = expected.reshape(got.shape[1:])
        np.testing.assert_allclose(got[row], expected, rtol=0, atol=TOLERANCE)


RECURRENT: dict[str, Callable[..., keras.layers.Layer]] = {
    "SimpleRNN": L.SimpleRNN,
    "GRU": L.GRU,
    "LSTM": L.LSTM,
}
MIXED = [1, 5, 50, 17, 5, 1, 33]


@pytest.mark.parametrize("kind", sorted(RECURRENT))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_single_recurrent_layer(kind: str, return_sequences: bool) -> None:
    model = forecast_model([RECURRENT[kind](6, return_sequences=return_sequences), L.Dense(4)])
    assert_forecast_parity(model, MIXED)


@pytest.mark.parametrize("kind", sorted(RECURRENT))
def test_stacked_recurrent_layers_seq2vec(kind: str) -> None:
    layer = RECURRENT[kind]
    model = forecast_model([layer(5, return_sequences=True), layer(4), L.Dense(3)])
    assert_forecast_parity(model, MIXED)


@pytest.mark.parametrize("length", [1, 5, 50])
def test_uniform_lengths(length: int) -> None:
    model = forecast_model([L.GRU(5, return_sequences=True), L.LSTM(4), L.Dense(2)])
    assert_forecast_parity(model, [length] * 4)


def test_gru_without_reset_after() -> None:
    model = forecast_model([L.GRU(5, reset_after=False, return_sequences=True), L.Dense(2)])
    assert_forecast_parity(model, MIXED)


def test_layers_without_bias_and_relu_rnn() -> None:
    model = forecast_model(
        [
            L.SimpleRNN(5, activation="relu", use_bias=False, return_sequences=True),
            L.GRU(4, use_bias=False, return_sequences=True),
            L.LSTM(3, use_bias=False),
            L.Dense(2, use_bias=False),
        ]
    )
    assert_forecast_parity(model, MIXED)


def test_seq2seq_with_several_targets() -> None:
    model = forecast_model([L.LSTM(6, return_sequences=True), L.Dense(5 * 2)], n_features=4)
    onnx_model = keras_to_onnx(model, "forecast", n_targets=2)
    out = onnx_model.graph.output[0]
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert (out.name, dims) == ("forecast", ["batch", 5, 2])
    assert_forecast_parity(model, MIXED, n_targets=2, n_features=4)


@pytest.mark.parametrize("kind", sorted(RECURRENT))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional(kind: str, return_sequences: bool) -> None:
    model = forecast_model(
        [L.Bidirectional(RECURRENT[kind](4, return_sequences=return_sequences)), L.Dense(3)]
    )
    assert_forecast_parity(model, MIXED)


def test_stacked_bidirectional() -> None:
    model = forecast_model(
        [L.Bidirectional(L.GRU(4, return_sequences=True)), L.Bidirectional(L.LSTM(3)), L.Dense(2)]
    )
    assert_forecast_parity(model, MIXED)


@pytest.mark.parametrize(
    ("conv", "shortest"),
    [
        (lambda: L.Conv1D(4, 3, padding="causal", activation="relu"), 1),
        (lambda: L.Conv1D(4, 2, padding="causal", strides=2), 1),
        (lambda: L.Conv1D(4, 3, padding="causal", dilation_rate=2), 1),
        (lambda: L.Conv1D(4, 3, padding="valid"), 3),
        (lambda: L.Conv1D(4, 4, padding="valid", strides=2, activation="tanh"), 4),
        (lambda: L.Conv1D(4, 3, padding="valid", dilation_rate=3), 7),
        (lambda: L.Conv1D(6, 3, padding="causal", groups=3, use_bias=False), 1),
    ],
)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_conv_then_gru(
    conv: Callable[[], keras.layers.Layer], shortest: int, return_sequences: bool
) -> None:
    model = forecast_model([conv(), L.GRU(5, return_sequences=return_sequences), L.Dense(2)])
    lengths = [shortest, shortest + 1, shortest + 4, 50, shortest + 2, 31]
    assert_forecast_parity(model, lengths)


def test_stacked_convolutions() -> None:
    model = forecast_model(
        [
            L.Conv1D(5, 2, strides=2, padding="valid"),
            L.Conv1D(4, 3, padding="causal", activation="sigmoid"),
            L.LSTM(4, return_sequences=True),
            L.Dense(3),
        ]
    )
    assert_forecast_parity(model, [2, 3, 8, 50, 11, 6])


def test_dense_dropout_and_activation_on_sequences() -> None:
    model = forecast_model(
        [
            L.Dense(6, activation="tanh"),
            L.Dropout(0.5),
            L.SpatialDropout1D(0.5),
            L.GRU(5, return_sequences=True),
            L.Dense(4, activation="relu"),
            L.Activation("sigmoid"),
            L.Dropout(0.3),
            L.Dense(2),
        ]
    )
    assert_forecast_parity(model, MIXED)


@pytest.mark.parametrize("pooling", [L.GlobalAveragePooling1D, L.GlobalMaxPooling1D])
def test_masked_global_pooling(pooling: Callable[[], keras.layers.Layer]) -> None:
    model = forecast_model([L.GRU(5, return_sequences=True), pooling(), L.Dense(2)])
    assert_forecast_parity(model, MIXED)


def test_conv_only_model() -> None:
    model = forecast_model([L.Conv1D(4, 3, padding="causal"), L.Dense(2)])
    assert_forecast_parity(model, MIXED)


def test_dense_between_conv_and_recurrent_layers() -> None:
    model = forecast_model(
        [L.Conv1D(4, 2, padding="causal"), L.Dense(5, activation="relu"), L.LSTM(3), L.Dense(2)]
    )
    assert_forecast_parity(model, MIXED)


def test_wavenet_style_conv_stack() -> None:
    dilated = [
        L.Conv1D(4, 2, padding="causal", dilation_rate=r, activation="relu") for r in (1, 2, 4)
    ]
    model = forecast_model([*dilated, L.Conv1D(3, 1)])
    assert_forecast_parity(model, MIXED)


def test_graph_contract_and_native_ops() -> None:
    model = forecast_model([L.GRU(5, return_sequences=True), L.GRU(5), L.Dense(3)])
    onnx_model = keras_to_onnx(model, "forecast", horizon=3, graph_name="demo")
    graph = onnx_model.graph
    inputs = {
        i.name: (
            i.type.tensor_type.elem_type,
            [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim],
        )
        for i in graph.input
    }
    assert inputs == {
        "series": (onnx.TensorProto.FLOAT, ["batch", "time", 3]),
        "lengths": (onnx.TensorProto.INT32, ["batch"]),
    }
    assert graph.name == "demo"
    assert [o.version for o in onnx_model.opset_import] == [OPSET]
    ops = [node.op_type for node in graph.node]
    assert ops.count("GRU") == 2
    assert "Loop" not in ops and "Scan" not in ops


# ----------------------------------------------------------------------------- sentiment
def sentiment_model(layers: list[keras.layers.Layer], vocabulary: int = 40) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int64"),
            L.Embedding(vocabulary, 6, mask_zero=True),
            *layers,
            L.Dense(1, activation="sigmoid"),
        ]
    )
    return randomize(model, scale=0.6)


def token_batch(lengths: list[int], vocabulary: int = 40, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tokens = np.zeros((len(lengths), max(lengths)), np.int64)
    for row, length in enumerate(lengths):
        tokens[row, :length] = rng.integers(1, vocabulary, length)
    return tokens


SENTIMENT_STACKS: dict[str, Callable[[], list[keras.layers.Layer]]] = {
    "bigru": lambda: [L.Bidirectional(L.GRU(5))],
    "bilstm": lambda: [L.Bidirectional(L.LSTM(4))],
    "bisimplernn": lambda: [L.Bidirectional(L.SimpleRNN(4))],
    "gru": lambda: [L.GRU(5)],
    "stacked-bigru": lambda: [
        L.Bidirectional(L.GRU(4, return_sequences=True)),
        L.Dropout(0.2),
        L.Bidirectional(L.GRU(3)),
    ],
    "lstm-avgpool": lambda: [L.LSTM(4, return_sequences=True), L.GlobalAveragePooling1D()],
    "avgpool": lambda: [L.GlobalAveragePooling1D(), L.Dense(4, activation="relu")],
    "bigru-meanmax": lambda: [
        L.Bidirectional(L.GRU(4, return_sequences=True)),
        MaskedMeanMaxPooling1D(),
        L.Dropout(0.3),
    ],
}


@pytest.mark.parametrize("stack", sorted(SENTIMENT_STACKS))
def test_sentiment_parity_and_padding_invariance(stack: str) -> None:
    model = sentiment_model(SENTIMENT_STACKS[stack]())
    onnx_model = keras_to_onnx(model, "sentiment")
    lengths = [1, 5, 50, 17, 2, 33]
    tokens = token_batch(lengths)
    (padded,) = session(onnx_model).run(
        None, {"tokens": tokens, "lengths": np.array(lengths, np.int32)}
    )
    assert padded.shape == (len(lengths),) and padded.dtype == np.float32
    # Keras with masking on the same right-padded batch
    masked = np.asarray(traced(model, tf.TensorSpec([None, None], tf.int64))(tokens)).reshape(-1)
    np.testing.assert_allclose(padded, masked, rtol=0, atol=TOLERANCE)
    for row, length in enumerate(lengths):
        alone = tokens[row : row + 1, :length]
        (onnx_alone,) = session(onnx_model).run(
            None, {"tokens": alone, "lengths": np.array([length], np.int32)}
        )
        np.testing.assert_allclose(onnx_alone[0], padded[row], rtol=0, atol=1e-6)


def test_sentiment_graph_contract() -> None:
    onnx_model = keras_to_onnx(sentiment_model([L.Bidirectional(L.GRU(3))]), "sentiment")
    graph = onnx_model.graph
    specs = {
        v.name: (
            v.type.tensor_type.elem_type,
            [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
        )
        for v in [*graph.input, *graph.output]
    }
    assert specs == {
        "tokens": (onnx.TensorProto.INT64, ["batch", "time"]),
        "lengths": (onnx.TensorProto.INT32, ["batch"]),
        "probability": (onnx.TensorProto.FLOAT, ["batch"]),
    }
    gru = next(n for n in graph.node if n.op_type == "GRU")
    direction = next(a for a in gru.attribute if a.name == "direction")
    assert direction.s == b"bidirectional"


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("layers", "fragment"),
    [
        ([L.LayerNormalization(), L.GRU(3), L.Dense(1)], "LayerNormalization"),
        ([L.Conv1D(3, 3, padding="same"), L.GRU(3), L.Dense(1)], "padding='same'"),
        ([L.GRU(3, activation="softsign"), L.Dense(1)], "softsign"),
        ([L.GRU(3, go_backwards=True), L.Dense(1)], "go_backwards"),
        ([L.Bidirectional(L.GRU(3), merge_mode="sum"), L.Dense(1)], "merge_mode"),
        ([L.GRU(3), L.Dense(1, activation="softmax")], "softmax"),
        ([L.Masking(), L.GRU(3), L.Dense(1)], "Masking.*pass `lengths`"),
        ([L.TimeDistributed(L.Dense(2)), L.GRU(3), L.Dense(1)], "TimeDistributed.*plain Dense"),
    ],
)
def test_unsupported_forecast_layers(layers: list[keras.layers.Layer], fragment: str) -> None:
    model = keras.Sequential([keras.Input((None, 2)), *layers])
    with pytest.raises(UnsupportedLayerError, match=fragment):
        keras_to_onnx(model, "forecast")


@pytest.mark.filterwarnings("ignore:Layer .* does not support masking:UserWarning")
def test_unsupported_sentiment_models() -> None:
    unmasked = keras.Sequential(
        [keras.Input((None,)), L.Embedding(10, 3), L.GRU(2), L.Dense(1, activation="sigmoid")]
    )
    with pytest.raises(UnsupportedLayerError, match="mask_zero"):
        keras_to_onnx(unmasked, "sentiment")
    max_pooled = sentiment_model([L.GRU(3, return_sequences=True), L.GlobalMaxPooling1D()])
    with pytest.raises(UnsupportedLayerError, match="GlobalMaxPooling1D"):
        keras_to_onnx(max_pooled, "sentiment")
    convolved = sentiment_model([L.Conv1D(3, 2, padding="causal"), L.GRU(3)])
    with pytest.raises(UnsupportedLayerError, match="Conv1D drops the padding mask"):
        keras_to_onnx(convolved, "sentiment")
    linear_head = keras.Sequential(
        [keras.Input((None,)), L.Embedding(10, 3, mask_zero=True), L.GRU(2), L.Dense(1)]
    )
    with pytest.raises(UnsupportedLayerError, match="sigmoid"):
        keras_to_onnx(linear_head, "sentiment")


def test_functional_model_and_bad_horizon_are_refused() -> None:
    inputs = keras.Input((None, 2))
    functional = keras.Model(inputs, L.Dense(1)(L.GRU(2)(inputs)))
    with pytest.raises(UnsupportedLayerError, match="Sequential"):
        keras_to_onnx(functional, "forecast")
    sequential = forecast_model([L.GRU(2), L.Dense(6)], n_features=2)
    with pytest.raises(UnsupportedLayerError, match="horizon"):
        keras_to_onnx(sequential, "forecast", horizon=4)
    with pytest.raises(UnsupportedLayerError, match="n_targets"):
        keras_to_onnx(sequential, "forecast", n_targets=4)
