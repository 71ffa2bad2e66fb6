"""Hostile clients against the service facing them directly, while other clients load it."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.chaos.attackers import (
    Ending,
    allow_descriptors,
    closed_by_server,
    drip_many,
    open_idle,
    oversized_head,
    send_head,
)
from tests.chaos.harness import CLIENT_P99_BUDGET_S, Load, metric_value, running_service
from tests.service.fixtures import write_model_zoo

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]

IDLE = 2000
SERVICE_NOFILE = 1024  # the descriptor limit of the first report: 1,005 idle sockets stalled it


def test_idle_connections_beyond_the_descriptor_limit_starve_no_client(tmp_path: Path) -> None:
    models = write_model_zoo(tmp_path / "models")
    allow_descriptors(IDLE + 100)
    # A long keep-alive, so that the connection cap (not the idle timeout) is what is shown.
    extra = ("--workers", "2", "--keep-alive-s", "60")
    with running_service(
        models, tmp_path / "service.log", *extra, nofile=SERVICE_NOFILE
    ) as service:
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
    baseline = load.result.between(0, attack_start)
    attacked = load.result.between(attack_start, attack_end)
    evicted = metric_value(text, "rnn_serve_connections_closed_total", reason="evicted")
    print(baseline.summary("before the idle connections"))
    print(
        f"{IDLE} idle connections opened in {opened - attack_start:.2f} s; "
        + attacked.summary("while they were held")
    )
    print(f"idle connections closed by the server: {closed}; evictions counted {evicted:g}")
    assert attacked.sent > 100
    assert attacked.failed == 0, attacked.by_status
    assert attacked.percentile(0.99) <= CLIENT_P99_BUDGET_S
    assert closed > 0 and evicted > 0  # the cap (960 per worker here) made room


def _slowest(endings: list[Ending]) -> float:
    return max(ending.seconds for ending in endings) if endings else 0.0


def test_slowloris_and_slow_bodies_are_closed_within_their_timeouts(tmp_path: Path) -> None:
    models = write_model_zoo(tmp_path / "models")
    header_s, body_s = 2.0, 3.0
    extra = ("--workers", "2", "--header-timeout-s", str(header_s), "--body-timeout-s", str(body_s))
    slow_head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    slow_body = (
        b"POST /forecast HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 100000\r\n\r\n["
    )
    with (
        running_service(models, tmp_path / "service.log", *extra) as service,
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
    attacked = load.result.between(start, end)
    for name, endings in results.items():
        statuses = {str(e.status) for e in endings}
        print(
            f"{name}: {len(endings)} connections, closed after {_slowest(endings):.2f} s at "
            f"most (min {min(e.seconds for e in endings):.2f} s), statuses {statuses}"
        )
    print(attacked.summary("other clients meanwhile"))
    slack = 1.5  # the drip period, scheduling on a shared 2-core machine
    assert all(e.status == 408 for e in results["slowloris"])
    assert all(e.status == 408 for e in results["slow body"])
    assert _slowest(results["slowloris"]) <= header_s + slack
    assert _slowest(results["slow body"]) <= body_s + slack
    assert attacked.failed == 0, attacked.by_status
    assert attacked.percentile(0.99) <= CLIENT_P99_BUDGET_S


def test_oversized_heads_are_refused_quickly(tmp_path: Path) -> None:
    models = write_model_zoo(tmp_path / "models")
    # Built before the load starts: making 128 MB in this process would slow its load threads.
    megabyte, many, huge_head = (
        oversized_head(1_000_000),
        oversized_head(1_000_000, fields=100_000),
        oversized_head(128 * 1024 * 1024),
    )
    with (
        running_service(models, tmp_path / "service.log", "--workers", "2") as service,
        Load(service.url) as load,
    ):
        time.sleep(2)
        start = time.monotonic()
        one_field = [send_head(service.port, megabyte) for _ in range(200)]
        many_fields = [send_head(service.port, many) for _ in range(20)]
        huge = send_head(service.port, huge_head)
        end = time.monotonic()
    attacked = load.result.between(start, end)
    for name, endings in (("1 MB field", one_field), ("100,000 fields", many_fields)):
        statuses = sorted({str(e.status) for e in endings})
        print(
            f"{name}: {len(endings)} requests, statuses {statuses}, "
            f"slowest {_slowest(endings):.3f} s"
        )
    print(f"128 MB field: status {huge.status}, {huge.seconds:.3f} s")
    print(attacked.summary("other clients meanwhile"))
    assert all(e.status == 431 for e in one_field + many_fields)
    assert _slowest(one_field + many_fields) < 1.0
    assert huge.status in (431, None) and huge.seconds < 1.0  # None: reset while sending
    assert attacked.failed == 0, attacked.by_status
    assert attacked.percentile(0.99) <= CLIENT_P99_BUDGET_S
