"""Answers that tell a newcomer what to do: wrong method, trailing slash, limits, error shapes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings

SERIES = {"series": [[1.0, 2.0, 3.0, 4.0, 5.0]]}


def test_a_trailing_slash_is_the_same_route_or_a_404_body(zoo: Path) -> None:
    with TestClient(create_app(Settings(models_dir=zoo))) as client:
        assert client.post("/forecast/", json=SERIES).json()["horizon"] == 5
        answer = client.get("/models/", follow_redirects=False)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"


def test_the_405_says_which_method_to_use(zoo: Path) -> None:
    with TestClient(create_app(Settings(models_dir=zoo))) as client:
        answer = client.get("/sentiment")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert "takes POST with a JSON body" in answer.json()["error"]["message"]


def test_the_413_names_the_setting_that_raises_the_limit(zoo: Path) -> None:
    with TestClient(create_app(Settings(models_dir=zoo, max_body_bytes=100))) as client:
        answer = client.post("/forecast", json={"series": [[1.0] * 50]})
    assert answer.status_code == 413
    assert "--max-body-bytes, RNN_SERVE_MAX_BODY_BYTES" in answer.json()["error"]["message"]


def test_every_documented_error_has_the_service_error_shape(zoo: Path) -> None:
    with TestClient(create_app(Settings(models_dir=zoo))) as client:
        document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        if path.startswith("/v2"):  # the Open Inference Protocol's own {"error": "..."} shape
            continue
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_help_describes_every_flag() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "service", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name, field in Settings.model_fields.items():
        assert "--" + name.replace("_", "-") in shown
        assert field.description, name
    assert "RNN_SERVE_MAX_BODY_BYTES" in shown
