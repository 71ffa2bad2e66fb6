"""Hostile bodies on both data-plane routes and both serving paths: deep nesting, huge
numbers, 10 MB bodies, invalid UTF-8, wrong content types, duplicated keys.

Each answer is the documented one (400, 413, 415, 422, or 200 where the input is in fact
valid), always in the one error shape, never a 500; and the service stays healthy after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

ROUTES = ("/forecast", "/sentiment")
JSON = {"content-type": "application/json"}
TEN_MB = 10 * 1024 * 1024


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert "Traceback" not in response.text
    return message


def _field(route: str) -> str:
    return "series" if route == "/forecast" else "texts"


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("depth", [64, 1000, 1025, 100_000])
def test_deep_nesting_is_refused_without_recursing(
    client: TestClient, route: str, depth: int
) -> None:
    raw = f'{{"{_field(route)}": {"[" * depth}1.0{"]" * depth}}}'.encode()
    response = client.post(route, content=raw, headers=JSON)
    if depth > 1024:  # beyond the parser's depth limit: not JSON this service reads
        assert "depth" in _error(response, 400, "malformed_json")
    else:
        message = _error(response, 422, "invalid_request")
        assert message.startswith(f"{_field(route)}[0]")


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("1e308", 422),  # finite in float64, not in the model's float32
        ("-1.7976931348623157e308", 422),
        ("1e999", 400),  # infinity: the JSON parser refuses it
        ("-1e999", 400),
        ("NaN", 400),
        ("Infinity", 400),
        ("18446744073709551615", 200),  # 2**64 - 1: big, but a finite float32
        ("1" + "0" * 400, 400),
        ("1e-400", 200),  # underflows to 0.0
    ],
)
def test_huge_numbers_in_a_series(client: TestClient, value: str, status: int) -> None:
    raw = f'{{"series": [[50.0, {value}, 52.0]]}}'.encode()
    response = client.post("/forecast", content=raw, headers=JSON)
    if status == 200:
        assert response.status_code == 200, response.text
    elif status == 400:
        _error(response, 400, "malformed_json")
    else:
        assert _error(response, 422, "invalid_request").startswith("series[0][1]")


@pytest.mark.parametrize("horizon", ["18446744073709551615", "1e30", "-99999999999999999999"])
def test_huge_horizon_is_422_naming_the_field(client: TestClient, horizon: str) -> None:
    raw = f'{{"series": [[50.0, 51.0, 52.0]], "horizon": {horizon}}}'.encode()
    assert _error(client.post("/forecast", content=raw, headers=JSON), 422, "invalid_request")
    assert (
        client.post("/forecast", content=raw, headers=JSON)
        .json()["error"]["message"]
        .startswith("horizon")
    )


def _ten_mb(route: str) -> bytes:
    item = "[" + ",".join(["50.0"] * 1000) + "]" if route == "/forecast" else '"' + "a" * 4000 + '"'
    items: list[str] = []
    size = 0
    while size < TEN_MB:
        items.append(item)
        size += len(item) + 1
    return f'{{"{_field(route)}": [{",".join(items)}]}}'.encode()


@pytest.mark.parametrize("route", ROUTES)
def test_a_10_mb_body_is_413_declared_or_streamed(client: TestClient, route: str) -> None:
    raw = _ten_mb(route)
    assert len(raw) >= TEN_MB
    declared = client.post(route, content=raw, headers=JSON)
    _error(declared, 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]

    streamed = client.post(route, content=chunks(), headers=JSON)
    _error(streamed, 413, "payload_too_large")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "raw",
    [
        b'{"texts": ["\xff\xfe bad"], "series": [[1.0, 2.0, 3.0]]}',  # invalid bytes
        b'{"texts": ["\xc0\xaf"]}',  # overlong encoding of "/"
        b'{"texts": ["\xed\xa0\x80"]}',  # a UTF-8 encoded surrogate
        b'{"texts": ["\\ud800"]}',  # a lone surrogate escape
        b"\xef\xbb\xbf" + b'{"texts": ["a byte order mark first"]}',
        '{"texts": ["latin-1 é"]}'.encode("latin-1"),
        '{"texts": ["utf-16"]}'.encode("utf-16"),
    ],
)
def test_invalid_utf8_is_400(client: TestClient, route: str, raw: bytes) -> None:
    _error(client.post(route, content=raw, headers=JSON), 400, "malformed_json")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "application/problem+json",
        "json",
        "",
    ],
)
def test_wrong_content_type_is_415_even_with_a_valid_body(
    client: TestClient, route: str, content_type: str
) -> None:
    raw = b'{"series": [[50.0, 51.0, 52.0]]}' if route == "/forecast" else b'{"texts": ["ok"]}'
    headers = {"content-type": content_type} if content_type else {}
    _error(client.post(route, content=raw, headers=headers), 415, "unsupported_media_type")


def test_duplicated_keys_take_the_last_value_on_every_path(client: TestClient) -> None:
    """The JSON parser keeps the last of duplicated keys (as JavaScript's JSON.parse does)."""
    last_valid = b'{"series": "nope", "series": [[50.0, 51.0, 52.0]]}'
    assert client.post("/forecast", content=last_valid, headers=JSON).status_code == 200
    last_invalid = b'{"series": [[50.0, 51.0, 52.0]], "series": "nope"}'
    message = _error(
        client.post("/forecast", content=last_invalid, headers=JSON), 422, "invalid_request"
    )
    assert message.startswith("series must be a list")
    pinned = b'{"series": [[50.0, 51.0, 52.0]], "version": "1", "version": "2"}'
    assert client.post("/forecast", content=pinned, headers=JSON).json()["version"] == "2"
    texts = b'{"texts": ["x"], "texts": [], "model": "sentiment"}'
    _error(client.post("/sentiment", content=texts, headers=JSON), 422, "invalid_request")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        {"model": {"nested": [1, 2, 3]}},
        {"version": [["1"]]},
        {"model": "x" * 100_000},
        {"extra": {"a": {"b": {"c": None}}}},
    ],
)
def test_odd_values_in_other_fields_are_422(
    client: TestClient, route: str, body: dict[str, Any]
) -> None:
    payload = {_field(route): [[50.0, 51.0, 52.0]] if route == "/forecast" else ["ok"], **body}
    response = client.post(route, json=payload)
    assert response.status_code in (404, 422), response.text[:300]
    assert set(response.json()) == {"error"}
    assert len(response.content) < 2000  # a 100 kB name is not echoed back in full


def test_the_service_is_healthy_after_the_matrix(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.post("/forecast", json={"series": [[50.0, 51.0, 52.0]]}).status_code == 200
