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


def test_api_key_file_gives_the_key(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-key\n")
    settings = settings_from_args(["--api-key-file", str(key_file)])
    assert settings.api_key == "s3cret-key"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("content", "flags", "message"),
    [
        ("\n", [], "is empty"),
        (None, [], "No such file"),
        ("k", ["--api-key", "other"], "not both"),
    ],
    ids=["empty", "missing", "both"],
)
def test_api_key_file_problems_are_refused(
    tmp_path: Path, content: str | None, flags: list[str], message: str
) -> None:
    key_file = tmp_path / "key"
    if content is not None:
        key_file.write_text(content)
    with pytest.raises(ValidationError, match=message):
        settings_from_args(["--api-key-file", str(key_file), *flags])


def test_connection_limits_have_careful_defaults() -> None:
    settings = Settings()
    assert settings.max_header_bytes == 32_768 and settings.max_headers == 100
    assert (settings.header_timeout_s, settings.keep_alive_s, settings.body_timeout_s) == (
        10.0,
        5.0,
        30.0,
    )
    assert settings.max_connections == 1000


def test_grpc_port_flag_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RNN_SERVE_GRPC_PORT", raising=False)
    assert Settings().grpc_port == 8001
    assert settings_from_args(["--grpc-port", "0"]).grpc_port == 0
    monkeypatch.setenv("RNN_SERVE_GRPC_PORT", "9001")
    assert settings_from_args([]).grpc_port == 9001
