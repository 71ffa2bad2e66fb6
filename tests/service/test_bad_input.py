"""Every bad input: one error shape, the right status, a message naming the field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from service.config import Settings

GOOD_SERIES = [50.0, 51.0, 52.0, 53.0]


def _assert_error(response: Any, status: int, code: str, fragment: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert fragment in error["message"], error["message"]
    assert "Traceback" not in response.text
    return error


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "series is required"),
        ({"series": [GOOD_SERIES], "colour": "red"}, "colour is not a known field"),
        ([GOOD_SERIES], "the body must be a JSON object, got a list"),
        ({"series": []}, "series must contain at least one"),
        ({"series": "1,2,3"}, "series must be a list of series, got a string"),
        ({"series": [[]]}, "series[0] is empty"),
        (
            {"series": [GOOD_SERIES, [1.0, 2.0]]},
            "series[1] has 2 points, fewer than the model's minimum of 3",
        ),
        ({"series": [GOOD_SERIES, 7]}, "series[1] must be a list, got a number"),
        ({"series": [[1.0, 2.0, "3"]]}, "series[0][2] must be a number, got a string"),
        ({"series": [[1.0, None, 3.0]]}, "series[0][1] must be a number, got null"),
        ({"series": [[1.0, 2.0, True]]}, "series[0][2] must be a number, got a boolean"),
        ({"series": [[1.0, 2.0, {"v": 3}]]}, "series[0][2] must be a number, got an object"),
        ({"series": [[1.0, 2.0, 3e39]]}, "series[0][2] is not a finite number"),
        ({"series": [GOOD_SERIES], "horizon": 6}, "horizon is 6, larger than the maximum 5"),
        ({"series": [GOOD_SERIES], "horizon": 0}, "horizon must be a positive integer, got 0"),
        ({"series": [GOOD_SERIES], "horizon": 2.5}, "horizon must be a positive integer"),
        ({"series": [GOOD_SERIES], "horizon": True}, "horizon must be a positive integer"),
        ({"series": [GOOD_SERIES], "model": 3}, "model must be a string, got a number"),
    ],
)
def test_forecast_rejects_with_422(client: TestClient, payload: Any, fragment: str) -> None:
    _assert_error(client.post("/forecast", json=payload), 422, "invalid_request", fragment)


def test_a_model_of_another_task_is_refused(client: TestClient) -> None:
    _assert_error(
        client.post("/forecast", json={"series": [GOOD_SERIES], "model": "sentiment"}),
        404,
        "wrong_task",
        "model 'sentiment' is a sentiment model, not a forecast model",
    )


def test_multivariate_problems_name_row_and_column(client: TestClient) -> None:
    series = [[[1.0, 2.0], [3.0], [4.0, 5.0]], [[1.0, 2.0], [3.0, "x"], [5.0, 6.0]]]
    error = _assert_error(
        client.post("/forecast", json={"series": series, "model": "weather"}),
        422,
        "invalid_request",
        "series[0][1] has 1 values, but the model takes rows of 2",
    )
    messages = [detail["message"] for detail in error["details"]]
    assert messages == [
        "series[0][1] has 1 values, but the model takes rows of 2 "
        "(every row of a series must have the model's 2 features)",
        "series[1][1][1] must be a number, got a string",
    ]
    assert error["details"][1]["loc"] == ["series", 1, 1, 1]
    assert "(and 1 more problem)" in error["message"]


def test_univariate_model_refuses_rows_of_two(client: TestClient) -> None:
    _assert_error(
        client.post("/forecast", json={"series": [[[1.0, 2.0]] * 4]}),
        422,
        "invalid_request",
        "series[0][0] has 2 values, but the model takes rows of 1",
    )


def test_every_bad_series_is_reported_not_only_the_first(client: TestClient) -> None:
    error = _assert_error(
        client.post("/forecast", json={"series": [[1.0, "a", 3.0], GOOD_SERIES, [1.0]]}),
        422,
        "invalid_request",
        "series[0][1] must be a number",
    )
    assert [detail["loc"] for detail in error["details"]] == [["series", 0, 1], ["series", 2]]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "texts is required"),
        ({"texts": []}, "texts must contain at least one"),
        ({"texts": "great"}, "texts must be a list of texts, got a string"),
        ({"texts": ["fine", ""]}, "texts[1] is empty or only whitespace"),
        ({"texts": ["fine", " \n\t "]}, "texts[1] is empty or only whitespace"),
        ({"texts": ["fine", 5]}, "texts[1] must be a string, got a number"),
        ({"texts": [None]}, "texts[0] must be a string, got null"),
        ({"texts": ["fine"], "lang": "en"}, "lang is not a known field"),
        ({"texts": ["fine"], "version": ""}, "version must not be empty"),
    ],
)
def test_sentiment_rejects_with_422(client: TestClient, payload: Any, fragment: str) -> None:
    _assert_error(client.post("/sentiment", json=payload), 422, "invalid_request", fragment)


@pytest.mark.parametrize("path", ["/forecast", "/sentiment"])
@pytest.mark.parametrize(
    "raw", [b"{", b"", b'{"series": [NaN]}', b'{"texts": [Infinity]}', b"[1,]"]
)
def test_malformed_json_is_400(client: TestClient, path: str, raw: bytes) -> None:
    response = client.post(path, content=raw, headers={"content-type": "application/json"})
    _assert_error(response, 400, "malformed_json", "the body is not valid JSON")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(
        "/forecast", content=orjson.dumps({"series": [GOOD_SERIES]}), headers=headers
    )
    _assert_error(response, 415, "unsupported_media_type", "must be application/json")


def test_content_type_with_charset_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/forecast",
        content=orjson.dumps({"series": [GOOD_SERIES]}),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text


def test_unknown_model_and_version_are_404(client: TestClient) -> None:
    _assert_error(
        client.post("/forecast", json={"series": [GOOD_SERIES], "model": "nope"}),
        404,
        "unknown_model",
        "unknown model 'nope' (served: forecast, sentiment, weather)",
    )
    _assert_error(
        client.post("/forecast", json={"series": [GOOD_SERIES], "version": "3"}),
        404,
        "unknown_version",
        "model 'forecast' has no version '3' (served: 1, 2, 10)",
    )
    _assert_error(
        client.post("/sentiment", json={"texts": ["fine"], "version": "9"}),
        404,
        "unknown_version",
        "model 'sentiment' has no version '9'",
    )
    _assert_error(client.get("/models/nope"), 404, "unknown_model", "unknown model 'nope'")
    _assert_error(client.get("/models/forecast/7"), 404, "unknown_version", "no version '7'")


def test_unknown_route_and_method(client: TestClient) -> None:
    _assert_error(client.get("/predict"), 404, "not_found", "no route GET /predict")
    response = client.get("/forecast")
    _assert_error(response, 405, "method_not_allowed", "/forecast takes POST with a JSON body")
    assert response.headers["allow"] == "POST"


# Limits, with a small configuration so the test bodies stay small.
@pytest.fixture(scope="module")
def strict_client(zoo: Any) -> Any:
    from service.app import create_app

    settings = Settings(
        models_dir=zoo, max_body_bytes=2_000, max_items=3, max_series_length=20, max_text_chars=50
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_oversized_body_is_413_before_parsing(strict_client: TestClient) -> None:
    body = b'{"series": [[' + b"1.0," * 600 + b"1.0]]}"
    response = strict_client.post(
        "/forecast", content=body, headers={"content-type": "application/json"}
    )
    _assert_error(response, 413, "payload_too_large", "the limit is 2000")
    # Same without a content-length (chunked upload): counted while reading.
    chunks = iter([body[:1500], body[1500:]])
    response = strict_client.post(
        "/forecast", content=chunks, headers={"content-type": "application/json"}
    )
    _assert_error(response, 413, "payload_too_large", "the limit is 2000")
    # Invalid JSON that is too large is still a 413: the size is checked first.
    response = strict_client.post(
        "/forecast", content=b"x" * 3_000, headers={"content-type": "application/json"}
    )
    _assert_error(response, 413, "payload_too_large", "")


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "GZIP "])
def test_a_compressed_body_is_answered_like_a_plain_one(client: TestClient, encoding: str) -> None:
    import zlib

    body = orjson.dumps({"series": [GOOD_SERIES]})
    wbits = 16 + zlib.MAX_WBITS if encoding.strip().lower() == "gzip" else zlib.MAX_WBITS
    packer = zlib.compressobj(wbits=wbits)
    packed = packer.compress(body) + packer.flush()
    headers = {"content-type": "application/json", "content-encoding": encoding}
    response = client.post("/forecast", content=packed, headers=headers)
    assert response.status_code == 200, response.text
    assert (
        response.json()
        == client.post(
            "/forecast", content=body, headers={"content-type": "application/json"}
        ).json()
    )


def test_compressed_bodies_that_cannot_be_read(
    client: TestClient, strict_client: TestClient
) -> None:
    import gzip

    body = orjson.dumps({"series": [GOOD_SERIES]})
    plain = {"content-type": "application/json"}
    response = client.post("/forecast", content=body, headers={**plain, "content-encoding": "br"})
    _assert_error(response, 415, "unsupported_media_type", "Content-Encoding 'br'")
    response = client.post(
        "/forecast", content=b"not gzip", headers={**plain, "content-encoding": "gzip"}
    )
    _assert_error(response, 400, "malformed_body", "not valid gzip data")
    # 3 kB of JSON squeezed into a few dozen bytes is still over a 2,000-byte limit.
    bomb = gzip.compress(b'{"series": [[' + b"1.0," * 750 + b"1.0]]}")
    assert len(bomb) < 200
    response = strict_client.post(
        "/forecast", content=bomb, headers={**plain, "content-encoding": "gzip"}
    )
    _assert_error(response, 413, "payload_too_large", "the limit is 2000")


def test_too_many_series_or_texts(strict_client: TestClient) -> None:
    _assert_error(
        strict_client.post("/forecast", json={"series": [GOOD_SERIES] * 4}),
        422,
        "invalid_request",
        "series has 4 series, more than the limit of 3",
    )
    _assert_error(
        strict_client.post("/sentiment", json={"texts": ["ok"] * 4}),
        422,
        "invalid_request",
        "texts has 4 texts, more than the limit of 3",
    )


def test_too_long_series_and_text(strict_client: TestClient) -> None:
    _assert_error(
        strict_client.post("/forecast", json={"series": [GOOD_SERIES, [1.0] * 21]}),
        422,
        "invalid_request",
        "series[1] has 21 points, more than the limit of 20",
    )
    _assert_error(
        strict_client.post("/sentiment", json={"texts": ["a" * 51]}),
        422,
        "invalid_request",
        "texts[0] has 51 characters, more than the limit of 50",
    )


def test_a_bad_request_leaves_the_service_healthy(client: TestClient) -> None:
    client.post("/forecast", content=b"{", headers={"content-type": "application/json"})
    assert client.post("/forecast", json={"series": [GOOD_SERIES]}).status_code == 200


def test_horizon_and_series_problems_are_reported_together(client: TestClient) -> None:
    payload = {"series": [[1.0, "x", 3.0]], "horizon": 9}
    error = _assert_error(
        client.post("/forecast", json=payload), 422, "invalid_request", "horizon is 9"
    )
    assert [detail["loc"] for detail in error["details"]] == [["horizon"], ["series", 0, 1]]
