"""The edge of every request: X-Request-ID, one JSON access line, the optional API key, CORS
only when configured, and no stack trace in any answer."""

from __future__ import annotations

import io
import logging
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from service import dataplane
from service.app import create_app
from service.config import Settings
from service.edge import ConnectionRecycler
from service.logs import AccessLog, JsonFormatter
from tests.service.live import serve_in_thread

FORECAST = {"series": [[50.0, 51.0, 52.0]]}
KEY = "s3cret-key"


class CapturedLog(AccessLog):
    def __init__(self) -> None:
        self.captured = io.BytesIO()
        super().__init__(self.captured)

    def lines(self) -> list[dict[str, Any]]:
        self.flush()
        return [orjson.loads(line) for line in self.captured.getvalue().splitlines()]


def _serve(zoo: Path, **settings: Any) -> tuple[TestClient, CapturedLog]:
    app = create_app(Settings(models_dir=zoo, **settings))
    log = CapturedLog()
    assert app.edge is not None
    app.edge.access_log = log
    return TestClient(app, raise_server_exceptions=False), log


@pytest.fixture
def logged(zoo: Path) -> Iterator[tuple[TestClient, CapturedLog]]:
    client, log = _serve(zoo)
    with client:
        yield client, log


def test_request_id_is_returned_taken_or_generated(
    logged: tuple[TestClient, CapturedLog],
) -> None:
    client, _ = logged
    given = client.post("/forecast", json=FORECAST, headers={"X-Request-ID": "trace-42.a:b_c"})
    assert given.headers["x-request-id"] == "trace-42.a:b_c"
    generated = {client.post("/forecast", json=FORECAST).headers["x-request-id"] for _ in range(5)}
    assert len(generated) == 5 and all(generated)
    # Unsafe or oversized ids are not echoed (header injection, log pollution): a new one is made.
    for bad in ("a b", "x" * 129, "é".encode()):
        answer = client.get("/healthz", headers={"X-Request-ID": bad})
        assert answer.headers["x-request-id"] not in ("", bad, "é")
    # Errors carry it too.
    assert client.post("/forecast", content=b"{").headers["x-request-id"]


def test_one_json_access_line_per_request(logged: tuple[TestClient, CapturedLog]) -> None:
    client, log = logged
    ok = client.post("/forecast", json=FORECAST, headers={"X-Request-ID": "first"})
    bad = client.post("/forecast", json={"series": "nope"}, headers={"X-Request-ID": "second"})
    client.get("/models/forecast", headers={"X-Request-ID": "third"})
    assert (ok.status_code, bad.status_code) == (200, 422)

    lines = log.lines()
    assert [line["request_id"] for line in lines] == ["first", "second", "third"]
    first, second, third = lines
    for line in lines:
        assert line["logger"] == "service.access" and line["level"] == "info"
        assert line["duration_ms"] > 0 and isinstance(line["ts"], float)
    assert (first["method"], first["path"], first["status"]) == ("POST", "/forecast", 200)
    assert (first["model"], first["version"]) == ("forecast", "10")
    assert (second["status"], "model" in second) == (422, False)
    assert (third["method"], third["path"], third["status"]) == ("GET", "/models/forecast", 200)


def test_the_access_log_is_off_with_its_setting(zoo: Path) -> None:
    app = create_app(Settings(models_dir=zoo, access_log=False))
    assert app.edge is not None and app.edge.access_log is None
    with TestClient(app) as client:
        assert client.post("/forecast", json=FORECAST).headers["x-request-id"]


def test_log_records_are_json_lines() -> None:
    record = logging.LogRecord("service", logging.ERROR, __file__, 1, "bad %s", ("x",), None)
    record.model = "forecast"
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["message"] == "bad x" and entry["level"] == "error"
    assert entry["logger"] == "service" and entry["model"] == "forecast"


def test_api_key_guards_inference_when_set(zoo: Path) -> None:
    client, _ = _serve(zoo, api_key=KEY)
    with client:
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
            refused = client.post("/forecast", json=FORECAST, headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthorized"
            assert refused.headers["www-authenticate"].startswith("Bearer")
        sentiment = client.post("/sentiment", json={"texts": ["fine"]})
        assert sentiment.status_code == 401
        with_header = client.post("/forecast", json=FORECAST, headers={"X-API-Key": KEY})
        assert with_header.status_code == 200
        bearer = client.post("/forecast", json=FORECAST, headers={"Authorization": f"Bearer {KEY}"})
        assert bearer.status_code == 200
        # Health, readiness, the cards and the metrics stay open for probes and scrapers.
        for path in ("/healthz", "/readyz", "/models", "/metrics"):
            assert client.get(path).status_code == 200, path


def test_api_key_is_off_by_default(zoo: Path) -> None:
    assert Settings(models_dir=zoo).api_key == ""
    client, _ = _serve(zoo)
    with client:
        assert client.post("/forecast", json=FORECAST).status_code == 200


def test_the_api_key_never_shows_in_the_settings_repr(zoo: Path) -> None:
    assert KEY not in repr(Settings(models_dir=zoo, api_key=KEY))


def test_cors_is_off_unless_configured(zoo: Path) -> None:
    origin = {"Origin": "https://app.example"}
    preflight = {
        **origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    client, _ = _serve(zoo)
    with client:
        answer = client.post("/forecast", json=FORECAST, headers=origin)
        assert "access-control-allow-origin" not in answer.headers
        assert (
            "access-control-allow-origin"
            not in client.options("/forecast", headers=preflight).headers
        )

    client, _ = _serve(zoo, cors_origins="https://app.example, https://other.example")
    with client:
        answer = client.post("/forecast", json=FORECAST, headers=origin)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-request-id" in answer.headers["access-control-expose-headers"]
        allowed = client.options("/forecast", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        stranger = client.post(
            "/forecast", json=FORECAST, headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in stranger.headers


def test_an_internal_error_answers_without_a_stack_trace(
    zoo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> bytes:
        raise RuntimeError("secret internal detail /srv/models/x.onnx")

    monkeypatch.setattr(dataplane, "run", broken)
    client, log = _serve(zoo)
    with client:
        answer = client.post("/forecast", json=FORECAST)
    assert answer.status_code == 500
    assert answer.json() == {
        "error": {"code": "internal_error", "message": "an internal error occurred", "details": []}
    }
    for text in ("Traceback", "secret internal detail", "RuntimeError", ".py"):
        assert text not in answer.text
    assert log.lines()[-1]["status"] == 500


class _Writes(io.BytesIO):
    """Records each write call, as the system calls a worker would make."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []

    def write(self, data: Any) -> int:
        self.calls.append(bytes(data))
        return super().write(data)


def test_access_lines_reach_the_stream_in_whole_line_chunks_of_at_most_pipe_buf() -> None:
    stream = _Writes()
    log = AccessLog(stream)
    for index in range(300):
        log.write("POST", "/forecast", 200, 0.001, f"id-{index}", "forecast", "10")
    assert len(stream.calls) > 1  # 256 pending lines flushed without waiting for the timer
    log.flush()
    log.flush()  # nothing pending: no empty write
    assert all(0 < len(call) <= select.PIPE_BUF and call.endswith(b"\n") for call in stream.calls)
    ids = [orjson.loads(line)["request_id"] for line in stream.getvalue().splitlines()]
    assert ids == [f"id-{index}" for index in range(300)]


def test_access_lines_escape_whatever_the_client_put_in_the_path() -> None:
    stream = _Writes()
    log = AccessLog(stream)
    path = '/models/a"b\\c\n\u00e9\u2028{}'
    log.write("GET", path, 404, 0.0123456, "id-1", "", "")
    log.write("POST", "/forecast", 200, 0.002, "id-2", 'we"ird', "v\\1")
    log.flush()
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first["path"] == path and "model" not in first and first["duration_ms"] == 12.346
    assert (second["model"], second["version"]) == ('we"ird', "v\\1")


def test_the_access_log_cache_of_escaped_strings_stays_bounded() -> None:
    stream = _Writes()
    log = AccessLog(stream)
    for index in range(AccessLog.MAX_CACHED * 2):
        log.write("GET", f"/random-{index}", 404, 0.001, f"id-{index}", "", "")
    log.flush()
    assert len(log._json) <= AccessLog.MAX_CACHED
    paths = [orjson.loads(line)["path"] for line in stream.getvalue().splitlines()]
    assert paths == [f"/random-{index}" for index in range(AccessLog.MAX_CACHED * 2)]


def test_recycler_closes_each_connection_after_its_quota() -> None:
    recycler = ConnectionRecycler(max_requests=3)
    answers = [recycler.should_close(("10.0.0.1", 5000)) for _ in range(7)]
    assert answers == [False, False, True, False, False, True, False]
    assert not recycler.should_close(None)  # no client address: never closed
    assert not any(ConnectionRecycler(0).should_close(("10.0.0.1", 1)) for _ in range(500))


def test_recycler_table_stays_bounded() -> None:
    recycler = ConnectionRecycler(max_requests=2, max_tracked=100)
    for port in range(1000):
        recycler.should_close(("10.0.0.1", port))
    assert len(recycler._served) <= 100


def _read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_uvicorn_closes_a_keep_alive_connection_after_its_quota(zoo: Path) -> None:
    app = create_app(Settings(models_dir=zoo, max_requests_per_connection=3))
    body = orjson.dumps(FORECAST)
    request = (
        b"POST /forecast HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )
    with serve_in_thread(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            heads = []
            for _ in range(3):
                sock.sendall(request)
                heads.append(_read_answer(sock).lower())
            assert all(head.startswith(b"http/1.1 200") for head in heads)
            assert [b"connection: close" in head for head in heads] == [False, False, True]
            assert sock.recv(1) == b""  # the server closed it after the third answer
