"""Export a trained forecaster: native ONNX graph, parity gate, ONNX-side metrics, model card."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from contract.card import ForecastSpec, ModelCard, ParityReport, Scaler
from contract.graph import EXPORTER
from training.export import ExportError, forecast_parity, framework_versions, write_artifact
from training.onnx_native import keras_to_onnx

PARITY_LENGTHS = (20, 50, 200)
PARITY_BATCHES = (1, 7, 64)


@dataclass(frozen=True)
class Exported:
    onnx_model: Any  # onnx.ModelProto
    parity: ParityReport


def export_forecaster(
    model: keras.Sequential,
    *,
    n_features: int,
    horizon: int,
    n_targets: int,
    parity_inputs: np.ndarray | None,
    lengths: tuple[int, ...] = PARITY_LENGTHS,
    seed: int = 0,
) -> Exported:
    """Convert to a native-op ONNX graph and check it against Keras (raises ExportError)."""
    try:
        onnx_model = keras_to_onnx(model, "forecast", horizon=horizon, n_targets=n_targets)
    except ValueError as error:
        raise ExportError(f"native ONNX export failed: {error}") from error
    parity = forecast_parity(
        model,
        onnx_model,
        n_features=n_features,
        horizon=horizon,
        n_targets=n_targets,
        lengths=lengths,
        batch_sizes=PARITY_BATCHES,
        seed=seed,
        inputs=parity_inputs,
    )
    return Exported(onnx_model, parity)


def onnx_forecast(onnx_model: Any, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Run the exported graph on full-length windows x [n, time, features] -> [n, horizon, t]."""
    from training.export import ort_session

    session = ort_session(onnx_model)
    outputs = []
    for start in range(0, len(x), batch_size):
        chunk = np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32)
        lengths = np.full(len(chunk), chunk.shape[1], np.int32)
        outputs.append(session.run(None, {"series": chunk, "lengths": lengths})[0])
    return np.concatenate(outputs)


def identity_scaler(width: int) -> Scaler:
    return Scaler(mean=[0.0] * width, scale=[1.0] * width)


def save_card(
    exported: Exported,
    target_dir: Path,
    *,
    name: str,
    version: str,
    description: str,
    spec: ForecastSpec,
    training: dict[str, Any],
    metrics: dict[str, float],
    overwrite: bool = False,
) -> ModelCard:
    """Write model.onnx + card.json atomically into `target_dir` (nothing is left on failure)."""
    fields: dict[str, Any] = {
        "name": name,
        "version": version,
        "task": "forecast",
        "description": description,
        "exporter": EXPORTER,
        "framework": framework_versions(),
        "training": training,
        "metrics": metrics,
        "parity": exported.parity,
        "forecast": spec,
    }
    return write_artifact(exported.onnx_model, fields, target_dir, overwrite=overwrite)
