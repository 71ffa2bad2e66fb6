"""Hot reload: a version directory dropped under models/<name>/ is served without a restart,
after verification; a broken one is reported and leaves the previous version serving."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import onnx
import pytest
from fastapi.testclient import TestClient

from contract.card import ModelCard
from contract.hashing import sha256_of
from service.app import create_app
from service.config import Settings
from tests.service.fixtures import write_forecast_model, write_sentiment_model
from tests.service.live import serve_in_thread
from tests.service.test_metrics import scrape, value

FORECAST = {"series": [[50.0, 51.0, 52.0, 53.0]]}
KEY = "admin-key"


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_forecast_model(root, version="1", seed=1)
    write_sentiment_model(root)
    return root


def drop_in(root: Path, version: str, prepare: Callable[[Path], None] | None = None) -> Path:
    """Write forecast/<version> the exporter's way: in a hidden staging dir, then rename."""
    staging_root = root / "forecast" / f".{version}.staging"
    directory = write_forecast_model(staging_root, "forecast", version, seed=int(version))
    if prepare is not None:
        prepare(directory)
    target = root / "forecast" / version
    os.rename(directory, target)
    shutil.rmtree(staging_root)
    return target


def wait_for(condition: Callable[[], Any], seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def served_version(client: TestClient, **pin: str) -> str:
    response = client.post("/forecast", json={**FORECAST, **pin})
    assert response.status_code == 200, response.text
    version: str = response.json()["version"]
    return version


def corrupt(directory: Path) -> None:
    (directory / "model.onnx").write_bytes(b"not an onnx graph")


def ignore_lengths(directory: Path) -> None:
    """A graph that declares `lengths` but does not use it: padding changes its answers."""
    graph = onnx.load(str(directory / "model.onnx"))
    for node in graph.graph.node:
        if node.op_type == "GRU":
            node.input[4] = ""
    onnx.save(graph, str(directory / "model.onnx"))
    card = ModelCard.load(directory)
    card.model_copy(update={"sha256": sha256_of(directory / "model.onnx")}).dump(directory)


def test_a_new_version_is_served_without_restart_and_the_old_stays_pinnable(
    models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.reload")
    app = create_app(Settings(models_dir=models_dir, reload_interval_s=0.1))
    with TestClient(app) as client:
        assert served_version(client) == "1"
        staging = models_dir / "forecast" / ".2.partial"
        write_forecast_model(staging, "forecast", "2", seed=2)
        time.sleep(0.5)  # several scans: a hidden staging directory is never looked at
        assert served_version(client) == "1"
        assert client.get("/models").json()["load_failures"] == []

        os.rename(staging / "forecast" / "2", models_dir / "forecast" / "2")
        wait_for(lambda: served_version(client) == "2")
        assert served_version(client, version="1") == "1"
        listed = client.get("/models/forecast").json()
        assert [v["version"] for v in listed["versions"]] == ["1", "2"]
        assert listed["default_version"] == "2"
        card = ModelCard.load(models_dir / "forecast" / "2")
        samples = scrape(client)
        labels = {"model": "forecast", "version": "2", "task": "forecast", "sha256": card.sha256}
        assert value(samples, "rnn_serve_model_info", **labels) == 1
    assert any("loaded without a restart: forecast/2" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [(corrupt, "sha256"), (ignore_lengths, "self-test row")],
    ids=["corrupt-file", "fails-self-test"],
)
def test_a_broken_version_is_reported_and_the_previous_keeps_serving(
    models_dir: Path,
    caplog: pytest.LogCaptureFixture,
    prepare: Callable[[Path], None],
    reason: str,
) -> None:
    caplog.set_level(logging.INFO, logger="service.reload")
    app = create_app(Settings(models_dir=models_dir, reload_interval_s=0.1))
    with TestClient(app) as client:
        before = scrape(client)
        broken = drop_in(models_dir, "2", prepare)
        failures = wait_for(lambda: client.get("/models").json()["load_failures"])
        assert len(failures) == 1
        failure = failures[0]
        assert (failure["name"], failure["version"]) == ("forecast", "2")
        assert reason in failure["error"] and "forecast/2" in failure["error"]
        assert str(broken) not in failure["error"]  # no host paths on an open endpoint
        assert served_version(client) == "1"
        assert [v["version"] for v in client.get("/models/forecast").json()["versions"]] == ["1"]
        after = scrape(client)
        labels = {"model": "forecast", "version": "2"}
        failed = value(after, "rnn_serve_model_load_failures_total", **labels) - value(
            before, "rnn_serve_model_load_failures_total", **labels
        )
        assert failed == 1  # reported once, not at every scan
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert any(reason in r.getMessage() and r.version == "2" for r in errors)  # type: ignore[attr-defined]

        # Fixed in place (say, a copy that was still running): retried and served.
        shutil.rmtree(broken)
        drop_in(models_dir, "2")
        wait_for(lambda: served_version(client) == "2")
        assert client.get("/models").json()["load_failures"] == []


async def _pinned_and_default_during_reload(
    url: str, root: Path
) -> tuple[list[Any], list[tuple[float, float, str]]]:
    """Pinned and default traffic while version 2 is dropped in.

    Each default answer is kept with the monotonic times its request was sent and its answer
    received: answers can finish out of order, so only those times say what came after what.
    """
    pinned: list[Any] = []
    defaults: list[tuple[float, float, str]] = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def pinned_load() -> None:
            while not stop.is_set():
                response = await client.post("/forecast", json={**FORECAST, "version": "1"})
                pinned.append((response.status_code, response.json().get("version")))

        async def default_load() -> None:
            while not stop.is_set():
                sent = time.monotonic()
                response = await client.post("/forecast", json=FORECAST)
                defaults.append((sent, time.monotonic(), response.json()["version"]))

        tasks = [asyncio.create_task(pinned_load()) for _ in range(4)]
        tasks += [asyncio.create_task(default_load()) for _ in range(2)]
        await asyncio.sleep(0.3)
        await asyncio.to_thread(drop_in, root, "2")
        deadline = time.monotonic() + 15
        while (not defaults or defaults[-1][2] != "2") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*tasks)
    return pinned, defaults


def test_pinned_requests_keep_working_through_a_swap_under_load(models_dir: Path) -> None:
    app = create_app(Settings(models_dir=models_dir, reload_interval_s=0.1))
    with serve_in_thread(app) as url:
        pinned, defaults = asyncio.run(_pinned_and_default_during_reload(url, models_dir))
    assert pinned and set(pinned) == {(200, "1")}
    versions = [version for _, _, version in defaults]
    assert versions[0] == "1" and "2" in versions
    # The default switches once and never back: once any answer came from version 2, every
    # request sent after it is answered by version 2.
    first_new = min(received for _, received, version in defaults if version == "2")
    later = [version for sent, _, version in defaults if sent > first_new]
    assert later and set(later) == {"2"}


def test_admin_reload_exists_only_behind_the_api_key(models_dir: Path) -> None:
    with TestClient(create_app(Settings(models_dir=models_dir, reload_interval_s=0))) as client:
        assert client.post("/admin/reload").status_code == 404
    settings = Settings(models_dir=models_dir, reload_interval_s=0, api_key=KEY)
    with TestClient(create_app(settings)) as client:
        drop_in(models_dir, "2")
        time.sleep(0.3)  # polling is off: nothing happens by itself
        headers = {"X-API-Key": KEY}
        assert client.post("/forecast", json=FORECAST, headers=headers).json()["version"] == "1"
        assert client.post("/admin/reload").status_code == 401
        answer = client.post("/admin/reload", headers=headers)
        assert answer.status_code == 200
        assert answer.json() == {"loaded": ["forecast/2"], "failed": []}
        assert client.post("/forecast", json=FORECAST, headers=headers).json()["version"] == "2"
        assert client.post("/admin/reload", headers=headers).json() == {"loaded": [], "failed": []}
