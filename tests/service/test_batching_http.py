"""Concurrent HTTP requests share runs, get the answers they would get alone, and a bad one
among them fails alone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from service.app import create_app
from service.config import Settings


async def _concurrently(
    zoo: Path, payloads: list[dict[str, Any]]
) -> tuple[list[httpx.Response], dict[str, Any]]:
    app = create_app(Settings(models_dir=zoo, max_queue_delay_ms=30))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            responses = await asyncio.gather(*(client.post("/forecast", json=p) for p in payloads))
            stats = (await client.get("/models/forecast/10")).json()["stats"]
    return list(responses), stats


def test_concurrent_requests_are_batched_and_answer_as_alone(zoo: Path) -> None:
    rng = np.random.default_rng(5)
    good = [
        {"series": [list(50 + 5 * rng.standard_normal(int(n)))]} for n in rng.integers(3, 60, 12)
    ]
    bad: list[dict[str, Any]] = [{"series": [[1.0, "x", 3.0]]}, {"series": [[1.0]]}]
    payloads = good[:6] + bad + good[6:]

    together, stats = asyncio.run(_concurrently(zoo, payloads))
    alone = [asyncio.run(_concurrently(zoo, [payload]))[0][0] for payload in good]

    statuses = [response.status_code for response in together]
    assert statuses == [200] * 6 + [422, 422] + [200] * 6
    answers = [r.json()["forecasts"] for r in together if r.status_code == 200]
    for batched, single in zip(answers, alone, strict=True):
        np.testing.assert_allclose(batched, single.json()["forecasts"], rtol=1e-6, atol=1e-6)
    assert stats["requests"] == 12  # the invalid ones never reached the queue
    assert stats["average_batch_requests"] > 1.0, stats
