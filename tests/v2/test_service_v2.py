"""The protocol on the real data plane, in process: same answers, batcher, limits and edge as
the native API (the test model zoo: forecast 1/2/10, weather/1 with 2 features, sentiment/1)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from loadtest.process import free_port
from service.app import create_app
from service.config import Settings
from service.v2.proto import grpc_predict_v2_pb2 as pb
from service.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from tests.service.live import serve_in_thread, slow_down
from tests.service.test_metrics import delta, scrape

SERIES = [[50.0, 51.5, 49.25, 52.0, 53.5], [10.0, 11.0, 12.0, 13.0]]


@pytest.fixture(scope="module")
def client(zoo: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(models_dir=zoo))) as test_client:
        yield test_client


def v2(client: TestClient, path: str, inputs: list[dict[str, Any]], **extra: Any) -> Any:
    response = client.post(path, json={"inputs": inputs, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def series_tensor(rows: list[list[float]]) -> dict[str, Any]:
    return {"name": "series", "datatype": "FP32", "shape": [len(rows), len(rows[0])], "data": rows}


def test_metadata_comes_from_the_cards(client: TestClient) -> None:
    weather = client.get("/v2/models/weather").json()
    assert weather["inputs"] == [{"name": "series", "datatype": "FP32", "shape": [-1, -1, 2]}]
    assert weather["outputs"] == [{"name": "forecast", "datatype": "FP32", "shape": [-1, 4, 2]}]
    assert client.get("/v2/models/forecast").json()["versions"] == ["1", "2", "10"]
    assert client.get("/v2/models/forecast/versions/2/ready").status_code == 200
    assert client.get("/v2/models/forecast/versions/3/ready").status_code == 404


@pytest.mark.parametrize("version", [None, "2"])
def test_forecast_equals_native(client: TestClient, version: str | None) -> None:
    pinned = {"version": version} if version else {}
    for rows in ([SERIES[0]], [SERIES[1], SERIES[1]]):
        native = client.post("/forecast", json={"series": rows, **pinned}).json()
        path = (
            f"/v2/models/forecast/versions/{version}/infer"
            if version
            else "/v2/models/forecast/infer"
        )
        answer = v2(client, path, [series_tensor(rows)])
        assert answer["model_version"] == native["version"]
        output = answer["outputs"][0]
        assert output["shape"] == [len(rows), 5, 1]
        want = np.asarray(native["forecasts"], dtype=np.float64)
        np.testing.assert_allclose(np.reshape(output["data"], (len(rows), 5)), want, atol=1e-5)


def test_multivariate_forecast_and_horizon(client: TestClient) -> None:
    rows = [[[1.0, 2.0], [2.0, 3.0], [3.0, 5.0], [4.0, 4.0]]]
    native = client.post("/forecast", json={"series": rows, "model": "weather", "horizon": 2})
    tensor = {"name": "series", "datatype": "FP32", "shape": [1, 4, 2], "data": rows}
    answer = v2(client, "/v2/models/weather/infer", [tensor], parameters={"horizon": 2})
    assert answer["outputs"][0]["shape"] == [1, 2, 2]
    np.testing.assert_allclose(
        np.reshape(answer["outputs"][0]["data"], (1, 2, 2)), native.json()["forecasts"], atol=1e-5
    )


def test_sentiment_equals_native_binary_too(client: TestClient) -> None:
    texts = ["a great film", "boring", "caf\u00e9 ok"]
    native = client.post("/sentiment", json={"texts": texts}).json()["results"]
    blob = b"".join(len(t.encode()).to_bytes(4, "little") + t.encode() for t in texts)
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "texts",
                    "datatype": "BYTES",
                    "shape": [3],
                    "parameters": {"binary_data_size": len(blob)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    response = client.post(
        "/v2/models/sentiment/infer",
        content=header + blob,
        headers={"inference-header-content-length": str(len(header))},
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    outputs = orjson.loads(response.content[:length])["outputs"]
    assert [output["name"] for output in outputs] == ["probability", "label"]
    probability = np.frombuffer(response.content[length : length + 12], dtype="<f4")
    want = [result["probabilities"]["positive"] for result in native]
    np.testing.assert_allclose(probability, want, atol=1e-6)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([series_tensor([[1.0, 2.0]])], "series[0] has 2 points, fewer than the model's minimum"),
        (
            [{"name": "series", "datatype": "FP32", "shape": [1, 2, 2], "data": [1, 2, 3, 4]}],
            "input 'series' has shape [1, 2, 2], model 'forecast' takes [batch, time, 1]",
        ),
        ([{"name": "texts", "datatype": "BYTES", "shape": [1], "data": ["x"]}], "input 'texts'"),
    ],
)
def test_native_checks_answer_in_the_protocol_shape(
    client: TestClient, inputs: list[dict[str, Any]], message: str
) -> None:
    response = client.post("/v2/models/forecast/infer", json={"inputs": inputs})
    assert response.status_code == 400
    assert list(response.json()) == ["error"] and message in response.json()["error"]


def test_non_finite_binary_values_are_refused(client: TestClient) -> None:
    values = np.array([1, 2, np.nan, 4], dtype="<f4")
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "series",
                    "datatype": "FP32",
                    "shape": [1, 4],
                    "parameters": {"binary_data_size": 16},
                }
            ]
        }
    )
    response = client.post(
        "/v2/models/forecast/infer",
        content=header + values.tobytes(),
        headers={"inference-header-content-length": str(len(header))},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "input 'series': element 2 is not a finite number"}


def test_metrics_count_v2_with_its_protocol_and_route(client: TestClient) -> None:
    before = scrape(client)
    v2(client, "/v2/models/forecast/infer", [series_tensor([SERIES[0]])])
    after = scrape(client)
    labels = {"protocol": "v2", "route": "/v2/models/{model}/infer", "method": "POST"}
    labels |= {"status": "200", "model": "forecast", "version": "10"}
    assert delta(before, after, "rnn_serve_http_requests_total", **labels) == 1


def test_api_key_over_http_and_grpc(zoo: Path) -> None:
    port = free_port()
    settings = Settings(models_dir=zoo, api_key="s3cret", grpc_port=port, workers=1)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v2/models/forecast").status_code == 200  # metadata stays open
        body = {"inputs": [series_tensor([SERIES[0]])]}
        refused = client.post("/v2/models/forecast/infer", json=body)
        assert refused.status_code == 401
        assert refused.json() == {"error": "a valid API key is required (X-API-Key header)"}
        allowed = client.post(
            "/v2/models/forecast/infer", json=body, headers={"authorization": "Bearer s3cret"}
        )
        assert allowed.status_code == 200

        async def over_grpc() -> list[grpc.StatusCode]:
            request = pb.ModelInferRequest(model_name="forecast")
            request.inputs.add(name="series", datatype="FP32", shape=[1, 5])
            request.raw_input_contents.append(np.asarray(SERIES[0], dtype="<f4").tobytes())
            codes = []
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.GRPCInferenceServiceStub(channel)
                for metadata in ((), (("x-api-key", "s3cret"),)):
                    try:
                        await stub.ModelInfer(request, metadata=metadata)
                        codes.append(grpc.StatusCode.OK)
                    except grpc.aio.AioRpcError as exc:
                        codes.append(exc.code())
            return codes

        assert asyncio.run(over_grpc()) == [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.OK]


def _v2_body(rows: list[list[float]]) -> dict[str, Any]:
    return {"inputs": [series_tensor(rows)]}


def test_v2_and_native_requests_share_one_batch(zoo: Path) -> None:
    settings = Settings(models_dir=zoo, max_queue_delay_ms=200, grpc_port=0, rows_per_run=32)
    app = create_app(settings)
    with serve_in_thread(app) as url:
        model = app.service_state.serving().get("forecast", "10")
        before = model.batcher.stats.batches

        async def together() -> list[int]:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                native = client.post("/forecast", json={"series": [SERIES[0]]})
                protocol = client.post("/v2/models/forecast/infer", json=_v2_body([SERIES[1]]))
                responses = await asyncio.gather(native, protocol)
            return [response.status_code for response in responses]

        assert asyncio.run(together()) == [200, 200]
        assert model.batcher.stats.batches - before == 1  # one run served both


def test_overload_and_deadline_over_http_and_grpc(zoo: Path) -> None:
    port = free_port()
    settings = Settings(
        models_dir=zoo,
        max_batch_size=1,
        max_queue_requests=2,
        request_timeout_ms=150,
        grpc_port=port,
        workers=1,
    )
    app = create_app(settings)
    with serve_in_thread(app) as url:
        slow_down(app, "forecast", "10", delay_s=0.1)

        async def burst() -> tuple[list[httpx.Response], list[grpc.StatusCode]]:
            request = pb.ModelInferRequest(model_name="forecast")
            request.inputs.add(name="series", datatype="FP32", shape=[1, 5])
            request.raw_input_contents.append(np.asarray(SERIES[0], dtype="<f4").tobytes())
            limits = httpx.Limits(max_connections=12)
            async with (
                httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client,
                grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
            ):
                stub = pb_grpc.GRPCInferenceServiceStub(channel)

                async def rpc() -> grpc.StatusCode:
                    try:
                        await stub.ModelInfer(request)
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() == grpc.StatusCode.UNAVAILABLE:  # Retry-After, as in HTTP
                            assert ("retry-after", "1") in tuple(exc.trailing_metadata() or ())
                        return exc.code()
                    return grpc.StatusCode.OK

                http_calls = [
                    client.post("/v2/models/forecast/infer", json=_v2_body([SERIES[0]]))
                    for _ in range(12)
                ]
                results = await asyncio.gather(*http_calls, *(rpc() for _ in range(12)))
            responses = [r for r in results if isinstance(r, httpx.Response)]
            codes = [r for r in results if isinstance(r, grpc.StatusCode)]
            return responses, codes

        responses, codes = asyncio.run(burst())
    statuses = {response.status_code for response in responses}
    assert 503 in statuses and statuses <= {200, 503, 504}, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
            assert "requests waiting" in response.json()["error"]
    assert grpc.StatusCode.UNAVAILABLE in codes, codes
    assert set(codes) <= {
        grpc.StatusCode.OK,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
    assert grpc.StatusCode.DEADLINE_EXCEEDED in codes or 504 in statuses


def test_openapi_documents_v2_with_working_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v2", "/v2/health/ready", "/v2/models/{model}/versions/{version}/infer"} <= set(
        spec["paths"]
    )
    infer = spec["paths"]["/v2/models/{model}/infer"]["post"]
    examples = infer["requestBody"]["content"]["application/json"]["examples"]
    for model, example in examples.items():
        response = client.post(f"/v2/models/{model}/infer", json=example["value"])
        assert response.status_code == 200, response.text
