"""Stopping a batcher (a version unloaded, or shutdown) answers every request it holds."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from service.errors import ServiceError
from service.runtime import DynamicBatcher


def test_stop_mid_batch_answers_the_running_batch_the_carried_and_the_queued() -> None:
    running = threading.Event()
    release = threading.Event()

    def run(rows: list[np.ndarray]) -> np.ndarray:
        running.set()
        release.wait(1)  # stop() waits for this thread, blocking the loop meanwhile
        return np.zeros(len(rows))

    async def scenario() -> list[BaseException | np.ndarray]:
        batcher = DynamicBatcher(run, max_batch_size=2, max_queue_delay_s=0.0, name="t")
        batcher.start()
        # Two fill the first batch, the third is carried over, the fourth stays queued.
        submitted = [asyncio.ensure_future(batcher.submit([np.zeros(1)])) for _ in range(2)]
        await asyncio.to_thread(running.wait, 5)
        submitted += [asyncio.ensure_future(batcher.submit([np.zeros(1)])) for _ in range(2)]
        await asyncio.sleep(0.05)
        stopping = asyncio.ensure_future(batcher.stop())
        await asyncio.sleep(0.05)
        release.set()
        await stopping
        _, pending = await asyncio.wait(submitted, timeout=2)
        assert not pending, "requests left unanswered after stop()"
        return [task.exception() or task.result() for task in submitted]

    outcomes = asyncio.run(scenario())
    assert len(outcomes) == 4
    for outcome in outcomes:
        assert isinstance(outcome, ServiceError) and outcome.status == 503
