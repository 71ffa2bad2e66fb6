"""Prometheus metrics of the service, served as text at GET /metrics.

Names follow the Prometheus conventions (`_total` counters, `_seconds` durations, base units).
The metrics are process-wide singletons. With several uvicorn workers, `python -m service`
points PROMETHEUS_MULTIPROC_DIR at a fresh directory before the workers start, so every
worker writes its values there and any worker's /metrics answers for all of them.

On the hot path nothing of prometheus_client runs: requests and batches update plain
per-label-set aggregates (an int, or bucket counts), which `flush` adds into the Prometheus
values at every scrape of this process and every `flush_interval_s` (so a scrape answered by
another worker sees this one's counts that late at most, and a crash loses that much).
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from typing import Any

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
    "HTTP requests answered, by protocol (native, v2 over HTTP, v2-grpc), route, method, "
    "status and the model version that served them.",
    ["protocol", "route", "method", "status", "model", "version"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to its last response byte.",
    ["protocol", "route", "method", "model", "version"],
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
FORECAST_WARNINGS = Counter(
    "forecast_warnings",
    "Forecast answers' warnings: out_of_range (input far from the training data), "
    "short_history (fewer points than the model's window).",
    ["model", "version", "kind"],
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
CONNECTIONS_CLOSED = Counter(
    "connections_closed",
    "Client connections closed by the server's limits before an answer from the app: "
    "header_too_large, too_many_headers, no_host, invalid_http, header_timeout, body_timeout, "
    "connection_limit (503), evicted (an idle one closed to make room).",
    ["reason"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)


class _LocalCounter:
    """A counter child's increments, kept as a plain int until `flush` (event loop only)."""

    __slots__ = ("_child", "pending")

    def __init__(self, child: Any) -> None:
        self._child = child
        self.pending = 0
        _LOCAL.append(self)

    def flush(self) -> None:
        if self.pending:
            count, self.pending = self.pending, 0
            self._child.inc(count)


class _LocalHistogram:
    """A histogram child's observations, kept as bucket counts until `flush`.

    `observe` is a bisect and two additions, against a locked `inc` per value (and per
    bucket) in prometheus_client. `flush` adds the counts into the child's bucket and sum
    values (prometheus_client stores buckets non-cumulatively, one value per bound), which
    is what `observe` itself updates; the metric tests check the result.
    """

    __slots__ = ("_bounds", "_child", "_counts", "_total")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._bounds: list[float] = list(child._upper_bounds)
        self._counts = [0] * len(self._bounds)
        self._total = 0.0
        _LOCAL.append(self)

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self._bounds, value)] += 1
        self._total += value

    def flush(self) -> None:
        counts = self._counts
        if not any(counts):
            return
        total, self._total = self._total, 0.0
        for index, count in enumerate(counts):
            if count:
                counts[index] = 0
                self._child._buckets[index].inc(count)
        self._child._sum.inc(total)


# Every local aggregate of this process; `flush` moves them into the Prometheus values.
_LOCAL: list[_LocalCounter | _LocalHistogram] = []


class _InFlight:
    """Requests being served in this process; the gauge is set from it at each flush."""

    count = 0


IN_FLIGHT_NOW = _InFlight()


def flush() -> None:
    """Move this process's pending counts into the Prometheus values.

    Called on the event loop thread that updates them: at each scrape, and every
    `flush_interval_s` in multiprocess mode only, so one process serving one loop never
    races with itself.
    """
    for local in _LOCAL:
        local.flush()
    IN_FLIGHT.set(IN_FLIGHT_NOW.count)


async def flush_periodically(interval_s: float) -> None:
    """A task of the app's lifespan: other workers' scrapes see this one's counts within
    `interval_s` (the scraped worker flushes itself before answering)."""
    while True:
        await asyncio.sleep(interval_s)
        flush()


class BatchObserver:
    """The batcher's metrics for one model version, label children resolved once."""

    def __init__(self, model: str, version: str) -> None:
        self.model = model
        self.version = version
        self.queue_wait = _LocalHistogram(QUEUE_WAIT.labels(model, version)).observe
        self._inference = _LocalHistogram(INFERENCE_DURATION.labels(model, version))
        self._rows = _LocalHistogram(BATCH_ROWS.labels(model, version))
        self._requests = _LocalHistogram(BATCH_REQUESTS.labels(model, version))

    def batch(self, rows: int, requests: int, seconds: float) -> None:
        self._inference.observe(seconds)
        self._rows.observe(rows)
        self._requests.observe(requests)

    def rejected(self, reason: str) -> None:
        REJECTED.labels(self.model, self.version, reason).inc()


class RequestRecorder:
    """Counts and times answered requests; one local aggregate per label set seen."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, str, int, str, str], _LocalCounter] = {}
        self._histograms: dict[tuple[str, str, str, str, str], _LocalHistogram] = {}
        self.in_flight = IN_FLIGHT_NOW

    def record(
        self,
        route: str,
        method: str,
        status: int,
        model: str,
        version: str,
        seconds: float,
        protocol: str = "native",
    ) -> None:
        key = (protocol, route, method, status, model, version)
        counter = self._counters.get(key)
        if counter is None:
            child = REQUESTS.labels(protocol, route, method, str(status), model, version)
            counter = self._counters[key] = _LocalCounter(child)
        counter.pending += 1
        hkey = (protocol, route, method, model, version)
        histogram = self._histograms.get(hkey)
        if histogram is None:
            histogram = self._histograms[hkey] = _LocalHistogram(REQUEST_DURATION.labels(*hkey))
        histogram.observe(seconds)


def set_model_info(model: str, version: str, task: str, sha256: str) -> None:
    MODEL_INFO.labels(model, version, task, sha256).set(1)


def forecast_warned(model: str, version: str, kind: str) -> None:
    FORECAST_WARNINGS.labels(model, version, kind).inc()


def model_load_failed(model: str, version: str) -> None:
    MODEL_LOAD_FAILURES.labels(model, version).inc()


def connection_closed(reason: str) -> None:
    CONNECTIONS_CLOSED.labels(reason).inc()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def render() -> bytes:
    """The exposition text: this process's metrics, or every worker's in multiprocess mode."""
    flush()
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)
