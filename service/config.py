"""Every setting of the service, from environment variables (prefix RNN_SERVE_) or CLI flags.

Each field's description is its `python -m service --help` text.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
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
    balance_accepts: bool = Field(
        default=True,
        description="with several workers, each accepts new connections only while it holds no"
        " more than the others",
    )
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
    rows_per_run: int = Field(
        default=0,
        ge=0,
        description="rows per onnxruntime run, at most max_batch_size (0: the size that is"
        " fastest per row, timed when a model loads)",
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
    # Connection limits: what one client may hold in a worker when the service faces clients
    # directly (nginx in compose keeps its own).
    max_header_bytes: int = Field(
        default=32_768, ge=1024, description="request line + headers, in bytes (431 above)"
    )
    max_headers: int = Field(default=100, ge=1, description="header fields per request (431 above)")
    header_timeout_s: float = Field(
        default=10.0, gt=0.0, description="seconds from a request's first byte to its last header"
    )
    keep_alive_s: float = Field(
        default=5.0,
        gt=0.0,
        description="seconds a connection may stay idle before a request (new ones included)",
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0.0, description="seconds from the headers to the end of the body (408)"
    )
    # Below the descriptor limit (each worker lowers it to fit); at the cap the longest-idle
    # connection is closed to make room, and only when all are busy does a new one get 503.
    max_connections: int = Field(
        default=1000, ge=1, description="open client connections per worker"
    )
    # gRPC limits: what one client may hold in a worker's gRPC server. A call counts from its
    # headers, so a client that sends headers and never the message holds a call slot until
    # its connection's age and grace run out.
    # ~1.5 s of a worker's capacity on the bundled models (~155 calls/s): more calls would only
    # wait towards their deadline; at 256 x --max-body-bytes, their messages stay bounded too.
    grpc_max_concurrent_rpcs: int = Field(
        default=256, ge=0, description="gRPC calls per worker (RESOURCE_EXHAUSTED above; 0: off)"
    )
    # HTTP/2's recommended minimum; below the per-worker cap, so that one connection cannot
    # take every call slot. A client's further calls wait in its own queue.
    grpc_max_streams_per_connection: int = Field(
        default=100, ge=1, description="gRPC calls at once on one connection (HTTP/2 streams)"
    )
    grpc_max_connections: int = Field(
        default=1000,
        ge=1,
        description="open gRPC connections per worker (more are closed at once; each worker "
        "lowers it with --max-connections to fit its descriptor limit)",
    )
    # Seconds, not minutes: a connection without calls costs the client one reconnect when it
    # comes back (gRPC clients do it on their own), and holds a descriptor until then.
    grpc_max_connection_idle_s: float = Field(
        default=60.0, gt=0.0, description="seconds a gRPC connection may stay without calls"
    )
    # Connections are re-made now and then so that long-lived channels spread over the workers
    # and replicas again (what --max-requests-per-connection does for HTTP).
    grpc_max_connection_age_s: float = Field(
        default=600.0, gt=0.0, description="seconds before a gRPC connection is asked to close"
    )
    # Longer than --request-timeout-ms: a call accepted before the close can finish.
    grpc_max_connection_age_grace_s: float = Field(
        default=10.0, ge=0.0, description="seconds its calls then have before it is closed"
    )
    grpc_handshake_timeout_s: float = Field(
        default=10.0, gt=0.0, description="seconds a new gRPC connection has to start HTTP/2"
    )
    # gRPC's default is 5 minutes, which makes clients with a 10-60 s keep-alive fail with
    # "too_many_pings"; 10 s is ample to find a dead peer and still bounds a ping flood.
    grpc_min_ping_interval_s: float = Field(
        default=10.0,
        gt=0.0,
        description="shortest interval between a client's keep-alive pings during calls",
    )
    grpc_max_ping_strikes: int = Field(
        default=2,
        ge=0,
        description="pings too early (or without calls) before the connection is closed (0: off)",
    )
    # gRPC clients refuse messages above 4 MiB unless told otherwise; the largest answer of the
    # bundled models (256 series x horizon x quantiles) is far below.
    grpc_max_send_message_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="largest gRPC answer (RESOURCE_EXHAUSTED above); requests: --max-body-bytes",
    )
    flush_interval_s: float = Field(
        default=0.25,
        gt=0.0,
        le=10.0,
        description="seconds between writes of access lines and metrics (what a crash loses)",
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
        description="API key required on the data plane and admin endpoints ('': open); "
        "visible in `ps` when given as a flag: prefer --api-key-file",
    )
    api_key_file: str = Field(
        default="",
        description="file holding the API key (its first line), read by every worker",
    )
    cors_origins: str = Field(default="", description="CORS origins, comma-separated ('': none)")

    @model_validator(mode="after")
    def _key_from_file(self) -> Settings:
        if not self.api_key_file:
            return self
        if self.api_key:
            raise ValueError("set api_key or api_key_file, not both")
        try:
            lines = Path(self.api_key_file).read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"api_key_file: {exc.strerror}: {self.api_key_file}") from exc
        key = lines[0].strip() if lines else ""
        if not key:
            raise ValueError(f"api_key_file: {self.api_key_file} is empty")
        object.__setattr__(self, "api_key", key)  # frozen; the key is this file's content
        return self

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]
