"""Start-up validation: every check names the file; strict start-up stops on the first, the
default start-up skips a broken version, reports it and serves the rest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contract.card import ModelCard
from contract.hashing import sha256_of
from service.app import create_app
from service.config import Settings
from service.errors import ServiceError
from service.loading import ModelLoadError
from service.registry import Registry, version_key
from service.reload import ModelLoader
from service.state import ServiceState
from tests.service.fixtures import write_forecast_model, write_sentiment_model


def _load(root: Path) -> Registry:
    loader = ModelLoader(ServiceState(), Settings(models_dir=root, strict_models=True))
    return loader.load_initial().registry


def test_version_order_is_numeric_aware() -> None:
    versions = ["10", "2", "1", "1.10", "1.9", "2b", "2a"]
    assert sorted(versions, key=version_key) == ["1", "1.9", "1.10", "2", "2a", "2b", "10"]


def test_newest_version_is_the_default(zoo: Path) -> None:
    registry = _load(zoo)
    assert list(registry.models["forecast"]) == ["1", "2", "10"]
    assert registry.default_version("forecast") == "10"
    assert registry.resolve("forecast", None, None).version == "10"
    assert registry.resolve("forecast", None, "2").version == "2"
    assert registry.resolve("sentiment", None, None).name == "sentiment"


def test_only_model_of_a_task_is_the_default(tmp_path: Path) -> None:
    write_forecast_model(tmp_path, "sunspots", "3")
    assert _load(tmp_path).resolve("forecast", None, None).name == "sunspots"


def test_corrupted_onnx_file_is_named(tmp_path: Path) -> None:
    directory = write_forecast_model(tmp_path)
    onnx_path = directory / "model.onnx"
    onnx_path.write_bytes(onnx_path.read_bytes()[:200])
    with pytest.raises(
        ModelLoadError, match=re.escape(str(onnx_path)) + ": sha256 .* does not match"
    ):
        _load(tmp_path)


def test_corrupted_onnx_with_matching_sha_is_named(tmp_path: Path) -> None:
    directory = write_forecast_model(tmp_path)
    onnx_path = directory / "model.onnx"
    onnx_path.write_bytes(b"not an onnx graph")
    card = ModelCard.load(directory)

    card.model_copy(update={"sha256": sha256_of(onnx_path)}).dump(directory)
    with pytest.raises(ModelLoadError, match=re.escape(f"{onnx_path}: onnxruntime cannot load it")):
        _load(tmp_path)


def test_invalid_card_is_named(tmp_path: Path) -> None:
    directory = write_forecast_model(tmp_path)
    card_path = directory / "card.json"
    raw = json.loads(card_path.read_text())
    del raw["forecast"]
    card_path.write_text(json.dumps(raw))
    with pytest.raises(ModelLoadError, match=re.escape(f"{card_path}: invalid model card")):
        _load(tmp_path)


def test_card_that_disagrees_with_the_graph_is_refused(tmp_path: Path) -> None:
    directory = write_forecast_model(tmp_path, horizon=5)
    card = ModelCard.load(directory)
    outputs = [card.outputs[0].model_copy(update={"shape": ["batch", 7, 1]})]
    card.model_copy(update={"outputs": outputs}).dump(directory)
    with pytest.raises(ModelLoadError, match="output 'forecast' axis 1 is fixed to 5, card says 7"):
        _load(tmp_path)


def test_card_in_the_wrong_directory_is_refused(tmp_path: Path) -> None:
    directory = write_forecast_model(tmp_path, version="1")
    directory.rename(tmp_path / "forecast" / "2")
    with pytest.raises(ModelLoadError, match="card says forecast/1 but lives in forecast/2"):
        _load(tmp_path)


def test_tampered_vocabulary_is_named(tmp_path: Path) -> None:
    directory = write_sentiment_model(tmp_path)
    vocabulary = directory / "vocabulary.json"
    vocabulary.write_text(vocabulary.read_text().replace("great", "grate"))
    with pytest.raises(
        ModelLoadError, match=re.escape(str(vocabulary)) + ".*does not match the card"
    ):
        _load(tmp_path)


def test_empty_or_missing_models_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no model found"):
        _load(tmp_path)
    with pytest.raises(ModelLoadError, match="models directory not found"):
        _load(tmp_path / "missing")


def test_app_start_up_fails_naming_the_file(tmp_path: Path) -> None:
    directory = write_forecast_model(tmp_path)
    (directory / "model.onnx").write_bytes(b"garbage")
    app = create_app(Settings(models_dir=tmp_path))
    with (
        pytest.raises(ModelLoadError, match=re.escape(str(directory / "model.onnx"))),
        TestClient(app),
    ):
        pass


def test_several_models_of_a_task_need_a_name(tmp_path: Path) -> None:
    write_forecast_model(tmp_path, "sunspots", "1")
    write_forecast_model(tmp_path, "co2", "1")
    registry = _load(tmp_path)
    with pytest.raises(ServiceError, match="several forecast models are served") as caught:
        registry.resolve("forecast", None, None)
    assert (caught.value.status, caught.value.code) == (409, "ambiguous_model")
    assert registry.resolve("forecast", "co2", None).name == "co2"
    with pytest.raises(ServiceError, match="no sentiment model is served"):
        registry.resolve("sentiment", None, None)


def test_version_directory_without_a_card_is_named(tmp_path: Path) -> None:
    write_forecast_model(tmp_path, "forecast", "1")
    empty = tmp_path / "forecast" / "2"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match=re.escape(str(empty / "card.json")) + ": missing"):
        _load(tmp_path)


def test_hidden_staging_directories_are_ignored(tmp_path: Path) -> None:
    write_forecast_model(tmp_path, "forecast", "1")
    (tmp_path / "forecast" / ".2.abc123").mkdir()
    (tmp_path / ".cache").mkdir()
    assert list(_load(tmp_path).models["forecast"]) == ["1"]


def test_default_start_up_skips_a_broken_version_and_reports_it(tmp_path: Path) -> None:
    write_forecast_model(tmp_path, "forecast", "1")
    broken = write_forecast_model(tmp_path, "forecast", "2")
    (broken / "model.onnx").write_bytes(b"garbage")
    with TestClient(create_app(Settings(models_dir=tmp_path))) as client:
        assert client.get("/readyz").json()["models"] == {"forecast": ["1"]}
        assert client.post("/forecast", json={"series": [[1.0] * 12]}).json()["version"] == "1"
        failures = client.get("/models").json()["load_failures"]
    assert [(f["name"], f["version"], f["directory"]) for f in failures] == [
        ("forecast", "2", "forecast/2")
    ]
    assert "sha256" in failures[0]["error"]
    assert str(tmp_path) not in failures[0]["error"]  # no host paths on an open endpoint


def test_strict_start_up_refuses_a_broken_version(tmp_path: Path) -> None:
    write_forecast_model(tmp_path, "forecast", "1")
    broken = write_forecast_model(tmp_path, "forecast", "2")
    (broken / "model.onnx").write_bytes(b"garbage")
    app = create_app(Settings(models_dir=tmp_path, strict_models=True))
    with (
        pytest.raises(ModelLoadError, match=re.escape(str(broken / "model.onnx"))),
        TestClient(app),
    ):
        pass
