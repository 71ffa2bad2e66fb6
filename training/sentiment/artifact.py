"""Keras sentiment model -> verified ONNX artifact (model.onnx + card.json + vocabulary.json).

The graph comes from the native exporter (`training.onnx_native`), the gates and the atomic
writer from `training.export`; this module only assembles the sentiment card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from contract.card import VOCABULARY_FILE, ModelCard, ParityReport, SentimentSpec
from contract.graph import EXPORTER
from contract.text import Tokenizer
from training.export import framework_versions, ort_session, sentiment_parity, write_artifact
from training.onnx_native import keras_to_onnx
from training.sentiment.data import LABELS, sha256_bytes
from training.sentiment.sequences import EncodedReviews, bucketed_batches


def to_onnx(model: Any) -> onnx.ModelProto:
    return keras_to_onnx(model, "sentiment", graph_name="sentiment")


def onnx_predict(onnx_model: onnx.ModelProto, data: EncodedReviews, batch_size: int = 256) -> Any:
    """Probabilities from onnxruntime, fed exactly like the service: right-padded + lengths."""
    session = ort_session(onnx_model)
    probabilities = np.empty(len(data), np.float32)
    for rows, tokens, _ in bucketed_batches(data, batch_size):
        feeds = {"tokens": tokens, "lengths": data.lengths[rows]}
        probabilities[rows] = session.run(None, feeds)[0]
    return probabilities


def check_parity(
    model: Any, onnx_model: onnx.ModelProto, data: EncodedReviews, *, reviews: int, threshold: float
) -> ParityReport:
    """Keras vs ONNX on the first `reviews` reviews of `data` (raises ExportError)."""
    sequences = data.sequences()[:reviews]
    return sentiment_parity(model, onnx_model, sequences, threshold=threshold)


def write_sentiment_artifact(
    onnx_model: onnx.ModelProto,
    tokenizer: Tokenizer,
    *,
    parity: ParityReport,
    threshold: float,
    metrics: dict[str, float],
    training: dict[str, Any],
    description: str,
    target_dir: Path,
    overwrite: bool,
) -> ModelCard:
    vocabulary = tokenizer.vocabulary_bytes()
    spec = SentimentSpec(
        labels=list(LABELS),
        threshold=threshold,
        tokenizer=tokenizer.spec(sha256_bytes(vocabulary)),
    )
    fields: dict[str, Any] = {
        "name": target_dir.parent.name,
        "version": target_dir.name,
        "task": "sentiment",
        "description": description,
        "exporter": EXPORTER,
        "framework": framework_versions(),
        "training": training,
        "metrics": metrics,
        "parity": parity,
        "sentiment": spec,
    }
    return write_artifact(
        onnx_model,
        fields,
        target_dir,
        extra_files={VOCABULARY_FILE: vocabulary},
        overwrite=overwrite,
    )
