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
    # Two CPU cores: one process runs its Python work on one core, so 2 worker processes
    # x 1 onnxruntime thread each keep both cores busy without oversubscribing them.
    workers: int = Field(default=2, ge=1)
    # 1: a second intra-op thread made the bundled sentiment model slower per row here.
    ort_intra_op_threads: int = Field(default=1, ge=0)  # 0 lets onnxruntime decide
    ort_inter_op_threads: int = Field(default=1, ge=0)
    # Dynamic batching, per loaded model version (defaults measured: README, "Using the API").
    # Bundled models: the cost per row stops falling at about 16-32 rows; larger batches
    # only add latency.
    max_batch_size: int = Field(default=32, ge=1)  # rows (series or texts) per session.run
    # 0 ms: under load, batches form while the previous one runs; a wait added CPU, not rows/s.
    max_queue_delay_ms: float = Field(default=0.0, ge=0.0, le=1000.0)
    # Request limits.
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    max_items: int = Field(default=256, ge=1)  # series or texts per request
    max_series_length: int = Field(default=10_000, ge=1)  # points per series
    max_text_chars: int = Field(default=100_000, ge=1)
    # Serve POST /forecast and /sentiment from a pure ASGI path instead of FastAPI's router.
    fast_path: bool = True
    # One JSON access line per request on stdout (uvicorn's own access log stays off).
    access_log: bool = True
    log_level: str = "info"
    # Overload (service.runtime): per model version, requests waiting for a batch beyond
    # max_queue_requests get 503 + Retry-After; one that waited request_timeout_ms gets 504
    # and is not computed (0 = no deadline).
    max_queue_requests: int = Field(default=1024, ge=1)
    request_timeout_ms: float = Field(default=5000.0, ge=0.0)
    retry_after_s: int = Field(default=1, ge=0)
    # Keep-alive recycling: after this many requests on one connection the answer says
    # `Connection: close` and the client reconnects, so long-lived connections of a few busy
    # clients do not stay pinned to one worker while another idles (0 = never).
    max_requests_per_connection: int = Field(default=100, ge=0)
    # Graceful shutdown: on SIGTERM, stop accepting and finish what was accepted, for at most.
    shutdown_timeout_s: int = Field(default=30, ge=1)
    # Hot reload: seconds between scans of models_dir for new versions (0 = off).
    reload_interval_s: float = Field(default=5.0, ge=0.0)
    # Access: an API key for the data plane and admin endpoints ("" = no authentication);
    # CORS origins, comma-separated ("" = no CORS headers at all).
    api_key: str = Field(default="", repr=False)
    cors_origins: str = ""

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]
