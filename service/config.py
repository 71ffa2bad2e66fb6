"""Every setting of the service, from environment variables (prefix RNN_SERVE_) or CLI flags.

Each field's description is its `python -m service --help` text.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "RNN_SERVE_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    models_dir: Path = Field(
        default=Path("models"), description="directory of <name>/<version>/ model artifacts"
    )
    host: str = Field(default="127.0.0.1", description="address to listen on (0.0.0.0: all)")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port")
    grpc_port: int = Field(
        default=8001,
        ge=0,
        le=65535,
        description="gRPC port of the Open Inference Protocol (KServe V2) in every worker (0: off)",
    )
    # Two CPU cores: one process runs its Python work on one core, so 2 worker processes
    # x 1 onnxruntime thread each keep both cores busy without oversubscribing them.
    workers: int = Field(default=2, ge=1, description="worker processes (one per CPU core)")
    # 1: a second intra-op thread made the bundled sentiment model slower per row here.
    ort_intra_op_threads: int = Field(
        default=1, ge=0, description="onnxruntime intra-op threads per session (0: its choice)"
    )
    ort_inter_op_threads: int = Field(
        default=1, ge=0, description="onnxruntime inter-op threads per session"
    )
    # Bundled models: the cost per row stops falling at about 16-32 rows; larger batches
    # only add latency.
    max_batch_size: int = Field(
        default=32, ge=1, description="dynamic batching: rows (series or texts) per model run"
    )
    # 0 ms: under load, batches form while the previous one runs; a wait added CPU, not rows/s.
    max_queue_delay_ms: float = Field(
        default=0.0,
        ge=0.0,
        le=1000.0,
        description="dynamic batching: longest wait for more rows before a run, in ms",
    )
    max_body_bytes: int = Field(
        default=1_000_000, ge=1, description="largest request body accepted (413 above)"
    )
    max_items: int = Field(default=256, ge=1, description="series or texts per request")
    max_series_length: int = Field(default=10_000, ge=1, description="points per series")
    max_text_chars: int = Field(default=100_000, ge=1, description="characters per text")
    access_log: bool = Field(default=True, description="one JSON access line per request")
    log_level: str = Field(default="info", description="debug, info, warning or error")
    max_queue_requests: int = Field(
        default=1024,
        ge=1,
        description="overload: requests waiting per model version before 503 + Retry-After",
    )
    request_timeout_ms: float = Field(
        default=5000.0,
        ge=0.0,
        description="a request that waited this long for its batch gets 504 (0: no deadline)",
    )
    retry_after_s: int = Field(default=1, ge=0, description="Retry-After of an overload 503")
    # After this many requests on one connection the answer says `Connection: close`, so
    # long-lived connections of a few busy clients do not stay pinned to one worker.
    max_requests_per_connection: int = Field(
        default=100, ge=0, description="keep-alive recycling: requests per connection (0: off)"
    )
    shutdown_timeout_s: int = Field(
        default=30, ge=1, description="on SIGTERM, seconds to finish accepted requests"
    )
    reload_interval_s: float = Field(
        default=5.0, ge=0.0, description="seconds between scans for new model versions (0: off)"
    )
    strict_models: bool = Field(
        default=False,
        description="refuse to start if any model version fails its checks (default: skip it)",
    )
    api_key: str = Field(
        default="",
        repr=False,
        description="API key required on the data plane and admin endpoints ('': open)",
    )
    cors_origins: str = Field(default="", description="CORS origins, comma-separated ('': none)")

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]
