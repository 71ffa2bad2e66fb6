"""Export gates (native recurrence, parity) and the atomic artifact writer."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf
from onnx import TensorProto, helper, numpy_helper

from contract.card import ModelCard, ParityReport
from contract.hashing import sha256_of
from training.export import (
    ExportError,
    assert_native_recurrence,
    forecast_parity,
    recurrent_op_types,
    sentiment_parity,
    tf2onnx_op_types,
    write_artifact,
)
from training.onnx_native import keras_to_onnx

try:  # only possible before TensorFlow's runtime starts (another test module may have started it)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:
    pass

L = keras.layers
SIGNATURE = [tf.TensorSpec([None, None, 2], tf.float32)]


def randomize(model: keras.Model, seed: int = 0) -> keras.Model:
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign((0.5 * rng.standard_normal(weight.shape)).astype("float32"))
    return model


@pytest.fixture(scope="module")
def forecaster() -> keras.Model:
    return randomize(
        keras.Sequential(
            [keras.Input((None, 2)), L.GRU(6, return_sequences=True), L.GRU(5), L.Dense(4)]
        )
    )


@pytest.fixture(scope="module")
def tf2onnx_graph(forecaster: keras.Model) -> onnx.ModelProto:
    import tf2onnx

    traced = tf.function(lambda x: forecaster(x, training=False))
    proto, _ = tf2onnx.convert.from_function(traced, input_signature=SIGNATURE, opset=15)
    return proto


@pytest.fixture(scope="module")
def classifier() -> keras.Model:
    return randomize(
        keras.Sequential(
            [
                keras.Input((None,), dtype="int64"),
                L.Embedding(30, 4, mask_zero=True),
                L.Bidirectional(L.GRU(4)),
                L.Dense(1, activation="sigmoid"),
            ]
        )
    )


def reviews(count: int = 150, seed: int = 3) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [list(rng.integers(1, 30, int(rng.integers(1, 60)))) for _ in range(count)]


def with_initializer(model: onnx.ModelProto, name: str, value: np.ndarray) -> onnx.ModelProto:
    changed = onnx.ModelProto()
    changed.CopyFrom(model)
    for index, initializer in enumerate(changed.graph.initializer):
        if initializer.name == name:
            changed.graph.initializer[index].CopyFrom(numpy_helper.from_array(value, name))
    return changed


def loop_graph() -> onnx.ModelProto:
    """A graph whose recurrence is a Loop with an LSTM hidden inside its body."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("LSTM", ["xs", "w", "r"], ["", "h"], hidden_size=1),
            helper.make_node("Add", ["state", "one"], ["state_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [1]),
        ],
        [
            numpy_helper.from_array(np.ones(1, np.float32), "one"),
            numpy_helper.from_array(np.ones((1, 1, 1), np.float32), "xs"),
            numpy_helper.from_array(np.ones((1, 4, 1), np.float32), "w"),
            numpy_helper.from_array(np.ones((1, 4, 1), np.float32), "r"),
        ],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["n", "", "start"], ["end"], body=body)],
        "looping",
        [
            helper.make_tensor_value_info("n", TensorProto.INT64, []),
            helper.make_tensor_value_info("start", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("end", TensorProto.FLOAT, [1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


# ----------------------------------------------------------------------------- native ops
def test_recurrent_op_types_of_native_graph(forecaster: keras.Model) -> None:
    native = keras_to_onnx(forecaster, "forecast")
    assert recurrent_op_types(native) == ["GRU"]
    assert_native_recurrence(native)


def test_recurrent_op_types_recurse_into_subgraphs() -> None:
    looping = loop_graph()
    assert recurrent_op_types(looping) == ["LSTM", "Loop"]
    with pytest.raises(ExportError, match="Loop"):
        assert_native_recurrence(looping)


def test_assert_native_recurrence_catches_tf2onnx_loop(tf2onnx_graph: onnx.ModelProto) -> None:
    assert "Loop" in recurrent_op_types(tf2onnx_graph)
    with pytest.raises(ExportError, match="Loop"):
        assert_native_recurrence(tf2onnx_graph)


def test_tf2onnx_probe(forecaster: keras.Model) -> None:
    assert "Loop" in tf2onnx_op_types(forecaster, SIGNATURE)
    wrong = [tf.TensorSpec([None, None, 7], tf.float32)]  # the model takes 2 features
    (failure,) = tf2onnx_op_types(forecaster, wrong)
    assert failure.startswith("tf2onnx-failed: ")


# ----------------------------------------------------------------------------- parity gates
def test_forecast_parity_passes_on_converted_model(forecaster: keras.Model) -> None:
    report = forecast_parity(
        forecaster,
        keras_to_onnx(forecaster, "forecast"),
        n_features=2,
        horizon=4,
        lengths=(3, 12),
        batch_sizes=(1, 5),
        tolerance=1e-5,
    )
    assert isinstance(report, ParityReport)
    assert report.max_abs_diff <= 1e-5
    assert report.cases == 2 * (1 + 5) + 5
    assert report.lengths == [3, 12] and report.batch_sizes == [1, 5]


def test_forecast_parity_slices_caller_inputs(forecaster: keras.Model) -> None:
    series = np.random.default_rng(0).standard_normal((40, 2)).astype(np.float32)
    report = forecast_parity(
        forecaster,
        keras_to_onnx(forecaster, "forecast"),
        n_features=2,
        horizon=4,
        lengths=(4, 30),
        batch_sizes=(3,),
        inputs=series,
    )
    assert "caller series" in report.notes
    with pytest.raises(ValueError, match="steps"):
        forecast_parity(
            forecaster,
            keras_to_onnx(forecaster, "forecast"),
            n_features=2,
            horizon=4,
            lengths=(50,),
            batch_sizes=(1,),
            inputs=series,
        )


def test_forecast_parity_fails_on_wrong_weights(forecaster: keras.Model) -> None:
    native = keras_to_onnx(forecaster, "forecast")
    bias = next(i for i in native.graph.initializer if "dense" in i.name and "bias" in i.name)
    shifted = numpy_helper.to_array(bias) + np.float32(1e-3)
    broken = with_initializer(native, bias.name, shifted)
    with pytest.raises(ExportError, match=r"max \|Keras - ONNX\| = 0\.001"):
        forecast_parity(forecaster, broken, n_features=2, horizon=4, lengths=(3,), batch_sizes=(2,))


def test_forecast_parity_catches_a_graph_blind_to_lengths(forecaster: keras.Model) -> None:
    """Full-length batches agree; only the mixed padded batch shows the leak."""
    native = keras_to_onnx(forecaster, "forecast")
    blind = onnx.ModelProto()
    blind.CopyFrom(native)
    for node in blind.graph.node:
        if node.op_type == "GRU":
            del node.input[4:]  # drop sequence_lens: the GRU then reads the padding
    with pytest.raises(ExportError, match="mixed-length padded batch"):
        forecast_parity(
            forecaster, blind, n_features=2, horizon=4, lengths=(3, 15), batch_sizes=(4,)
        )


def test_sentiment_parity_passes(classifier: keras.Model) -> None:
    sequences = reviews()
    report = sentiment_parity(
        classifier, keras_to_onnx(classifier, "sentiment"), sequences, batch_size=16
    )
    assert report.cases == len(sequences)
    assert report.max_abs_diff <= 1e-5
    sizes = sorted(len(s) for s in sequences)
    assert report.lengths == [sizes[0], sizes[len(sizes) // 2], sizes[-1]]


def test_sentiment_parity_fails_on_flipped_labels(classifier: keras.Model) -> None:
    sequences = reviews(40)
    keras_p = np.asarray(classifier(np.array([s[:1] for s in sequences]), training=False))
    assert (keras_p >= 0.5).any()  # so pushing every ONNX score below 0.5 flips some labels
    native = keras_to_onnx(classifier, "sentiment")
    bias = next(i for i in native.graph.initializer if "dense" in i.name and "bias" in i.name)
    broken = with_initializer(native, bias.name, numpy_helper.to_array(bias) - np.float32(50.0))
    with pytest.raises(ExportError, match="labels differ") as failure:
        sentiment_parity(classifier, broken, sequences, batch_size=16, tolerance=1.0)
    assert "Keras - ONNX" not in str(failure.value)  # within the (loose) tolerance


def test_sentiment_parity_refuses_padding_inside_sequences(classifier: keras.Model) -> None:
    native = keras_to_onnx(classifier, "sentiment")
    with pytest.raises(ValueError, match="token id 0"):
        sentiment_parity(classifier, native, [[3, 0, 4]])
    with pytest.raises(ValueError, match="empty"):
        sentiment_parity(classifier, native, [[3], []])


# ----------------------------------------------------------------------------- artifact writer
def card_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "demo",
        "version": "1",
        "task": "forecast",
        "description": "tiny GRU forecaster for tests",
        "exporter": "native-onnx-builder",
        "framework": {"keras": keras.__version__},
        "training": {"seed": 0},
        "metrics": {"mae": 0.5},
        "parity": {
            "max_abs_diff": 1e-7,
            "tolerance": 1e-4,
            "lengths": [3],
            "batch_sizes": [1],
            "cases": 1,
        },
        "forecast": {
            "n_features": 2,
            "feature_names": ["a", "b"],
            "target_names": ["a"],
            "horizon": 4,
            "min_length": 1,
            "input_scaler": {"mean": [0.0, 0.0], "scale": [1.0, 1.0]},
            "target_scaler": {"mean": [0.0], "scale": [1.0]},
        },
    }
    fields.update(changes)
    return fields


def assert_nothing_left(parent: Path, *keep: str) -> None:
    assert sorted(p.name for p in parent.iterdir()) == sorted(keep)


def test_write_artifact_writes_a_loadable_artifact(forecaster: keras.Model, tmp_path: Path) -> None:
    native = keras_to_onnx(forecaster, "forecast", n_targets=1)
    target = tmp_path / "models" / "demo" / "1"
    card = write_artifact(native, card_fields(), target, extra_files={"notes.txt": b"hello"})
    assert sorted(p.name for p in target.iterdir()) == ["card.json", "model.onnx", "notes.txt"]
    assert_nothing_left(target.parent, "1")
    loaded = ModelCard.load(target)
    assert loaded == card
    assert card.sha256 == sha256_of(target / "model.onnx")
    assert card.opset == 17
    assert card.recurrent_ops == ["GRU"]
    assert "GRU" in card.op_types and card.op_types == sorted(card.op_types)
    assert [(s.name, s.dtype, s.shape) for s in card.inputs] == [
        ("series", "float32", ["batch", "time", 2]),
        ("lengths", "int32", ["batch"]),
    ]
    assert [(s.name, s.dtype, s.shape) for s in card.outputs] == [
        ("forecast", "float32", ["batch", 4, 1])
    ]
    session = ort.InferenceSession(str(target / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.zeros((2, 5, 2), np.float32)
    (y,) = session.run(None, {"series": x, "lengths": np.array([5, 2], np.int32)})
    assert y.shape == (2, 4, 1)


def test_write_artifact_invalid_card_leaves_nothing(
    forecaster: keras.Model, tmp_path: Path
) -> None:
    native = keras_to_onnx(forecaster, "forecast")
    target = tmp_path / "models" / "demo" / "1"
    with pytest.raises(ValueError, match="forecast"):
        write_artifact(native, card_fields(forecast=None), target)
    assert_nothing_left(tmp_path)  # not even the parent directories it created


def test_write_artifact_refuses_existing_target(forecaster: keras.Model, tmp_path: Path) -> None:
    native = keras_to_onnx(forecaster, "forecast")
    target = tmp_path / "1"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(ExportError, match="already exists"):
        write_artifact(native, card_fields(), target)
    assert_nothing_left(tmp_path, "1")
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]

    card = write_artifact(native, card_fields(version="2"), target, overwrite=True)
    assert_nothing_left(tmp_path, "1")
    assert sorted(p.name for p in target.iterdir()) == ["card.json", "model.onnx"]
    assert json.loads((target / "card.json").read_text())["version"] == card.version == "2"


def test_write_artifact_refuses_loop_graph_and_derived_fields(
    forecaster: keras.Model, tf2onnx_graph: onnx.ModelProto, tmp_path: Path
) -> None:
    with pytest.raises(ExportError, match="Loop"):
        write_artifact(tf2onnx_graph, card_fields(), tmp_path / "1")
    assert_nothing_left(tmp_path)
    native = keras_to_onnx(forecaster, "forecast")
    with pytest.raises(ExportError, match="sha256"):
        write_artifact(native, card_fields(sha256="0" * 64), tmp_path / "1")
    with pytest.raises(ExportError, match="plain file name"):
        write_artifact(native, card_fields(), tmp_path / "1", extra_files={"../x": b""})
    assert_nothing_left(tmp_path)
