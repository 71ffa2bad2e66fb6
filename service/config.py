"""Every setting of the service, from environment variables (prefix RNN_SERVE_) or CLI flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "RNN_SERVE_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    models_dir: Path = Path("models")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Two CPU cores: 2 worker processes x 1 onnxruntime thread each keeps one busy thread
    # per core (see the README's "Using the API" section for the measurement).
    workers: int = Field(default=1, ge=1)
    ort_intra_op_threads: int = Field(default=1, ge=0)  # 0 lets onnxruntime decide
    ort_inter_op_threads: int = Field(default=1, ge=0)
    # Dynamic batching, per loaded model version.
    max_batch_size: int = Field(default=64, ge=1)  # rows (series or texts) per session.run
    max_queue_delay_ms: float = Field(default=0.0, ge=0.0, le=1000.0)
    # Request limits.
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    max_items: int = Field(default=256, ge=1)  # series or texts per request
    max_series_length: int = Field(default=10_000, ge=1)  # points per series
    max_text_chars: int = Field(default=100_000, ge=1)
    # Serve POST /forecast and /sentiment from a pure ASGI path instead of FastAPI's router.
    fast_path: bool = True
    access_log: bool = False
    log_level: str = "info"
