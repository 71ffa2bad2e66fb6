"""Steady load against a service, and what it saw.

Load is a few threads, each with its own keep-alive connection, posting forecasts in a loop
(`Load`), or a few gRPC channels calling ModelInfer in a loop (`GrpcLoad`); every request is
recorded with its status (or the transport error), latency and, over HTTP, the worker that
answered (its pid is the hex prefix of the X-Request-ID the service makes).
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import httpx
import numpy as np

from service.v2.proto import grpc_predict_v2_pb2 as pb
from service.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc

FORECAST = {"series": [[50.0, 51.0, 52.0, 53.0, 54.0]]}
# The latency every client should see under an attack, at the load these scenarios offer on
# a 2-core machine shared with the load threads (the soak's p99 at 70% of capacity is ~270 ms).
CLIENT_P99_BUDGET_S = 0.5
ANSWERED_OK = (200, "OK")  # an HTTP 200, a gRPC OK


def worker_pid(request_id: str) -> int:
    """service.edge's ids are `<pid hex><6 random hex>-<counter hex>`."""
    return int(request_id.split("-", 1)[0][:-6], 16)


def _answered(status: int | str) -> bool:
    """An HTTP status, or a gRPC code other than UNAVAILABLE (what a lost connection gives)."""
    return isinstance(status, int) or (status.isupper() and status != "UNAVAILABLE")


@dataclass(frozen=True)
class Outcome:
    started: float  # monotonic
    seconds: float
    status: int | str  # HTTP status, gRPC code name, or the transport error's class name
    pid: int | None
    version: str | None
    # The replicas a proxy tried, in order (nginx's X-Upstream, `$upstream_addr`), if it said.
    upstream: str | None = None


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)

    def between(self, start: float, end: float) -> LoadResult:
        return LoadResult([o for o in self.outcomes if start <= o.started < end])

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    @property
    def by_status(self) -> dict[str, int]:
        return dict(collections.Counter(str(o.status) for o in self.outcomes))

    @property
    def answered(self) -> int:
        return sum(1 for o in self.outcomes if _answered(o.status))

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.status not in ANSWERED_OK)

    def percentile(self, fraction: float) -> float:
        times = sorted(o.seconds for o in self.outcomes if o.status in ANSWERED_OK)
        if not times:
            return float("inf")
        return times[min(len(times) - 1, int(fraction * len(times)))]

    def summary(self, name: str) -> str:
        return (
            f"{name}: sent {self.sent}, answered {self.answered}, failed {self.failed} "
            f"({100 * self.failed / max(1, self.sent):.2f}%), by status {self.by_status}, "
            f"p50 {1000 * self.percentile(0.5):.1f} ms, p99 {1000 * self.percentile(0.99):.1f} ms"
        )


class Load:
    """`threads` clients sending `request` back to back until stopped."""

    def __init__(
        self,
        url: str,
        threads: int = 4,
        request: Callable[[httpx.Client], httpx.Response] | None = None,
    ) -> None:
        self.url = url
        self.request = request or (lambda client: client.post("/forecast", json=FORECAST))
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        client = httpx.Client(base_url=self.url, timeout=10)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = self.request(client)
            except httpx.TransportError as exc:
                outcome = Outcome(
                    started, time.monotonic() - started, type(exc).__name__, None, None
                )
                client.close()
                client = httpx.Client(base_url=self.url, timeout=10)
            else:
                request_id = response.headers.get("x-request-id", "")
                version = None
                if response.status_code == 200 and response.headers.get(
                    "content-type", ""
                ).startswith("application/json"):
                    version = response.json().get("version")
                outcome = Outcome(
                    started,
                    time.monotonic() - started,
                    response.status_code,
                    worker_pid(request_id) if request_id else None,
                    version,
                    response.headers.get("x-upstream"),
                )
            with self._lock:
                self.result.outcomes.append(outcome)
        client.close()


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (exposition text)."""
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name) : len(name) + 1] not in ("{", " "):
            continue
        sample, value = line.rsplit(" ", 1)
        if all(label in sample for label in wanted):
            total += float(value)
    return total


def forecast_infer_request(points: int = 5) -> pb.ModelInferRequest:
    """A ModelInfer of one series of `points` points for the default forecast version."""
    request = pb.ModelInferRequest(model_name="forecast")
    request.inputs.add(name="series", datatype="FP32", shape=[1, points])
    request.raw_input_contents.append(np.linspace(50.0, 54.0, points).astype("<f4").tobytes())
    return request


def own_channel(target: str) -> grpc.aio.Channel:
    """A channel on a connection of its own (channels to one target share one by default)."""
    return grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


class GrpcLoad:
    """`channels` gRPC clients, each on its own connection, calling ModelInfer back to back
    until stopped, in a thread with its own event loop."""

    def __init__(self, target: str, channels: int = 2, timeout_s: float = 10.0) -> None:
        self.target = target
        self.channels = channels
        self.timeout_s = timeout_s
        self.result = LoadResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> GrpcLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    async def _run(self) -> None:
        await asyncio.gather(*(self._client() for _ in range(self.channels)))

    async def _client(self) -> None:
        request = forecast_infer_request()
        async with own_channel(self.target) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    await stub.ModelInfer(request, timeout=self.timeout_s)
                    status = "OK"
                except grpc.aio.AioRpcError as exc:
                    status = exc.code().name
                    if status == "RESOURCE_EXHAUSTED":
                        await asyncio.sleep(0.01)  # as a client backing off would
                self.result.outcomes.append(
                    Outcome(started, time.monotonic() - started, status, None, None)
                )
