"""GET /metrics after real traffic: the counts match what was sent, on both data-plane paths."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from contract.card import CARD_FILE, ModelCard
from loadtest.process import start_service, stop_service
from service.app import create_app
from service.config import Settings
from service.edge import method_label, route_of

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient | httpx.Response) -> Samples:
    response = client if isinstance(client, httpx.Response) else client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_request_counts_by_route_model_version_and_status(client: TestClient) -> None:
    before = scrape(client)
    for _ in range(5):
        assert client.post("/forecast", json={"series": [[50.0, 51.0, 52.0]]}).status_code == 200
    for _ in range(3):
        pinned = {"series": [[50.0, 51.0, 52.0]], "version": "2"}
        assert client.post("/forecast", json=pinned).status_code == 200
    assert client.post("/forecast", json={"series": [[1.0, "x", 3.0]]}).status_code == 422
    assert client.post("/forecast", json={"series": [[1.0]], "version": "9"}).status_code == 404
    assert client.post("/sentiment", json={"texts": ["a great film", "bad"]}).status_code == 200
    assert client.get("/models/forecast").status_code == 200
    after = scrape(client)

    requests = "rnn_serve_http_requests_total"
    common = {"protocol": "native", "route": "/forecast", "method": "POST"}
    assert (
        delta(before, after, requests, **common, status="200", model="forecast", version="10") == 5
    )
    assert (
        delta(before, after, requests, **common, status="200", model="forecast", version="2") == 3
    )
    # The model is known only once a request got as far as the batcher.
    assert delta(before, after, requests, **common, status="422", model="", version="") == 1
    assert delta(before, after, requests, **common, status="404", model="", version="") == 1
    sentiment = {
        "protocol": "native",
        "route": "/sentiment",
        "method": "POST",
        "model": "sentiment",
        "version": "1",
    }
    assert delta(before, after, requests, **sentiment, status="200") == 1
    models = {
        "protocol": "native",
        "route": "/models/{name}",
        "method": "GET",
        "model": "",
        "version": "",
    }
    assert delta(before, after, requests, **models, status="200") == 1

    duration = "rnn_serve_http_request_duration_seconds_count"
    assert delta(before, after, duration, **common, model="forecast", version="10") == 5
    # Queue wait is observed per computed request; batch size and inference time per run.
    for name, version, computed in (
        ("forecast", "10", 5),
        ("forecast", "2", 3),
        ("sentiment", "1", 1),
    ):
        labels = {"model": name, "version": version}
        assert delta(before, after, "rnn_serve_queue_wait_seconds_count", **labels) == computed
        runs = delta(before, after, "rnn_serve_inference_duration_seconds_count", **labels)
        assert 1 <= runs <= computed
        assert delta(before, after, "rnn_serve_batch_size_rows_count", **labels) == runs
    rows = delta(before, after, "rnn_serve_batch_size_rows_sum", model="sentiment", version="1")
    assert rows == 2  # two texts in one request: one run of two rows
    assert value(after, "rnn_serve_http_requests_in_flight") >= 0


def test_model_info_names_every_served_version_with_its_sha256(
    client: TestClient, zoo: Path
) -> None:
    samples = scrape(client)
    for card_path in zoo.glob(f"*/*/{CARD_FILE}"):
        card = ModelCard.load(card_path.parent)
        labels = {"model": card.name, "version": card.version, "task": card.task}
        assert value(samples, "rnn_serve_model_info", **labels, sha256=card.sha256) == 1


async def _in_flight_while_busy(zoo: Path) -> tuple[float, list[int]]:
    """Requests held in the batching queue (a 200 ms delay) are in flight during a scrape."""
    app = create_app(Settings(models_dir=zoo, max_queue_delay_ms=200, max_batch_size=64))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            body = {"series": [[[50.0, 1.0], [51.0, 2.0], [52.0, 3.0]]], "model": "weather"}
            waiting = [asyncio.create_task(client.post("/forecast", json=body)) for _ in range(6)]
            await asyncio.sleep(0.05)
            during = scrape(await client.get("/metrics"))
            statuses = [response.status_code for response in await asyncio.gather(*waiting)]
    # The scrape itself is in flight too.
    return value(during, "rnn_serve_http_requests_in_flight"), statuses


def test_in_flight_gauge_counts_requests_being_served(zoo: Path) -> None:
    in_flight, statuses = asyncio.run(_in_flight_while_busy(zoo))
    assert statuses == [200] * 6
    assert in_flight == 7


def _post_until_both_workers_answered(url: str) -> tuple[int, set[str]]:
    """Posts forecasts, a new connection each, until both workers have answered one.

    The kernel does not promise to spread accepts over the workers: one request at a time can
    all land on one of them. Concurrent connections keep one worker busy while the other
    accepts. Returns how many requests were answered and the workers (request id prefixes)."""
    body = {"series": [[50.0, 51.0, 52.0]]}

    def post(_: int) -> str:
        with httpx.Client(base_url=url, headers={"Connection": "close"}) as client:
            answer = client.post("/forecast", json=body)
        assert answer.status_code == 200
        return answer.headers["x-request-id"].split("-")[0]

    sent = 0
    workers: set[str] = set()
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(workers) < 2 and sent < 2000:
            workers |= set(pool.map(post, range(40)))
            sent += 40
    return sent, workers


@pytest.mark.slow
def test_with_two_workers_metrics_add_up_over_both_processes(zoo: Path, tmp_path: Path) -> None:
    service = start_service(zoo, "--workers", "2", "--reload-interval-s", "0", logs=tmp_path)
    process, url = service.process, service.url
    try:
        with httpx.Client(base_url=url, headers={"Connection": "close"}) as client:
            before = scrape(client.get("/metrics"))
            sent, workers = _post_until_both_workers_answered(url)
            time.sleep(1.5)  # each worker adds its counts into the shared files every second
            scrapes = [scrape(client.get("/metrics")) for _ in range(6)]
        stderr = (tmp_path / "stderr").read_text()
    finally:
        stop_service(process)
    # Request ids start with the worker's process id: both workers answered.
    assert len(workers) == 2, workers
    access = [orjson.loads(line) for line in (tmp_path / "stdout").read_bytes().splitlines()]
    logged = {line["request_id"].split("-")[0] for line in access if line["path"] == "/forecast"}
    assert logged == workers
    labels = {"protocol": "native", "route": "/forecast", "method": "POST", "status": "200"}
    labels |= {"model": "forecast", "version": "10"}
    # Whichever worker answers the scrape, it reports the requests of both.
    for after in scrapes:
        assert delta(before, after, "rnn_serve_http_requests_total", **labels) == sent
    assert stderr.count("Application startup complete.") == 2


def test_labels_stay_bounded_whatever_the_client_sends() -> None:
    assert route_of("/forecast") == "/forecast"
    assert route_of("/models/forecast") == "/models/{name}"
    assert route_of("/models/forecast/10") == "/models/{name}/{version}"
    for path in ("/models/a/b/c", "/random-1", "/forecast/x", "/../etc/passwd"):
        assert route_of(path) == "unmatched"
    assert method_label("POST") == "POST"
    assert method_label("FOO123") == "other"
