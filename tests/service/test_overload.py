"""Overload under real concurrent load (uvicorn, real sockets): a full queue answers 503 with
Retry-After, a request past its deadline answers 504, and neither is computed; nor is the
request of a client that went away."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from service.app import create_app
from service.config import Settings
from tests.service.live import serve_in_thread, slow_down
from tests.service.test_metrics import Samples, delta, scrape

BODY = {"series": [[50.0, 51.0, 52.0, 53.0]]}
REJECTED = "rnn_serve_requests_rejected_total"


async def _burst(url: str, n: int) -> list[tuple[httpx.Response, float]]:
    """`n` concurrent requests, each on its own connection; (response, seconds) in order."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def one() -> tuple[httpx.Response, float]:
            started = time.perf_counter()
            response = await client.post("/forecast", json=BODY)
            return response, time.perf_counter() - started

        return list(await asyncio.gather(*(one() for _ in range(n))))


def _scrape(url: str) -> Samples:
    return scrape(httpx.get(f"{url}/metrics"))


def test_a_full_queue_answers_503_with_retry_after_and_computes_nothing(zoo: Path) -> None:
    settings = Settings(
        models_dir=zoo, max_batch_size=1, max_queue_requests=4, request_timeout_ms=0
    )
    app = create_app(settings)
    with serve_in_thread(app) as url:
        runner = slow_down(app, "forecast", "10", delay_s=0.1)
        before = _scrape(url)
        results = asyncio.run(_burst(url, 30))
        after = _scrape(url)

    statuses = [response.status_code for response, _ in results]
    assert set(statuses) == {200, 503}, statuses
    answered = statuses.count(200)
    refused = [response for response, _ in results if response.status_code == 503]
    # At most one running and four waiting at any time, so most of 30 at once are refused.
    assert len(refused) >= 15, statuses
    for response in refused:
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "overloaded"
    assert runner.rows == answered  # a refused request is never computed
    # Bounded latency: a request that got in waited for at most the queue ahead of it.
    slowest = max(seconds for response, seconds in results if response.status_code == 200)
    assert slowest < (4 + 1) * 0.1 + 2.0
    labels: dict[str, str] = {"model": "forecast", "version": "10"}
    assert delta(before, after, REJECTED, **labels, reason="queue_full") == len(refused)


def test_a_request_past_its_deadline_answers_504_and_is_not_computed(zoo: Path) -> None:
    settings = Settings(
        models_dir=zoo, max_batch_size=1, max_queue_requests=100, request_timeout_ms=150
    )
    app = create_app(settings)
    with serve_in_thread(app) as url:
        runner = slow_down(app, "forecast", "10", delay_s=0.1)
        before = _scrape(url)
        results = asyncio.run(_burst(url, 12))
        after = _scrape(url)

    statuses = [response.status_code for response, _ in results]
    assert set(statuses) == {200, 504}, statuses
    late = [(response, seconds) for response, seconds in results if response.status_code == 504]
    # One run at a time, 0.1 s each: at most two or three can start within 0.15 s.
    assert len(late) >= 6, statuses
    for response, seconds in late:
        error: dict[str, Any] = response.json()["error"]
        assert error["code"] == "deadline_exceeded"
        assert "was not computed" in error["message"]
        assert 0.15 <= seconds < 0.15 + 2.0  # answered at the deadline, not after the queue
    assert runner.rows == statuses.count(200)
    labels = {"model": "forecast", "version": "10"}
    assert delta(before, after, REJECTED, **labels, reason="deadline") == len(late)


async def _leave_early(url: str, n_leaving: int) -> tuple[int, int, list[str]]:
    """One request occupies the model; `n_leaving` clients queue behind it and hang up."""
    limits = httpx.Limits(max_connections=n_leaving)
    # Both clients exist before the first request, so the impatient ones are sent at once.
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as patient,
        httpx.AsyncClient(base_url=url, timeout=0.1, limits=limits) as impatient,
    ):
        first = asyncio.create_task(patient.post("/forecast", json=BODY))
        await asyncio.sleep(0.1)  # the first one is running now

        async def leave() -> str:
            try:
                await impatient.post("/forecast", json=BODY)
            except httpx.ReadTimeout:
                return "gave up"
            return "answered"

        outcomes = await asyncio.gather(*(leave() for _ in range(n_leaving)))
        assert not first.done(), "the model must still be busy when the others hang up"
        first_status = (await first).status_code
        last_status = (await patient.post("/forecast", json=BODY)).status_code
    return first_status, last_status, list(outcomes)


def test_a_client_that_disconnects_costs_no_inference(zoo: Path) -> None:
    settings = Settings(models_dir=zoo, max_batch_size=1, request_timeout_ms=0)
    app = create_app(settings)
    with serve_in_thread(app) as url:
        runner = slow_down(app, "forecast", "10", delay_s=1.0)
        before = _scrape(url)
        first, last, outcomes = asyncio.run(_leave_early(url, 5))
        after = _scrape(url)

    assert (first, last) == (200, 200)
    assert outcomes == ["gave up"] * 5
    assert runner.rows == 2  # the first and the last; none of the five that hung up
    labels = {"model": "forecast", "version": "10"}
    assert delta(before, after, REJECTED, **labels, reason="disconnected") == 5
