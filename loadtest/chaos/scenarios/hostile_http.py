"""Hostile HTTP clients against the service facing them directly, while other clients load it."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

from loadtest.chaos.attackers import (
    Ending,
    allow_descriptors,
    closed_by_server,
    drip_many,
    open_idle,
    oversized_head,
    send_head,
)
from loadtest.chaos.load import CLIENT_P99_BUDGET_S, Load, LoadResult, metric_value
from loadtest.chaos.report import ScenarioReport
from loadtest.chaos.zoo import zoo
from loadtest.process import running_service

IDLE = 2000
SERVICE_NOFILE = 1024  # the descriptor limit of the first report: 1,005 idle sockets stalled it


def _slowest(endings: list[Ending]) -> float:
    return max(ending.seconds for ending in endings) if endings else 0.0


def _other_clients(report: ScenarioReport, attacked: LoadResult) -> None:
    report.expect("other clients: none failed", attacked.failed == 0, attacked.by_status)
    report.expect(
        f"other clients: p99 <= {1000 * CLIENT_P99_BUDGET_S:.0f} ms",
        attacked.percentile(0.99) <= CLIENT_P99_BUDGET_S,
        f"{1000 * attacked.percentile(0.99):.1f} ms",
    )


def idle_connections_beyond_the_descriptor_limit(workdir: Path) -> ScenarioReport:
    report = ScenarioReport(f"{IDLE} idle HTTP connections, {SERVICE_NOFILE} descriptors")
    models = zoo(workdir / "models")
    allow_descriptors(IDLE + 100)
    # A long keep-alive, so that the connection cap (not the idle timeout) is what is shown.
    flags = ("--workers", "2", "--keep-alive-s", "60")
    with running_service(models, *flags, logs=workdir / "logs", nofile=SERVICE_NOFILE) as service:
        with Load(service.url) as load:
            time.sleep(3)
            attack_start = time.monotonic()
            idle = open_idle(service.port, IDLE)
            opened = time.monotonic()
            time.sleep(4)
            attack_end = time.monotonic()
        closed = closed_by_server(idle)
        for sock in idle:
            sock.close()
        text = httpx.get(f"{service.url}/metrics", timeout=5).text
    report.record("before the idle connections", load.result.between(0, attack_start))
    attacked = report.record("while they were held", load.result.between(attack_start, attack_end))
    evicted = metric_value(text, "rnn_serve_connections_closed_total", reason="evicted")
    report.note(
        f"{IDLE} idle connections opened in {opened - attack_start:.2f} s; closed by the "
        f"server: {closed}; evictions counted {evicted:g}"
    )
    report.expect("> 100 requests sent while they were held", attacked.sent > 100, attacked.sent)
    _other_clients(report, attacked)
    # The cap (960 per worker here) made room.
    report.expect("idle connections evicted", closed > 0 and evicted > 0, (closed, evicted))
    return report


def slowloris_and_slow_bodies(workdir: Path) -> ScenarioReport:
    report = ScenarioReport("200 slowloris + 200 slow bodies")
    models = zoo(workdir / "models")
    header_s, body_s = 2.0, 3.0
    flags = ("--workers", "2", "--header-timeout-s", str(header_s), "--body-timeout-s", str(body_s))
    slow_head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    slow_body = (
        b"POST /forecast HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 100000\r\n\r\n["
    )
    with (
        running_service(models, *flags, logs=workdir / "logs") as service,
        Load(service.url) as load,
        # Attackers in their own processes, as they would be: not competing with the load
        # threads for this process's interpreter lock.
        ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool,
    ):
        time.sleep(2)
        start = time.monotonic()
        attacks = {
            name: pool.submit(drip_many, service.port, 200, head, piece, 0.5, 20.0)
            for name, head, piece in (
                ("slowloris", slow_head, b"X"),
                ("slow body", slow_body, b"1,"),
            )
        }
        results = {name: future.result(timeout=60) for name, future in attacks.items()}
        end = time.monotonic()
        time.sleep(1)
    attacked = report.record("other clients meanwhile", load.result.between(start, end))
    for name, endings in results.items():
        statuses = sorted({str(e.status) for e in endings})
        report.note(
            f"{name}: {len(endings)} connections, closed after {_slowest(endings):.2f} s at "
            f"most (min {min(e.seconds for e in endings):.2f} s), statuses {statuses}"
        )
    slack = 1.5  # the drip period, scheduling on a shared 2-core machine
    for name, limit in (("slowloris", header_s), ("slow body", body_s)):
        endings = results[name]
        report.expect(
            f"{name}: all 408", all(e.status == 408 for e in endings), {e.status for e in endings}
        )
        report.expect(
            f"{name}: closed within {limit:g} + {slack:g} s",
            _slowest(endings) <= limit + slack,
            f"{_slowest(endings):.2f} s",
        )
    _other_clients(report, attacked)
    return report


def oversized_heads(workdir: Path) -> ScenarioReport:
    report = ScenarioReport("oversized heads: 1 MB field, 100,000 fields, 128 MB field")
    models = zoo(workdir / "models")
    # Built before the load starts: making 128 MB in this process would slow its load threads.
    megabyte, many, huge_head = (
        oversized_head(1_000_000),
        oversized_head(1_000_000, fields=100_000),
        oversized_head(128 * 1024 * 1024),
    )
    with (
        running_service(models, "--workers", "2", logs=workdir / "logs") as service,
        Load(service.url) as load,
    ):
        time.sleep(2)
        start = time.monotonic()
        one_field = [send_head(service.port, megabyte) for _ in range(200)]
        many_fields = [send_head(service.port, many) for _ in range(20)]
        huge = send_head(service.port, huge_head)
        end = time.monotonic()
    attacked = report.record("other clients meanwhile", load.result.between(start, end))
    for name, endings in (("1 MB field", one_field), ("100,000 fields", many_fields)):
        statuses = sorted({str(e.status) for e in endings})
        report.note(
            f"{name}: {len(endings)} requests, statuses {statuses}, "
            f"slowest {_slowest(endings):.3f} s"
        )
    report.note(f"128 MB field: status {huge.status}, {huge.seconds:.3f} s")
    report.expect("all 431", all(e.status == 431 for e in one_field + many_fields))
    report.expect(
        "431 within 1 s", _slowest(one_field + many_fields) < 1.0, _slowest(one_field + many_fields)
    )
    # None: reset while sending.
    report.expect(
        "128 MB: 431 or reset within 1 s",
        huge.status in (431, None) and huge.seconds < 1.0,
        (huge.status, huge.seconds),
    )
    _other_clients(report, attacked)
    return report
