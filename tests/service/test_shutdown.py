"""Graceful shutdown of the real process: SIGTERM during a load stops accepting, finishes every
request it accepted, and exits 0. The server's access log is the record of what it accepted."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from loadtest.process import start_service

BODY = {"series": [[50.0, 51.0, 52.0, 53.0]]}


@dataclass
class Outcome:
    request_id: str
    status: int | None  # None: no answer (the error says why)
    error: str
    sent_at: float
    answered_at: float


async def _load_until_refused(
    url: str, process: subprocess.Popen[bytes]
) -> tuple[list[Outcome], float]:
    """16 clients post back to back; SIGTERM after 1 s; each client stops at its first failure."""
    outcomes: list[Outcome] = []
    counter = iter(range(1_000_000))

    async def client(http: httpx.AsyncClient, index: int) -> None:
        while time.monotonic() < give_up:
            request_id = f"c{index}-{next(counter)}"
            sent_at = time.monotonic()
            try:
                response = await http.post(
                    "/forecast", json=BODY, headers={"X-Request-ID": request_id}
                )
            except httpx.TransportError as exc:
                outcomes.append(
                    Outcome(request_id, None, type(exc).__name__, sent_at, time.monotonic())
                )
                return
            outcomes.append(
                Outcome(request_id, response.status_code, "", sent_at, time.monotonic())
            )

    give_up = time.monotonic() + 20
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(base_url=url, timeout=20, limits=limits) as http:
        clients = [asyncio.create_task(client(http, i)) for i in range(16)]
        await asyncio.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        sigterm_at = time.monotonic()
        await asyncio.gather(*clients)
    return outcomes, sigterm_at


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_during_load_answers_every_accepted_request(
    zoo: Path, tmp_path: Path, workers: int
) -> None:
    service = start_service(
        zoo,
        # A 300 ms batching delay keeps requests waiting inside the service at SIGTERM.
        *("--workers", str(workers), "--max-queue-delay-ms", "300", "--reload-interval-s", "0"),
        logs=tmp_path,
    )
    process, url = service.process, service.url
    try:
        outcomes, sigterm_at = asyncio.run(_load_until_refused(url, process))
        exit_code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    stderr = (tmp_path / "stderr").read_text()
    # uvicorn re-raises the signal once it has shut down cleanly, so the status says SIGTERM.
    assert exit_code in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete." in stderr
    accepted = {
        line["request_id"]: line["status"]
        for line in map(orjson.loads, (tmp_path / "stdout").read_bytes().splitlines())
        if line.get("path") == "/forecast"
    }
    answered = {o.request_id: o.status for o in outcomes if o.status is not None}
    unanswered = {o.request_id: o.error for o in outcomes if o.status is None}

    # Every request the service accepted got its answer, and it was a real one.
    assert accepted == answered
    assert set(answered.values()) == {200}
    assert not set(unanswered) & set(accepted)
    # Requests waiting in the batcher when SIGTERM came were finished, not dropped (an
    # abrupt exit would log none of them and so pass the check above)...
    assert sum(o.answered_at > sigterm_at for o in outcomes if o.status == 200) >= 1
    surely_accepted = [o for o in outcomes if o.sent_at < sigterm_at - 0.2]
    assert surely_accepted and all(o.status == 200 for o in surely_accepted), surely_accepted
    # ...and afterwards nothing new got in: every client ended with a refused connection.
    assert len(unanswered) == 16, unanswered
