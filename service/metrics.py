"""Prometheus metrics of the service, served as text at GET /metrics.

Names follow the Prometheus conventions (`_total` counters, `_seconds` durations, base units).
The metrics are process-wide singletons. With several uvicorn workers, `python -m service`
points PROMETHEUS_MULTIPROC_DIR at a fresh directory before the workers start, so every
worker writes its values there and any worker's /metrics answers for all of them.

On the hot path only cached label children are touched (a dict lookup, then `inc` or
`observe`): no label resolution, no allocation per request.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
NAMESPACE = "rnn_serve"
CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route, method, status and the model version that served them.",
    ["route", "method", "status", "model", "version"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to its last response byte.",
    ["route", "method", "model", "version"],
    namespace=NAMESPACE,
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "HTTP requests being served right now.",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "queue_wait_seconds",
    "Time a request waited in its model's batching queue before its batch ran.",
    ["model", "version"],
    namespace=NAMESPACE,
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
INFERENCE_DURATION = Histogram(
    "inference_duration_seconds",
    "Time of one batched onnxruntime run (padding included).",
    ["model", "version"],
    namespace=NAMESPACE,
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
BATCH_ROWS = Histogram(
    "batch_size_rows",
    "Rows (series or texts) per onnxruntime run.",
    ["model", "version"],
    namespace=NAMESPACE,
    buckets=_BATCH_BUCKETS,
    registry=REGISTRY,
)
BATCH_REQUESTS = Histogram(
    "batch_size_requests",
    "Requests merged into one onnxruntime run.",
    ["model", "version"],
    namespace=NAMESPACE,
    buckets=_BATCH_BUCKETS,
    registry=REGISTRY,
)
REJECTED = Counter(
    "requests_rejected",
    "Requests the batcher did not compute: queue_full (503), deadline (504), disconnected.",
    ["model", "version", "reason"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
MODEL_INFO = Gauge(
    "model_info",
    "1 for every model version being served, with its task and the sha256 of its graph.",
    ["model", "version", "task", "sha256"],
    namespace=NAMESPACE,
    multiprocess_mode="max",
    registry=REGISTRY,
)
MODEL_LOAD_FAILURES = Counter(
    "model_load_failures",
    "Model versions found by the reloader that failed verification and were not served.",
    ["model", "version"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)


class BatchObserver:
    """The batcher's metrics for one model version, label children resolved once."""

    def __init__(self, model: str, version: str) -> None:
        self.model = model
        self.version = version
        self._queue_wait = QUEUE_WAIT.labels(model, version)
        self._inference = INFERENCE_DURATION.labels(model, version)
        self._rows = BATCH_ROWS.labels(model, version)
        self._requests = BATCH_REQUESTS.labels(model, version)

    def queue_wait(self, seconds: float) -> None:
        self._queue_wait.observe(seconds)

    def batch(self, rows: int, requests: int, seconds: float) -> None:
        self._inference.observe(seconds)
        self._rows.observe(rows)
        self._requests.observe(requests)

    def rejected(self, reason: str) -> None:
        REJECTED.labels(self.model, self.version, reason).inc()


class RequestRecorder:
    """Counts and times answered requests; caches the label children it has seen."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, int, str, str], Counter] = {}
        self._histograms: dict[tuple[str, str, str, str], Histogram] = {}
        self.in_flight = IN_FLIGHT

    def record(
        self, route: str, method: str, status: int, model: str, version: str, seconds: float
    ) -> None:
        key = (route, method, status, model, version)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = REQUESTS.labels(
                route, method, str(status), model, version
            )
        counter.inc()
        hkey = (route, method, model, version)
        histogram = self._histograms.get(hkey)
        if histogram is None:
            histogram = self._histograms[hkey] = REQUEST_DURATION.labels(*hkey)
        histogram.observe(seconds)


def set_model_info(model: str, version: str, task: str, sha256: str) -> None:
    MODEL_INFO.labels(model, version, task, sha256).set(1)


def model_load_failed(model: str, version: str) -> None:
    MODEL_LOAD_FAILURES.labels(model, version).inc()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def render() -> bytes:
    """The exposition text: this process's metrics, or every worker's in multiprocess mode."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)
