"""The dynamic batcher: same answers alone or batched, real batching, failures contained."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from service import context
from service.config import Settings
from service.context import RequestContext
from service.loading import load_model
from service.runtime import INLINE_MAX_S, DynamicBatcher, length_groups, pad_rows


def test_pad_rows_right_pads_and_keeps_lengths() -> None:
    rows = [np.array([[1.0], [2.0]]), np.array([[3.0], [4.0], [5.0]])]
    batch, lengths = pad_rows(rows, np.float32)
    assert batch.dtype == np.float32
    assert batch[:, :, 0].tolist() == [[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]]
    assert lengths.dtype == np.int32
    assert lengths.tolist() == [2, 3]


def test_length_groups_cover_every_row_once_in_order() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 32, 100):
        lengths = sorted(int(v) for v in rng.integers(1, 500, n))
        groups = length_groups(lengths, 1.0, 64.0)
        assert groups[0][0] == 0 and groups[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(groups))
        assert all(start < end for start, end in groups)


def test_length_groups_split_only_where_padding_costs_more_than_a_run() -> None:
    assert length_groups([50] * 31 + [500], 1.0, 64.0) == [(0, 31), (31, 32)]
    assert length_groups([50, 52, 55, 60], 1.0, 64.0) == [(0, 4)]
    # A large per-run cost keeps everything in one run.
    assert length_groups([5, 50, 500], 1.0, 1e9) == [(0, 3)]


@pytest.mark.parametrize("model", ["forecast/10", "sentiment/1"])
def test_rows_of_very_different_lengths_run_apart_and_answer_as_alone(
    zoo: Path, model: str
) -> None:
    loaded = load_model(zoo / model, Settings(models_dir=zoo, rows_per_run=32))
    rng = np.random.default_rng(4)
    lengths = [400, 6, 7, 390, 5, 8, 6, 9]
    if loaded.card.task == "sentiment":
        rows = [rng.integers(1, 40, size=n) for n in lengths]
    else:
        rows = [rng.standard_normal((n, 1)).astype(np.float32) for n in lengths]
    calls: list[int] = []
    session_run = loaded.runner.session.run

    def counting_run(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return session_run(*args, **kwargs)

    object.__setattr__(loaded.runner, "session", _Proxy(loaded.runner.session, counting_run))
    together = loaded.runner(rows)
    assert len(calls) == 2  # the six short rows in one run, the two long ones in another
    alone = np.concatenate([loaded.runner([row]) for row in rows])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)


class _Proxy:
    def __init__(self, session: object, run: object) -> None:
        self._session = session
        self.run = run

    def __getattr__(self, name: str) -> object:
        return getattr(self._session, name)


def _rows(rng: np.random.Generator, count: int, n_features: int) -> list[np.ndarray]:
    return [
        rng.standard_normal((int(rng.integers(3, 40)), n_features)).astype(np.float32)
        for _ in range(count)
    ]


async def _submit_all(
    batcher: DynamicBatcher, requests: list[list[np.ndarray]]
) -> list[np.ndarray]:
    batcher.start()
    try:
        return list(await asyncio.gather(*(batcher.submit(rows) for rows in requests)))
    finally:
        await batcher.stop()


@pytest.mark.parametrize("model", ["forecast/10", "weather/1", "sentiment/1"])
def test_batched_answers_equal_alone_answers(zoo: Path, model: str) -> None:
    loaded = load_model(zoo / model, Settings(models_dir=zoo))
    rng = np.random.default_rng(3)
    if loaded.card.task == "sentiment":
        requests = [
            [rng.integers(1, 40, size=int(rng.integers(1, 30))) for _ in range(int(k))]
            for k in rng.integers(1, 4, size=12)
        ]
    else:
        assert loaded.card.forecast is not None
        width = loaded.card.forecast.n_features
        requests = [_rows(rng, int(k), width) for k in rng.integers(1, 4, size=12)]
    alone = [np.concatenate([loaded.runner([row]) for row in rows]) for rows in requests]
    batcher = DynamicBatcher(loaded.runner, max_batch_size=64, max_queue_delay_s=0.05, name="t")
    batched = asyncio.run(_submit_all(batcher, requests))
    assert batcher.stats.batches < len(requests)  # they really shared runs
    for one, many in zip(alone, batched, strict=True):
        np.testing.assert_allclose(many, one, rtol=0, atol=1e-6)


def test_zero_delay_still_batches_what_is_already_waiting() -> None:
    calls: list[int] = []

    def run(rows: list[np.ndarray]) -> np.ndarray:
        calls.append(len(rows))
        return np.array([float(row[0]) for row in rows])

    batcher = DynamicBatcher(run, max_batch_size=100, max_queue_delay_s=0.0, name="t")
    requests = [[np.array([float(i)])] for i in range(10)]
    results = asyncio.run(_submit_all(batcher, requests))
    assert [float(r[0]) for r in results] == [float(i) for i in range(10)]
    assert calls == [10]  # all ten were queued before the worker looked
    assert batcher.stats.as_dict()["average_batch_requests"] == 10.0


def test_max_batch_size_caps_rows_per_run() -> None:
    calls: list[int] = []

    def run(rows: list[np.ndarray]) -> np.ndarray:
        calls.append(len(rows))
        return np.zeros(len(rows))

    batcher = DynamicBatcher(run, max_batch_size=4, max_queue_delay_s=0.0, name="t")
    requests = [[np.zeros(1)] * k for k in (2, 2, 3, 1, 6)]
    results = asyncio.run(_submit_all(batcher, requests))
    assert [len(r) for r in results] == [2, 2, 3, 1, 6]
    # a request is never split; one larger than the cap runs alone
    assert calls == [4, 4, 6]
    assert batcher.stats.max_rows == 6


def test_a_failing_request_does_not_fail_its_batch_mates() -> None:
    def run(rows: list[np.ndarray]) -> np.ndarray:
        if any(np.isnan(row).any() for row in rows):
            raise RuntimeError("the graph cannot take this")
        return np.array([float(row.sum()) for row in rows])

    async def scenario() -> list[object]:
        batcher = DynamicBatcher(run, max_batch_size=64, max_queue_delay_s=0.01, name="t")
        batcher.start()
        try:
            requests = [[np.array([1.0, 2.0])], [np.array([np.nan])], [np.array([5.0])]]
            return list(
                await asyncio.gather(
                    *(batcher.submit(rows) for rows in requests), return_exceptions=True
                )
            )
        finally:
            await batcher.stop()

    first, second, third = asyncio.run(scenario())
    assert isinstance(first, np.ndarray) and first.tolist() == [3.0]
    assert isinstance(third, np.ndarray) and third.tolist() == [5.0]
    from service.errors import ServiceError

    assert isinstance(second, ServiceError)
    assert (second.status, second.code) == (500, "inference_failed")


def test_event_loop_keeps_running_during_inference() -> None:
    import time

    def slow(rows: list[np.ndarray]) -> np.ndarray:
        time.sleep(0.2)
        return np.zeros(len(rows))

    async def scenario() -> int:
        batcher = DynamicBatcher(slow, max_batch_size=8, max_queue_delay_s=0.0, name="t")
        batcher.start()
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        # Another request is being served besides this one: the run goes to the thread.
        other = context.enter(RequestContext("another request"))
        this = context.enter(RequestContext("this request"))
        await batcher.submit([np.zeros(1)])
        context.leave(this)
        context.leave(other)
        ticker.cancel()
        await batcher.stop()
        return ticks

    assert asyncio.run(scenario()) >= 10  # the loop ticked while the run slept in its thread


@pytest.mark.parametrize("model", ["forecast/10", "sentiment/1"])
def test_more_rows_than_a_run_takes_go_in_near_equal_runs_in_order(zoo: Path, model: str) -> None:
    loaded = load_model(zoo / model, Settings(models_dir=zoo, rows_per_run=4))
    rng = np.random.default_rng(5)
    if loaded.card.task == "sentiment":
        rows = [rng.integers(1, 40, size=12) for _ in range(9)]
    else:
        rows = [rng.standard_normal((12, 1)).astype(np.float32) for _ in range(9)]
    sizes: list[int] = []
    session_run = loaded.runner.session.run

    def sizing_run(outputs: object, feeds: dict[str, np.ndarray]) -> object:
        sizes.append(len(feeds[loaded.task.graph.lengths]))
        return session_run(outputs, feeds)

    object.__setattr__(loaded.runner, "session", _Proxy(loaded.runner.session, sizing_run))
    chunked = loaded.runner(rows)
    assert sizes == [3, 3, 3]  # nine rows, at most four a run: three runs of three
    alone = np.concatenate([loaded.runner([row]) for row in rows])
    np.testing.assert_allclose(chunked, alone, rtol=0, atol=1e-6)


def _thread_of_each_run(
    rows_per_request: list[int],
    others_in_flight: int = 0,
    open_connections: int = 0,
    one_per_connection: bool = True,
    seconds_per_run: float = 0.0,
    counting_server: bool = True,
    inline_max_s: float = 10.0,  # the first run's hand-off to the thread can take ms here
) -> tuple[list[int], int]:
    """After one request of unknown origin, submits one request per entry, each with its
    own request context, while `others_in_flight` further requests are being served and
    `open_connections` HTTP connections are open (under a server that counts them, like
    service.protocol, unless `counting_server` is False); returns the threads of those runs
    and the event loop's thread."""
    threads: list[int] = []

    def run(rows: list[np.ndarray]) -> np.ndarray:
        threads.append(threading.get_ident())
        if seconds_per_run:
            time.sleep(seconds_per_run)
        return np.zeros(len(rows))

    async def one(batcher: DynamicBatcher, rows: int) -> None:
        token = context.enter(RequestContext("submitter", one_per_connection=one_per_connection))
        try:
            await batcher.submit([np.zeros(1)] * rows)
        finally:
            context.leave(token)

    async def scenario() -> int:
        batcher = DynamicBatcher(
            run, max_batch_size=32, max_queue_delay_s=0.0, name="t", inline_max_s=inline_max_s
        )
        batcher.start()
        await batcher.submit([np.zeros(1)])  # no run time known yet, so in the thread
        assert threads[0] != threading.get_ident()
        threads.clear()
        others = [context.enter(RequestContext("other")) for _ in range(others_in_flight)]
        for _ in range(open_connections):
            context.connection_opened()
        try:
            await asyncio.gather(*(one(batcher, rows) for rows in rows_per_request))
        finally:
            for _ in range(open_connections):
                context.connection_closed()
            for token in reversed(others):
                context.leave(token)
            await batcher.stop()
        return threading.get_ident()

    connections = context._Count()
    connections.counted = counting_server
    with mock.patch.object(context, "_connections", connections):
        loop_thread = asyncio.run(scenario())
    return threads, loop_thread


def test_a_small_batch_of_every_request_from_every_connection_runs_on_the_event_loop() -> None:
    threads, loop_thread = _thread_of_each_run([1, 2], open_connections=2)
    assert threads == [loop_thread]  # both requests in one run, nothing else can arrive
    assert context.in_flight() == 0


def test_a_batch_runs_in_its_thread_while_other_requests_are_served() -> None:
    threads, loop_thread = _thread_of_each_run([1], others_in_flight=1)
    assert len(threads) == 1 and threads[0] != loop_thread


def test_a_batch_runs_in_its_thread_while_another_connection_may_send() -> None:
    threads, loop_thread = _thread_of_each_run([1], open_connections=2)
    assert len(threads) == 1 and threads[0] != loop_thread


def test_a_batch_of_multiplexed_calls_runs_in_its_thread() -> None:
    threads, loop_thread = _thread_of_each_run([1], one_per_connection=False)
    assert len(threads) == 1 and threads[0] != loop_thread


def test_under_a_server_that_does_not_count_connections_batches_run_in_their_thread() -> None:
    threads, loop_thread = _thread_of_each_run([1], counting_server=False)
    assert len(threads) == 1 and threads[0] != loop_thread


def test_a_batch_expected_to_run_longer_than_the_inline_bound_runs_in_its_thread() -> None:
    threads, loop_thread = _thread_of_each_run(
        [1], seconds_per_run=INLINE_MAX_S * 1.5, inline_max_s=INLINE_MAX_S
    )
    assert len(threads) == 1 and threads[0] != loop_thread
