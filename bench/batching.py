"""The batch size the service's dynamic batcher reached, from `GET /models/{name}`.

Each uvicorn worker has its own batcher and counters, and a request reaches one worker. So the
harness reads the counters on fresh connections until it has seen every worker (the stats name
their process), and sums them: the difference of two such sums brackets one load point. It keeps
every connection it opened open until it is done: the service's workers take a new connection
only while they hold no more than the others, so a client that closed its connection before
opening the next could meet the same worker on all of its reads (right after a load point, in
4 of 9 trials). A result that did not see every worker, or whose counters went backwards, is
marked incomplete and is not used.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import httpx

COUNTERS = ("batches", "requests", "rows")
_Result = TypeVar("_Result")


@dataclass(frozen=True)
class Counters:
    batches: int
    requests: int
    rows: int
    workers_seen: int

    def minus(self, before: Counters, workers: int) -> BatchingResult:
        batches = self.batches - before.batches
        rows = self.rows - before.rows
        requests = self.requests - before.requests
        seen = min(self.workers_seen, before.workers_seen)
        complete = seen >= workers and min(batches, rows, requests) >= 0
        return BatchingResult(
            batches=batches,
            rows=rows,
            requests=requests,
            average_batch_rows=round(rows / batches, 3) if batches > 0 and complete else 0.0,
            workers_seen=seen,
            complete=complete,
        )


@dataclass(frozen=True)
class BatchingResult:
    batches: int
    rows: int
    requests: int
    average_batch_rows: float
    workers_seen: int
    complete: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _stats(document: dict[str, Any]) -> tuple[object, dict[str, int]]:
    """(worker identity, counters) of the default version in a `GET /models/{name}` answer."""
    versions = document.get("versions", [])
    default = document.get("default_version")
    chosen = next((v for v in versions if v.get("version") == default), versions[0])
    counters = {name: int(chosen["stats"][name]) for name in COUNTERS}
    # The service names the worker process; without it, distinct counters stand for workers.
    worker = chosen["stats"].get("process") or tuple(counters.values())
    return worker, counters


def read_counters(url: str, model: str, workers: int, attempts: int = 60) -> Counters:
    """Sum of the per-worker counters (a new connection per read, all kept open until the end,
    to reach every worker)."""
    seen: dict[object, dict[str, int]] = {}
    with ExitStack() as open_connections:
        for _ in range(attempts):
            client = open_connections.enter_context(httpx.Client(timeout=10.0))
            answer = client.get(f"{url}/models/{model}")
            answer.raise_for_status()
            worker, counters = _stats(answer.json())
            seen[worker] = counters
            if len(seen) >= workers:
                break
    return Counters(
        batches=sum(c["batches"] for c in seen.values()),
        requests=sum(c["requests"] for c in seen.values()),
        rows=sum(c["rows"] for c in seen.values()),
        workers_seen=len(seen),
    )


def around(
    url: str, model: str, workers: int, load: Callable[[], _Result]
) -> tuple[_Result, BatchingResult]:
    """`load`'s result and what the batchers did while it ran (counters read before and after)."""
    before = read_counters(url, model, workers)
    result = load()
    return result, read_counters(url, model, workers).minus(before, workers)
