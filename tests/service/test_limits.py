"""The connection limits of service.protocol, on a real one-worker service."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.chaos.attackers import closed_by_server, open_idle
from loadtest.process import REPO, Service, running_service

MAX_HEAD = 4096
MAX_CONNECTIONS = 5


@pytest.fixture(scope="module")
def service(zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    logs = tmp_path_factory.mktemp("limits")
    extra = ["--workers", "1", "--max-header-bytes", str(MAX_HEAD), "--keep-alive-s", "1"]
    extra += ["--max-connections", str(MAX_CONNECTIONS), "--max-headers", "20"]
    with running_service(zoo, *extra, logs=logs) as running:
        yield running


def exchange(port: int, request: bytes, timeout: float = 5) -> list[tuple[int, bytes]]:
    """Send `request` and read until the server closes: every (status, body) answered."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError:
            pass
    answers = []
    while received.startswith(b"HTTP/1.1 "):
        head, _, rest = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        answers.append((int(head.split(b" ", 2)[1]), rest[:length]))
        received = rest[length:]
    return answers


def get(path: str, *headers: bytes, close: bool = True) -> bytes:
    lines = [b"GET " + path.encode() + b" HTTP/1.1", b"Host: x", *headers]
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.slow
def test_http11_without_host_is_400_with_an_error_body(service: Service) -> None:
    [(status, body)] = exchange(service.port, b"GET /healthz HTTP/1.1\r\n\r\n")
    assert status == 400
    assert json.loads(body)["error"]["message"] == "HTTP/1.1 requests need a Host header"
    [(status, _)] = exchange(service.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert status == 200


@pytest.mark.slow
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # TLS to a plain port
        b"POST /forecast HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /forecast HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nabc",
        b"POST /forecast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
    ],
)
def test_a_request_that_is_not_http_gets_the_error_body(
    service: Service, request_bytes: bytes
) -> None:
    [(status, body)] = exchange(service.port, request_bytes)
    assert status == 400
    error = json.loads(body)["error"]
    assert error["code"] == "bad_request"
    assert error["message"].startswith("the request is not valid HTTP: ")


@pytest.mark.slow
def test_head_size_and_field_count(service: Service) -> None:
    request = get("/healthz")
    fits = get("/healthz", b"X-Pad: " + b"a" * (MAX_HEAD - len(request) - 9))
    assert len(fits) == MAX_HEAD
    assert exchange(service.port, fits)[0][0] == 200
    too_long = get("/healthz", b"X-Pad: " + b"a" * (MAX_HEAD - len(request) - 8))
    assert exchange(service.port, too_long)[0][0] == 431
    many = get("/healthz", *(b"X-%d: 1" % i for i in range(21)))
    assert exchange(service.port, many)[0][0] == 431


@pytest.mark.slow
def test_bodies_and_pipelined_heads_do_not_count_toward_one_head(service: Service) -> None:
    body = json.dumps({"series": [[1.0] * 1000]}).encode()
    assert len(body) > MAX_HEAD
    post = (
        b"POST /forecast HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    ) + body
    pad = b"X-Pad: " + b"a" * (MAX_HEAD // 2)
    pipelined = post + get("/healthz", pad, close=False) * 3 + get("/healthz", pad)
    statuses = [status for status, _ in exchange(service.port, pipelined)]
    assert statuses == [200] * 5


@pytest.mark.slow
def test_answers_without_a_body_and_after_100_continue_arrive(service: Service) -> None:
    # The head announces a body that a HEAD answer never carries.
    [(status, body)] = exchange(service.port, get("/healthz").replace(b"GET", b"HEAD", 1))
    assert status == 405 and body == b""
    payload = json.dumps({"series": [[float(i % 7) for i in range(60)]]}).encode()
    head = (
        b"POST /forecast HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"expect: 100-continue\r\nconnection: close\r\ncontent-length: %d\r\n\r\n" % len(payload)
    )
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(payload)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert len(json.loads(received.partition(b"\r\n\r\n")[2])["forecasts"]) == 1


@pytest.mark.slow
def test_a_new_connection_that_sends_nothing_is_closed_after_the_keep_alive(
    service: Service,
) -> None:
    [idle] = open_idle(service.port, 1)
    started = time.monotonic()
    idle.settimeout(5)
    assert idle.recv(1) == b""
    assert 0.8 < time.monotonic() - started < 3
    idle.close()


@pytest.mark.slow
def test_at_the_cap_an_idle_connection_makes_room_and_busy_ones_get_503(
    service: Service,
) -> None:
    idle = open_idle(service.port, MAX_CONNECTIONS)
    time.sleep(0.2)
    assert exchange(service.port, get("/healthz"))[0][0] == 200
    assert closed_by_server(idle) >= 1
    for sock in idle:
        sock.close()
    time.sleep(0.2)
    # Requests whose bodies never end: running, so not closed to make room.
    busy = []
    for _ in range(MAX_CONNECTIONS):
        sock = socket.create_connection(("127.0.0.1", service.port))
        sock.sendall(
            b"POST /forecast HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 100\r\n\r\n{"
        )
        busy.append(sock)
    time.sleep(0.2)
    started = time.monotonic()
    [(status, body)] = exchange(service.port, get("/healthz"))
    assert status == 503
    assert time.monotonic() - started < 1
    assert "too many connections" in json.loads(body)["error"]["message"]
    for sock in busy:
        sock.close()


@pytest.mark.slow
def test_at_the_cap_a_connection_still_sending_its_head_makes_room(service: Service) -> None:
    slow = []
    for _ in range(MAX_CONNECTIONS):
        sock = socket.create_connection(("127.0.0.1", service.port))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        slow.append(sock)
    time.sleep(0.2)
    assert exchange(service.port, get("/healthz"))[0][0] == 200
    assert closed_by_server(slow) >= 1
    for sock in slow:
        sock.close()


@pytest.mark.parametrize(
    ("soft", "hard", "grpc_port", "caps"),
    [
        (300, 300, 0, (236, 0)),
        (300, 300, 8001, (118, 118)),  # HTTP and gRPC share what is left, as configured
        (300, 4096, 0, (1000, 0)),
        (300, 4096, 8001, (1000, 1000)),
    ],
)
def test_the_connection_caps_fit_the_descriptor_limit(
    soft: int, hard: int, grpc_port: int, caps: tuple[int, int]
) -> None:
    code = (
        "import resource\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))\n"
        "from service.config import Settings\n"
        "from service.limits import ConnectionLimits\n"
        f"settings = Settings(grpc_port={grpc_port})\n"
        "limits = ConnectionLimits.from_settings(settings).fitted_to_descriptors()\n"
        "print(limits.max_connections, limits.grpc_max_connections,"
        " resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0, result.stderr
    http, grpc, raised_to = map(int, result.stdout.split())
    assert (http, grpc) == caps
    wanted = 1000 + (1000 if grpc_port else 0) + 64
    assert raised_to == min(hard, wanted)  # raised as far as the hard limit allows
