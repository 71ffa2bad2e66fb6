"""Open endpoints name the failed check of a refused version, not a library's error text."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from contract.card import ModelCard
from contract.hashing import sha256_of
from service.app import create_app
from service.config import Settings
from tests.service.fixtures import write_forecast_model


def test_load_failures_name_the_check_without_onnxruntime_text(tmp_path: Path) -> None:
    write_forecast_model(tmp_path, "forecast", "1")
    broken = write_forecast_model(tmp_path, "forecast", "2")
    onnx_path = broken / "model.onnx"
    onnx_path.write_bytes(b"not a protobuf, but with a matching sha256")
    card = ModelCard.load(broken)
    card.model_copy(update={"sha256": sha256_of(onnx_path)}).dump(broken)
    with TestClient(create_app(Settings(models_dir=tmp_path))) as client:
        [failure] = client.get("/models").json()["load_failures"]
    assert failure["error"] == "forecast/2/model.onnx: onnxruntime cannot load it"
