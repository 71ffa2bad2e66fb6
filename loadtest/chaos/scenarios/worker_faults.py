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

from loadtest.chaos.load import Load, LoadResult, Outcome, metric_value
from loadtest.chaos.report import ScenarioReport
from loadtest.chaos.zoo import zoo_with_a_refused_version
from loadtest.process import running_service


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
    workers: set[int] = set()
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


def worker_kill_with_a_refused_version(workdir: Path) -> ScenarioReport:
    report = ScenarioReport("kill -9 of a worker, a corrupt version present")
    models = zoo_with_a_refused_version(workdir / "models")
    with (
        running_service(models, "--workers", "2", logs=workdir / "logs") as service,
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
    whole = report.record("whole run", load.result)
    after = report.record("after the replacement answered", load.result.between(back, 1e18))
    probes = report.record("readiness probes", probe.result)
    report.note(f"replacement answering {back - killed:.2f} s after the kill")
    report.expect("the sibling and the replacement both answered", len(answered_by - {victim}) >= 2)
    report.expect("< 1% of requests failed", whole.failed / whole.sent < 0.01, whole.by_status)
    report.expect("none failed after the replacement answered", after.failed == 0)
    # At most the probe on the victim's connection at the instant of the kill goes unanswered.
    statuses = probes.by_status
    report.expect(
        "readiness never answered other than 200",
        all(status == "200" for status in statuses if status.isdigit()),
        statuses,
    )
    report.expect("at most one probe unanswered", probes.sent - probes.answered <= 1, statuses)
    return report


def metrics_after_a_kill(workdir: Path) -> ScenarioReport:
    report = ScenarioReport("kill -9 of a worker, then metrics")
    models = zoo_with_a_refused_version(workdir / "models")
    with running_service(models, "--workers", "2", logs=workdir / "logs") as service:
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
    report.record("kill under load", load.result)
    answered = load.result.by_status.get("200", 0)
    report.note(
        f"in-flight gauge after the load: {in_flight:g}; forecast 200s counted {counted:g} of "
        f"{answered} answered ({answered - counted:g} lost); access lines {lines} for "
        f"{load.result.answered} answers + probes"
    )
    report.expect(
        "in-flight gauge <= 1 (this scrape: the dead worker's value is gone)",
        in_flight <= 1,
        in_flight,
    )
    # A crash loses the victim's counts since its last flush (0.25 s) and its in-flight ones.
    report.expect(
        "counts lost <= max(5%, 50)",
        0 <= answered - counted <= max(0.05 * answered, 50),
        f"{answered - counted:g} of {answered}",
    )
    failures = [f["directory"] for f in models_text["load_failures"]]
    report.expect("forecast/3 listed in load_failures", failures == ["forecast/3"], failures)
    return report


def deleted_default_version(workdir: Path) -> ScenarioReport:
    report = ScenarioReport("default version deleted, then a worker killed")
    models = zoo_with_a_refused_version(workdir / "models")
    interval = 1.0
    flags = ("--workers", "2", "--reload-interval-s", str(interval))
    with (
        running_service(models, *flags, logs=workdir / "logs") as service,
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
    report.record("delete default + kill", load.result)
    late = report.record("from one interval after the delete", load.result.between(settled, 1e18))
    versions = {o.version for o in late.outcomes if o.status == 200}
    report.note(
        f"answers from one interval after the delete: versions {sorted(map(str, versions))}"
    )
    report.expect("every answer then came from version 2", versions == {"2"}, versions)
    report.expect(
        "readiness lists versions 1 and 2", all(r == ["1", "2"] for r in readiness), readiness
    )
    report.expect("none failed then", late.failed == 0, late.by_status)
    # Requests held by the unloaded version were answered (503), none left waiting.
    report.expect(
        "no request left waiting (ReadTimeout)",
        all(o.status != "ReadTimeout" for o in load.result.outcomes),
        load.result.by_status,
    )
    return report


def replacement_that_cannot_start(workdir: Path) -> ScenarioReport:
    report = ScenarioReport("a replacement that cannot start")
    models = zoo_with_a_refused_version(workdir / "models")
    away = workdir / "away"
    flags = ("--workers", "2", "--reload-interval-s", "0")  # the sibling keeps what it loaded
    with running_service(models, *flags, logs=workdir / "logs") as service:
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
    report.record("whole run", load.result)
    during = report.record(
        "while the models were away", load.result.between(killed + 0.5, restored)
    )
    report.note(
        f"{failed_starts} failed starts while the models were away; a replacement answered "
        f"{back - restored:.2f} s after they were back"
    )
    report.expect("the service stayed up", alive_meanwhile)
    report.expect(">= 2 failed starts, retried", failed_starts >= 2, failed_starts)
    report.expect(
        "> 100 sent and none failed meanwhile",
        during.sent > 100 and during.failed == 0,
        during.by_status,
    )
    return report
