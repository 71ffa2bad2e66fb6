"""Faults inside the service under load: a worker killed, a version refused or deleted."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.chaos.harness import Load, LoadResult, Outcome, metric_value, running_service
from tests.service.fixtures import write_model_zoo

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]


def _zoo(root: Path) -> Path:
    write_model_zoo(root)
    broken = root / "forecast" / "3"
    shutil.copytree(root / "forecast" / "2", broken)
    (broken / "model.onnx").write_bytes(b"corrupted")
    return root


class ReadinessProbe:
    """GET /readyz on a new connection every 50 ms, as an orchestrator's probe would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.result = LoadResult()
        self.bodies: list[dict[str, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ReadinessProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        while not self._stop.wait(0.05):
            started = time.monotonic()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                connection.request("GET", "/readyz")
                response = connection.getresponse()
                status: int | str = response.status
                body = response.read()
                if status == 200:
                    self.bodies.append(json.loads(body)["models"])
            except OSError as exc:
                status = type(exc).__name__
            finally:
                connection.close()
            self.result.outcomes.append(
                Outcome(started, time.monotonic() - started, status, None, None)
            )


def _both_workers(load: Load, within_s: float = 30) -> set[int]:
    """The two workers' pids, once each has answered (keep-alive connections may all
    start on one; recycling after 100 requests spreads them)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        workers = {o.pid for o in load.result.outcomes if o.pid is not None}
        if len(workers) == 2:
            return workers
        time.sleep(0.1)
    raise AssertionError(f"one worker answered everything: {workers}")


def _wait_for_new_worker(load: Load, known: set[int], within_s: float) -> float:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        seen = {o.pid for o in load.result.outcomes[-200:] if o.pid is not None}
        if seen - known:
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError("no replacement worker answered")


def test_worker_kill_with_a_refused_version_present(tmp_path: Path) -> None:
    models = _zoo(tmp_path / "models")
    with (
        running_service(models, tmp_path / "service.log", "--workers", "2") as service,
        ReadinessProbe(service.url) as probe,
        Load(service.url) as load,
    ):
        time.sleep(2)
        workers = _both_workers(load)
        victim = min(workers)
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        back = _wait_for_new_worker(load, workers, within_s=60)
        time.sleep(3)  # the replacement serves under load, with the refused version still there
    answered_by = {o.pid for o in load.result.outcomes if o.status == 200}
    after = load.result.between(back, time.monotonic())
    print(load.result.summary("worker kill, whole run"))
    print(f"replacement answering {back - killed:.2f} s after the kill; " + after.summary("after"))
    print(probe.result.summary("readiness probes"))
    assert len(answered_by - {victim}) >= 2  # the sibling and the replacement
    assert load.result.failed / load.result.sent < 0.01
    assert after.failed == 0
    # Readiness never answered anything but 200; at most the probe on the victim's
    # connection at the instant of the kill went unanswered.
    statuses = probe.result.by_status
    assert all(status == "200" for status in statuses if status.isdigit()), statuses
    assert probe.result.sent - probe.result.answered <= 1, statuses


def test_after_a_kill_metrics_drop_the_dead_worker_and_lose_one_flush_at_most(
    tmp_path: Path,
) -> None:
    models = _zoo(tmp_path / "models")
    with running_service(models, tmp_path / "service.log", "--workers", "2") as service:
        with Load(service.url) as load:
            time.sleep(2)
            workers = _both_workers(load)
            os.kill(min(workers), signal.SIGKILL)
            _wait_for_new_worker(load, workers, within_s=60)
            time.sleep(2)
        time.sleep(1.0)  # > the flush interval: every live worker's counts are written
        text = httpx.get(f"{service.url}/metrics", timeout=5).text
        in_flight = metric_value(text, "rnn_serve_http_requests_in_flight")
        counted = metric_value(
            text, "rnn_serve_http_requests_total", route="/forecast", status="200"
        )
        models_text = httpx.get(f"{service.url}/models", timeout=5).json()
        lines = service.access_lines()
    answered = load.result.by_status.get("200", 0)
    print(load.result.summary("kill under load"))
    print(
        f"in-flight gauge after the load: {in_flight:g}; forecast 200s counted {counted:g} of "
        f"{answered} answered ({answered - counted:g} lost); access lines {lines} for "
        f"{load.result.answered} answers + probes"
    )
    assert in_flight <= 1  # this scrape; the dead worker's last value is gone
    # A crash loses the victim's counts since its last flush (0.25 s) and its in-flight ones.
    assert 0 <= answered - counted <= max(0.05 * answered, 50)
    assert [f["directory"] for f in models_text["load_failures"]] == ["forecast/3"]


def test_deleted_default_version_is_unloaded_by_every_worker(tmp_path: Path) -> None:
    models = _zoo(tmp_path / "models")
    interval = 1.0
    with (
        running_service(
            models, tmp_path / "service.log", "--workers", "2", "--reload-interval-s", str(interval)
        ) as service,
        Load(service.url) as load,
    ):
        time.sleep(2)
        workers = _both_workers(load)
        shutil.rmtree(models / "forecast" / "10")
        deleted = time.monotonic()
        os.kill(min(workers), signal.SIGKILL)  # the replacement scans a tree without 10
        _wait_for_new_worker(load, workers, within_s=60)
        settled = deleted + interval + 0.5
        time.sleep(max(0.0, settled - time.monotonic()) + 3)
        readiness = [
            httpx.get(f"{service.url}/readyz", timeout=5).json()["models"]["forecast"]
            for _ in range(40)
        ]
    late = load.result.between(settled, time.monotonic())
    versions = {o.version for o in late.outcomes if o.status == 200}
    print(load.result.summary("delete default + kill"))
    print(f"answers after one interval: versions {versions}; " + late.summary("after"))
    assert versions == {"2"}
    assert all(r == ["1", "2"] for r in readiness), readiness
    assert late.failed == 0
    # Requests held by the unloaded version were answered (503), none left waiting.
    assert all(o.status != "ReadTimeout" for o in load.result.outcomes), load.result.by_status


def test_a_replacement_that_cannot_start_does_not_stop_its_sibling(tmp_path: Path) -> None:
    models = _zoo(tmp_path / "models")
    away = tmp_path / "away"
    extra = ("--workers", "2", "--reload-interval-s", "0")  # the sibling keeps what it loaded
    with running_service(models, tmp_path / "service.log", *extra) as service:
        with Load(service.url) as load:
            time.sleep(1)
            workers = _both_workers(load)
            models.rename(away)  # a replacement now finds no model and fails to start
            killed = time.monotonic()
            os.kill(min(workers), signal.SIGKILL)
            deadline = time.monotonic() + 60  # a new worker process takes seconds to start
            while service.output().count('"exitcode":3') < 2 and time.monotonic() < deadline:
                time.sleep(0.2)  # two failed starts: retried after 1 s, then 2 s, ...
            alive_meanwhile = service.process.poll() is None
            away.rename(models)
            restored = time.monotonic()
            back = _wait_for_new_worker(load, workers, within_s=60)
            time.sleep(1)
        failed_starts = service.output().count('"exitcode":3')
    during = load.result.between(killed + 0.5, restored)
    print(load.result.summary("replacement failing to start"))
    print(
        f"{failed_starts} failed starts while the models were away; a replacement answered "
        f"{back - restored:.2f} s after they were back; " + during.summary("meanwhile")
    )
    assert alive_meanwhile
    assert failed_starts >= 2
    assert during.sent > 100 and during.failed == 0, during.by_status
