"""Small ONNX artifacts that honour the serving contract, built with onnx.helper.

The graphs are real recurrent models (a GRU with `sequence_lens`, random weights), so padding
mistakes change the answers; the cards and vocabulary are written the way training writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from contract.card import (
    ForecastSpec,
    ModelCard,
    ParityReport,
    Scaler,
    SentimentSpec,
    TensorSpec,
)
from contract.hashing import sha256_of
from contract.text import Tokenizer

OPSET = 17
HIDDEN = 8
REVIEWS = [
    "a wonderful film, great acting and a great story",
    "dull plot, bad acting, a boring and awful movie",
    "i loved it, wonderful and moving",
    "i hated it, boring and bad",
]


def _gru_nodes(
    rng: np.random.Generator, x_name: str, n_inputs: int
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Time-major GRU over `x_name` with sequence_lens; leaves `h` [batch, HIDDEN]."""
    weights = [
        numpy_helper.from_array(
            (rng.standard_normal((1, 3 * HIDDEN, n_inputs)) * 0.5).astype(np.float32), "W"
        ),
        numpy_helper.from_array(
            (rng.standard_normal((1, 3 * HIDDEN, HIDDEN)) * 0.5).astype(np.float32), "R"
        ),
        numpy_helper.from_array(
            (rng.standard_normal((1, 6 * HIDDEN)) * 0.1).astype(np.float32), "B"
        ),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
    ]
    nodes = [
        helper.make_node("Transpose", [x_name], ["x_tm"], perm=[1, 0, 2]),
        helper.make_node(
            "GRU", ["x_tm", "W", "R", "B", "lengths"], ["", "h_all"], hidden_size=HIDDEN
        ),
        helper.make_node("Squeeze", ["h_all", "axis0"], ["h"]),
    ]
    return nodes, weights


def _save(graph: onnx.GraphProto, path: Path) -> list[str]:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return sorted({node.op_type for node in graph.node})


def _card(
    directory: Path,
    task: str,
    op_types: list[str],
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    **spec: object,
) -> ModelCard:
    return ModelCard.model_validate(
        {
            "name": directory.parent.name,
            "version": directory.name,
            "task": task,
            "description": f"test fixture ({task})",
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "sha256": sha256_of(directory / "model.onnx"),
            "opset": OPSET,
            "inputs": inputs,
            "outputs": outputs,
            "op_types": op_types,
            "recurrent_ops": ["GRU"],
            "exporter": "tests.service.fixtures",
            "framework": {"onnx": onnx.__version__},
            "training": {"data": "random weights"},
            "metrics": {},
            "parity": ParityReport(
                max_abs_diff=0.0, tolerance=1e-4, lengths=[], batch_sizes=[], cases=0
            ),
            **spec,
        }
    )


def write_forecast_model(
    root: Path,
    name: str = "forecast",
    version: str = "1",
    *,
    n_features: int = 1,
    n_targets: int = 1,
    horizon: int = 5,
    min_length: int = 3,
    seed: int = 0,
) -> Path:
    directory = root / name / version
    directory.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    nodes, weights = _gru_nodes(rng, "series", n_features)
    dense = (rng.standard_normal((HIDDEN, horizon * n_targets)) * 0.5).astype(np.float32)
    weights += [
        numpy_helper.from_array(dense, "dense"),
        numpy_helper.from_array(np.array([-1, horizon, n_targets], dtype=np.int64), "out_shape"),
    ]
    nodes += [
        helper.make_node("MatMul", ["h", "dense"], ["flat"]),
        helper.make_node("Reshape", ["flat", "out_shape"], ["forecast"]),
    ]
    graph = helper.make_graph(
        nodes,
        "forecast_fixture",
        [
            helper.make_tensor_value_info(
                "series", TensorProto.FLOAT, ["batch", "time", n_features]
            ),
            helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"]),
        ],
        [
            helper.make_tensor_value_info(
                "forecast", TensorProto.FLOAT, ["batch", horizon, n_targets]
            )
        ],
        initializer=weights,
    )
    op_types = _save(graph, directory / "model.onnx")
    features = [f"x{i}" for i in range(n_features)]
    spec = ForecastSpec(
        n_features=n_features,
        feature_names=features,
        target_names=features[:n_targets],
        horizon=horizon,
        min_length=min_length,
        input_scaler=Scaler(mean=[50.0] * n_features, scale=[5.0] * n_features),
        target_scaler=Scaler(mean=[100.0] * n_targets, scale=[10.0] * n_targets),
    )
    card = _card(
        directory,
        "forecast",
        op_types,
        [
            TensorSpec(name="series", dtype="float32", shape=["batch", "time", n_features]),
            TensorSpec(name="lengths", dtype="int32", shape=["batch"]),
        ],
        [TensorSpec(name="forecast", dtype="float32", shape=["batch", horizon, n_targets])],
        forecast=spec,
    )
    card.dump(directory)
    return directory


def write_sentiment_model(
    root: Path,
    name: str = "sentiment",
    version: str = "1",
    *,
    max_length: int = 12,
    num_words: int = 40,
    seed: int = 1,
) -> Path:
    directory = root / name / version
    directory.mkdir(parents=True)
    tokenizer = Tokenizer.fit(
        REVIEWS, num_words=num_words, oov_token="<OOV>", max_length=max_length, truncation="pre"
    )
    vocabulary_sha = tokenizer.save(directory)
    rng = np.random.default_rng(seed)
    embedding_size = 4
    embeddings = (rng.standard_normal((num_words, embedding_size)) * 0.8).astype(np.float32)
    nodes, weights = _gru_nodes(rng, "embedded", embedding_size)
    weights += [
        numpy_helper.from_array(embeddings, "embeddings"),
        numpy_helper.from_array(
            (rng.standard_normal((HIDDEN, 1)) * 1.5).astype(np.float32), "dense"
        ),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat_shape"),
    ]
    nodes = [
        helper.make_node("Gather", ["embeddings", "tokens"], ["embedded"]),
        *nodes,
        helper.make_node("MatMul", ["h", "dense"], ["logit"]),
        helper.make_node("Reshape", ["logit", "flat_shape"], ["logit_flat"]),
        helper.make_node("Sigmoid", ["logit_flat"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes,
        "sentiment_fixture",
        [
            helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "time"]),
            helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"]),
        ],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch"])],
        initializer=weights,
    )
    op_types = _save(graph, directory / "model.onnx")
    card = _card(
        directory,
        "sentiment",
        op_types,
        [
            TensorSpec(name="tokens", dtype="int64", shape=["batch", "time"]),
            TensorSpec(name="lengths", dtype="int32", shape=["batch"]),
        ],
        [TensorSpec(name="probability", dtype="float32", shape=["batch"])],
        sentiment=SentimentSpec(
            labels=["negative", "positive"],
            threshold=0.5,
            tokenizer=tokenizer.spec(vocabulary_sha),
        ),
    )
    card.dump(directory)
    return directory


def write_model_zoo(root: Path) -> Path:
    """The default test tree: forecast 1/2/10, a 2-feature 2-target model, sentiment 1."""
    for version in ("1", "2", "10"):
        write_forecast_model(root, version=version, seed=int(version))
    write_forecast_model(root, "weather", "1", n_features=2, n_targets=2, horizon=4, seed=7)
    write_sentiment_model(root)
    return root
