"""onnxruntime sessions and the dynamic batcher that feeds them.

The batcher merges concurrent requests for one model version into one batch (like Triton's
dynamic batching): its rows, of variable length, are sorted, cut into groups of similar
length and right-padded to the longest row of their group with their true lengths beside
them, one `session.run` per group; the runs happen in a worker thread so the event loop
keeps serving, and the output rows go back to the request that sent them. A small batch
that holds every request the process is serving runs on the event loop instead: there is
nothing to serve meanwhile, and the hand-off to the thread and back cost more than a short
run (see `INLINE_MAX_S`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from service import context
from service.context import DisconnectProbe
from service.errors import ServiceError
from service.metrics import BatchObserver

logger = logging.getLogger(__name__)

BatchFunction = Callable[[list[np.ndarray]], np.ndarray]

# A run on the event loop blocks it: only a run expected to be this short (from the time
# per row of the model's previous run) goes there. 2 ms: 4 sentiment rows of 253 tokens or
# about 16 forecast rows of 50 steps on the machine of BENCHMARKS.md.
INLINE_MAX_S = 0.002


def pad_rows(rows: list[np.ndarray], dtype: type[np.generic]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad rows of shape [length, ...] with zeros; return (batch, lengths int32)."""
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int32, count=len(rows))
    batch = np.zeros((len(rows), int(lengths.max()), *rows[0].shape[1:]), dtype=dtype)
    for i, row in enumerate(rows):
        batch[i, : len(row)] = row
    return batch, lengths


@dataclass(frozen=True)
class SequenceRunner:
    """Runs a graph of the contract `(data [batch, time, ...], lengths [batch]) -> output`."""

    session: ort.InferenceSession
    data_input: str
    lengths_input: str
    output: str
    dtype: type[np.generic]

    # The cost model of length_groups, in row-steps (see there).
    step_overhead_rows: float = 1.0
    run_overhead_row_steps: float = 64.0
    # More rows than this go in several runs of near-equal size (0: no limit); see
    # service.calibration for why a smaller run can cost less per row.
    max_rows_per_run: int = 0

    def __call__(self, rows: list[np.ndarray]) -> np.ndarray:
        """Output rows in the order of `rows`; rows of very different lengths run apart."""
        lengths = [len(row) for row in rows]
        padding = max(lengths) * len(rows) - sum(lengths)
        if padding <= self.run_overhead_row_steps:  # no split can save more than a run costs
            return self._run(rows)
        order = sorted(range(len(rows)), key=lengths.__getitem__)
        groups = length_groups(
            [lengths[i] for i in order], self.step_overhead_rows, self.run_overhead_row_steps
        )
        if len(groups) == 1:
            return self._run(rows)
        result: np.ndarray | None = None
        for start, end in groups:
            members = order[start:end]
            output = self._run([rows[i] for i in members])
            if result is None:
                result = np.empty((len(rows), *output.shape[1:]), dtype=output.dtype)
            result[members] = output
        assert result is not None
        return result

    def _run(self, rows: list[np.ndarray]) -> np.ndarray:
        limit = self.max_rows_per_run
        if not limit or len(rows) <= limit:
            return self._run_once(rows)
        bounds = np.linspace(0, len(rows), -(-len(rows) // limit) + 1).round().astype(int)
        return np.concatenate(
            [self._run_once(rows[start:end]) for start, end in itertools.pairwise(bounds)]
        )

    def _run_once(self, rows: list[np.ndarray]) -> np.ndarray:
        data, lengths = pad_rows(rows, self.dtype)
        feeds = {self.data_input: data, self.lengths_input: lengths}
        result: np.ndarray = self.session.run([self.output], feeds)[0]
        return result


def length_groups(
    lengths: list[int], step_overhead_rows: float, run_overhead_row_steps: float
) -> list[tuple[int, int]]:
    """Split rows sorted by length into runs of consecutive rows, cheapest in total.

    A recurrent graph loops to the longest row of its batch: measured here, one 500-step
    row batched with 31 of 50 steps made the run 5x slower than running them apart. A run of
    n rows padded to T steps is modelled as costing T x (step_overhead_rows + n) row-steps,
    plus run_overhead_row_steps for the call itself. Exact dynamic programming over the
    sorted lengths: O(n^2) for n rows, microseconds for a batch of 32.
    """
    n = len(lengths)
    best = [0.0] * (n + 1)
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        longest = lengths[end - 1]
        best[end] = float("inf")
        for start in range(end):
            cost = best[start] + run_overhead_row_steps
            cost += longest * (step_overhead_rows + end - start)
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups: list[tuple[int, int]] = []
    end = n
    while end > 0:
        groups.append((cut[end], end))
        end = cut[end]
    return groups[::-1]


@dataclass
class BatchStats:
    batches: int = 0
    rows: int = 0
    requests: int = 0
    max_rows: int = 0
    failures: int = 0

    def record(self, rows: int, requests: int) -> None:
        self.batches += 1
        self.rows += rows
        self.requests += requests
        self.max_rows = max(self.max_rows, rows)

    def as_dict(self) -> dict[str, Any]:
        per_batch = self.batches or 1
        return {
            "batches": self.batches,
            "requests": self.requests,
            "rows": self.rows,
            "average_batch_rows": round(self.rows / per_batch, 3),
            "average_batch_requests": round(self.requests / per_batch, 3),
            "max_batch_rows": self.max_rows,
            "failed_batches": self.failures,
            "process": os.getpid(),  # counters are per worker process
        }


@dataclass(slots=True)
class _Pending:
    rows: list[np.ndarray]
    future: asyncio.Future[np.ndarray]
    enqueued_at: float
    client_gone: DisconnectProbe | None = None
    one_per_connection: bool = True  # see service.context.RequestContext
    taken: bool = False  # collected into a batch: its deadline no longer applies


@dataclass
class DynamicBatcher:
    """One queue and one worker task per model version; `submit` is the only entry point.

    Overload: with `max_queue` requests waiting, `submit` answers 503 with Retry-After; a
    request still waiting after `deadline_s` gets 504; one whose client has gone (see
    service.context) is dropped when collected. None of these is computed.

    Deadlines are checked by a sweep every `deadline_s / 20` (a 504 comes at most that much
    late) over the requests in arrival order, rather than by a timer per request: creating
    and cancelling a uvloop timer costs 4-7 us, and all requests share one deadline.
    """

    run_batch: BatchFunction
    max_batch_size: int
    max_queue_delay_s: float
    name: str = "model"  # "<model>/<version>"
    max_queue: int = 0  # requests waiting; 0 = unbounded
    deadline_s: float = 0.0  # 0 = no deadline
    retry_after_s: int = 1
    observer: BatchObserver | None = None
    stats: BatchStats = field(default_factory=BatchStats)
    inline_max_s: float = INLINE_MAX_S  # longest expected run that may go on the event loop
    _queue: asyncio.Queue[_Pending] = field(default_factory=asyncio.Queue)
    _task: asyncio.Task[None] | None = None
    _executor: ThreadPoolExecutor | None = None
    # Taken from the queue and not answered yet (the batch being collected or run, the
    # carried-over request): a stop mid-batch must answer them too.
    _held: list[_Pending] = field(default_factory=list)
    _arrivals: collections.deque[_Pending] = field(default_factory=collections.deque)
    _sweep: asyncio.TimerHandle | None = None
    _seconds_per_row: float = float("inf")  # of the previous run; none yet: not inline

    def __post_init__(self) -> None:
        self._model, _, self._version = self.name.partition("/")

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ort-{self.name}")
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._work(), name=f"batch-{self.name}")
        if self.deadline_s:
            self._sweep = loop.call_later(self._sweep_interval(), self._expire_overdue)

    async def stop(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._arrivals.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        held, self._held = self._held, []
        while not self._queue.empty():
            held.append(self._queue.get_nowait())
        for pending in held:
            if not pending.future.done():
                pending.future.set_exception(
                    ServiceError(503, "shutting_down", "the service is shutting down")
                )
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, rows: list[np.ndarray]) -> np.ndarray:
        """Queue already validated rows; return the output rows in the same order."""
        if self._task is None:
            raise ServiceError(503, "not_ready", f"model {self.name} is not running")
        request = context.current()
        if request is not None:
            request.model, request.version = self._model, self._version
        if 0 < self.max_queue <= self._queue.qsize():
            self._reject("queue_full")
            raise ServiceError(
                503,
                "overloaded",
                f"model {self.name} has {self.max_queue} requests waiting, its limit; retry later",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        item = (
            _Pending(rows, future, loop.time(), request.client_gone, request.one_per_connection)
            if request is not None
            else _Pending(rows, future, loop.time(), one_per_connection=False)  # unknown origin
        )
        self._queue.put_nowait(item)
        if self.deadline_s:
            self._arrivals.append(item)
        return await future

    def _sweep_interval(self) -> float:
        return max(0.005, self.deadline_s / 20)

    def _expire_overdue(self) -> None:
        """504 for every request waiting past the deadline; the oldest come first."""
        loop = asyncio.get_running_loop()
        overdue_before = loop.time() - self.deadline_s
        arrivals = self._arrivals
        while arrivals:
            item = arrivals[0]
            if not (item.taken or item.future.done()):
                if item.enqueued_at > overdue_before:
                    break
                self._expire(item)
            arrivals.popleft()
        self._sweep = loop.call_later(self._sweep_interval(), self._expire_overdue)

    def _expire(self, item: _Pending) -> None:
        self._reject("deadline")
        item.future.set_exception(
            ServiceError(
                504,
                "deadline_exceeded",
                f"the request waited {self.deadline_s * 1000:.0f} ms for model {self.name} "
                "and was not computed",
            )
        )

    def _take(self, item: _Pending) -> bool:
        """Whether a queued request is still worth computing; marks it taken if so."""
        if item.future.done():  # past its deadline, or its waiter was cancelled
            return False
        if item.client_gone is not None and item.client_gone():
            self._reject("disconnected")
            item.future.set_exception(
                ServiceError(499, "client_closed_request", "the client closed the connection")
            )
            return False
        item.taken = True
        self._held.append(item)
        return True

    def _reject(self, reason: str) -> None:
        if self.observer is not None:
            self.observer.rejected(reason)

    async def _work(self) -> None:
        carry: _Pending | None = None
        while True:
            first = carry if carry is not None else await self._queue.get()
            carry = None
            if not self._take(first):
                continue
            batch, carry = await self._collect(first)
            await self._run(batch)
            self._held = [carry] if carry is not None else []

    async def _collect(self, first: _Pending) -> tuple[list[_Pending], _Pending | None]:
        """Take `first`, everything already waiting, then wait out the queue delay if not full."""
        loop = asyncio.get_running_loop()
        batch = [first]
        n_rows = len(first.rows)
        deadline = first.enqueued_at + self.max_queue_delay_s
        while n_rows < self.max_batch_size:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    # Not wait_for: on Python 3.11 it wraps the get in a new task every time.
                    async with asyncio.timeout(remaining):
                        item = await self._queue.get()
                except TimeoutError:
                    break
            if not self._take(item):
                continue
            if n_rows + len(item.rows) > self.max_batch_size:
                return batch, item  # keep it for the next batch: this one is full
            batch.append(item)
            n_rows += len(item.rows)
        return batch, None

    async def _run(self, batch: list[_Pending]) -> None:
        rows = [row for item in batch for row in item.rows]
        if self.observer is not None:
            now = asyncio.get_running_loop().time()
            for item in batch:
                self.observer.queue_wait(now - item.enqueued_at)
        try:
            output = await self._infer(rows, len(batch), _nothing_else_can_arrive(batch))
        except Exception as exc:
            self.stats.failures += 1
            logger.exception("inference failed for %s (%d rows)", self.name, len(rows))
            if len(batch) == 1:
                _fail(batch[0], self.name, exc)
            else:  # find the culprit: one request must not fail its batch-mates
                await self._run_alone(batch)
            return
        self.stats.record(len(rows), len(batch))
        offset = 0
        for item in batch:
            size = len(item.rows)
            if not item.future.done():  # the client may have gone away
                item.future.set_result(output[offset : offset + size])
            offset += size

    async def _run_alone(self, batch: list[_Pending]) -> None:
        for item in batch:
            try:
                output = await self._infer(item.rows, 1, inline=False)
            except Exception as exc:
                _fail(item, self.name, exc)
                continue
            self.stats.record(len(item.rows), 1)
            if not item.future.done():
                item.future.set_result(output)

    async def _infer(self, rows: list[np.ndarray], requests: int, inline: bool) -> np.ndarray:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        if inline and len(rows) * self._seconds_per_row <= self.inline_max_s:
            output = self.run_batch(rows)
        else:
            output = await loop.run_in_executor(self._executor, self.run_batch, rows)
        elapsed = time.perf_counter() - started
        self._seconds_per_row = elapsed / max(len(rows), 1)
        if self.observer is not None:
            self.observer.batch(len(rows), requests, elapsed)
        return output


def _nothing_else_can_arrive(batch: list[_Pending]) -> bool:
    """Whether this batch holds every request the process is serving, each the only one its
    HTTP connection may send, from every open connection: until it is answered no request
    can come in (but on a new connection). Then there is nothing to read or parse while it
    runs. Otherwise a run on the loop would stop it reading the next requests, and batches
    would stay small. Under a server that does not count its connections: never."""
    connections = context.open_connections()
    return (
        connections is not None
        and len(batch) >= connections
        and len(batch) >= context.in_flight()
        and all(item.one_per_connection for item in batch)
    )


def _fail(item: _Pending, name: str, cause: Exception) -> None:
    if item.future.done():
        return
    error = ServiceError(500, "inference_failed", f"inference failed for {name}")
    error.__cause__ = cause
    item.future.set_exception(error)
