"""The HTTP front end against a fake backend: routes, JSON and binary tensors, errors."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from service.v2.http import V2Http, parse_route
from tests.v2.fake import FakeBackend


@pytest.fixture()
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture()
def client(backend: FakeBackend) -> Iterator[TestClient]:
    yield TestClient(V2Http(backend, max_body_bytes=10_000))


def infer_body(data: object, shape: list[int], **extra: object) -> dict[str, object]:
    tensor = {"name": "x", "datatype": "FP32", "shape": shape, "data": data}
    return {"inputs": [tensor], **extra}


def test_routes() -> None:
    assert parse_route("/v2") is not None and parse_route("/v2/").kind == "server"  # type: ignore[union-attr]
    route = parse_route("/v2/models/m/versions/3/infer")
    assert route is not None and (route.kind, route.model, route.version) == ("infer", "m", "3")
    assert route.template == "/v2/models/{model}/versions/{version}/infer"
    assert parse_route("/v2/models/m/explain") is None
    assert parse_route("/v2/health/other") is None


def test_health_and_metadata(client: TestClient, backend: FakeBackend) -> None:
    server = client.get("/v2").json()
    assert server["extensions"] == ["binary_tensor_data"]
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    model = client.get("/v2/models/double").json()
    assert model["versions"] == ["1", "2"]
    assert model["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, -1]}]
    assert client.get("/v2/models/double/versions/1/ready").json()["ready"] is True
    backend.is_ready = False
    assert client.get("/v2/health/ready").status_code == 503
    missing = client.get("/v2/models/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "unknown model 'nope'"}


def test_json_inference_and_version_pinning(client: TestClient) -> None:
    body = infer_body([[1, 2], [3, 4]], [2, 2], id="req-7")
    answer = client.post("/v2/models/double/infer", json=body).json()
    assert answer["model_version"] == "2" and answer["id"] == "req-7"
    assert answer["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [2, 2], "data": [3.0, 6.0, 9.0, 12.0]}
    ]
    pinned = client.post("/v2/models/double/versions/1/infer", json=body).json()
    assert pinned["model_version"] == "1" and pinned["outputs"][0]["data"][0] == 2.0


def test_binary_inputs_and_outputs(client: TestClient) -> None:
    x = np.array([[1.5, 2.5, 3.5]], dtype=np.float32)
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [1, 3],
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        }
    )
    response = client.post(
        "/v2/models/double/versions/1/infer",
        content=header + x.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    answer = orjson.loads(response.content[:length])
    assert answer["outputs"][0]["parameters"] == {"binary_data_size": 12}
    y = np.frombuffer(response.content[length:], dtype="<f4")
    np.testing.assert_array_equal(y, x.ravel() * 2)


def test_binary_data_output_and_bytes(client: TestClient) -> None:
    body = {
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["ab", "xyz"]}],
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "upper"}, {"name": "length", "parameters": {"binary_data": False}}],
    }
    response = client.post("/v2/models/words/infer", json=body)
    length = int(response.headers["inference-header-content-length"])
    answer = orjson.loads(response.content[:length])
    assert [output["name"] for output in answer["outputs"]] == ["length", "upper"]
    assert answer["outputs"][0]["data"] == [2, 3]
    assert response.content[length:] == b"\2\0\0\0AB\3\0\0\0XYZ"


def test_gzip_body(client: TestClient) -> None:
    raw = orjson.dumps(infer_body([1, 2], [1, 2]))
    response = client.post(
        "/v2/models/double/infer", content=gzip.compress(raw), headers={"Content-Encoding": "gzip"}
    )
    assert response.json()["outputs"][0]["data"] == [3.0, 6.0]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            infer_body([1, 2], [1, 2], outputs=[{"name": "z"}]),
            400,
            "output 'z': model 'double' has no such output",
        ),
        (
            {"inputs": [{"name": "q", "datatype": "FP32", "shape": [1], "data": [1]}]},
            400,
            "input 'q': model 'double' version '2' has no such input",
        ),
        (
            {"inputs": [{"name": "x", "datatype": "INT64", "shape": [1], "data": [1]}]},
            400,
            "input 'x' has datatype INT64, model 'double' takes FP32",
        ),
        (
            infer_body([1, 2, 3], [1, 2]),
            400,
            "input 'x': shape [1, 2] holds 2 elements, 'data' has 3",
        ),
        (infer_body([1, None], [1, 2]), 400, "input 'x': data[1] is None, not a FP32 value"),
        (infer_body([1, 2], [2]), 400, "input 'x' must be 2-D"),  # the backend's 422
        (infer_body([1], [1, 1], parameters={"fail": 503}), 503, "asked to fail with 503"),
        ({"inputs": []}, 400, "'inputs' must be a non-empty list"),
        ([1, 2], 400, "must be a JSON object"),
    ],
)
def test_errors_have_the_protocol_shape(
    client: TestClient, body: object, status: int, message: str
) -> None:
    response = client.post("/v2/models/double/infer", json=body)
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert message in response.json()["error"]


def test_transport_errors(client: TestClient) -> None:
    assert client.post("/v2/models/double/infer", content=b"{").status_code == 400
    large = client.post("/v2/models/double/infer", content=b" " * 10_001)
    assert large.status_code == 413 and "limit is 10000" in large.json()["error"]
    wrong = client.get("/v2/models/double/infer")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert client.get("/v2/nothing").status_code == 404
    short = client.post(
        "/v2/models/double/infer",
        content=b"{}",
        headers={"Inference-Header-Content-Length": "5"},
    )
    assert "Inference-Header-Content-Length is 5, the body has 2 bytes" in short.json()["error"]
