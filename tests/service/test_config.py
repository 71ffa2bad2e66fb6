from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.__main__ import settings_from_args
from service.config import Settings


def test_defaults_are_the_documented_limits() -> None:
    settings = Settings()
    assert (settings.max_items, settings.max_series_length) == (256, 10_000)
    assert (settings.max_body_bytes, settings.max_text_chars) == (1_000_000, 100_000)
    assert settings.models_dir == Path("models")


def test_environment_variables_use_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNN_SERVE_MAX_ITEMS", "12")
    monkeypatch.setenv("RNN_SERVE_STRICT_MODELS", "true")
    settings = Settings()
    assert settings.max_items == 12
    assert settings.strict_models is True


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNN_SERVE_PORT", "9000")
    monkeypatch.setenv("RNN_SERVE_WORKERS", "3")
    settings = settings_from_args(
        [
            "--port",
            "8123",
            "--models-dir",
            "/srv/models",
            "--max-queue-delay-ms",
            "1.5",
            "--strict-models",
        ]
    )
    assert settings.port == 8123
    assert settings.workers == 3  # from the environment: no flag given
    assert settings.models_dir == Path("/srv/models")
    assert settings.max_queue_delay_ms == 1.5
    assert settings.strict_models is True


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        settings_from_args(["--workers", "0"])
    with pytest.raises(ValidationError):
        Settings(max_batch_size=0)


def test_grpc_port_flag_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RNN_SERVE_GRPC_PORT", raising=False)
    assert Settings().grpc_port == 8001
    assert settings_from_args(["--grpc-port", "0"]).grpc_port == 0
    monkeypatch.setenv("RNN_SERVE_GRPC_PORT", "9001")
    assert settings_from_args([]).grpc_port == 9001
