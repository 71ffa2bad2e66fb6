"""Drive a running service with a real Open Inference Protocol client; print one JSON report.

Runs in the clients' own environment (requirements/clients.txt: tritonclient and kserve do not
resolve with the service's pins), one client family per process (tritonclient's and KServe's
generated protobuf modules both define the `inference` package and cannot share a process):

    V2_FAMILY=triton-grpc V2_HTTP=127.0.0.1:8000 V2_GRPC=127.0.0.1:8001 \
        python tests/v2/clients/run_clients.py

V2_FAMILY: triton-http-json, triton-http-binary, triton-grpc, kserve-rest, kserve-grpc. The
settings come from the environment because importing kserve parses the command line.
Every check compares with the native endpoints (POST /forecast, /sentiment) of the same
service. The report is {"checks": {name: "ok" | "FAILED: ..."}}; the exit status is 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

FORECAST_MODELS = ("forecast", "sunspots")
TEXTS = ["a wonderful, moving film", "dull, long and badly acted", "it was fine <br /> I guess"]
FAMILIES = ("triton-http-json", "triton-http-binary", "triton-grpc", "kserve-rest", "kserve-grpc")


@dataclass(frozen=True)
class Failure:
    """What a client raised for a bad request: a status (HTTP) or code name (gRPC), a message."""

    status: str
    message: str


@dataclass(frozen=True)
class Answer:
    version: str | None  # None: the client does not expose the answer's model_version
    outputs: dict[str, np.ndarray]


class Client:
    """The operations every family offers, in numpy terms."""

    async def live(self) -> bool:
        raise NotImplementedError

    async def ready(self) -> bool:
        raise NotImplementedError

    async def model_ready(self, name: str) -> bool:
        raise NotImplementedError

    async def extensions(self) -> list[str]:
        raise NotImplementedError

    async def metadata(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    async def infer(
        self,
        name: str,
        inputs: list[tuple[str, str, np.ndarray]],
        version: str = "",
        shape: list[int] | None = None,
    ) -> Answer:
        raise NotImplementedError

    def failure(self, exc: Exception) -> Failure | None:
        """The status and message of an error answer (None: not an error answer)."""
        raise NotImplementedError


class TritonHttp(Client):
    def __init__(self, url: str, binary: bool) -> None:
        import tritonclient.http as http

        self.http = http
        self.client = http.InferenceServerClient(url)
        self.binary = binary

    async def live(self) -> bool:
        return bool(self.client.is_server_live())

    async def ready(self) -> bool:
        return bool(self.client.is_server_ready())

    async def model_ready(self, name: str) -> bool:
        return bool(self.client.is_model_ready(name))

    async def extensions(self) -> list[str]:
        return list(self.client.get_server_metadata()["extensions"])

    async def metadata(self, name: str) -> dict[str, Any]:
        meta: dict[str, Any] = self.client.get_model_metadata(name)
        return meta

    async def infer(
        self,
        name: str,
        inputs: list[tuple[str, str, np.ndarray]],
        version: str = "",
        shape: list[int] | None = None,
    ) -> Answer:
        tensors = []
        for input_name, datatype, array in inputs:
            tensor = self.http.InferInput(input_name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array, binary_data=self.binary)
            if shape is not None:  # a shape that does not match the data
                tensor.set_shape(shape)
            tensors.append(tensor)
        meta = self.client.get_model_metadata(name)
        outputs = [
            self.http.InferRequestedOutput(output["name"], binary_data=self.binary)
            for output in meta["outputs"]
        ]
        result = self.client.infer(name, tensors, model_version=version, outputs=outputs)
        response = result.get_response()
        return Answer(
            response["model_version"],
            {output["name"]: result.as_numpy(output["name"]) for output in response["outputs"]},
        )

    def failure(self, exc: Exception) -> Failure | None:
        from tritonclient.utils import InferenceServerException

        if not isinstance(exc, InferenceServerException):
            return None
        return Failure(str(exc.status()), str(exc.message()))


class TritonGrpc(Client):
    def __init__(self, url: str) -> None:
        import tritonclient.grpc as grpc

        self.grpc = grpc
        self.client = grpc.InferenceServerClient(url)

    async def live(self) -> bool:
        return bool(self.client.is_server_live())

    async def ready(self) -> bool:
        return bool(self.client.is_server_ready())

    async def model_ready(self, name: str) -> bool:
        return bool(self.client.is_model_ready(name))

    async def extensions(self) -> list[str]:
        return list(self.client.get_server_metadata().extensions)

    async def metadata(self, name: str) -> dict[str, Any]:
        meta: dict[str, Any] = self.client.get_model_metadata(name, as_json=True)
        for tensor in [*meta["inputs"], *meta["outputs"]]:  # protobuf JSON writes int64 as str
            tensor["shape"] = [int(size) for size in tensor["shape"]]
        return meta

    async def infer(
        self,
        name: str,
        inputs: list[tuple[str, str, np.ndarray]],
        version: str = "",
        shape: list[int] | None = None,
    ) -> Answer:
        tensors = []
        for input_name, datatype, array in inputs:
            tensor = self.grpc.InferInput(input_name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)
            if shape is not None:
                tensor.set_shape(shape)
            tensors.append(tensor)
        result = self.client.infer(name, tensors, model_version=version)
        response = result.get_response()
        return Answer(
            response.model_version,
            {output.name: result.as_numpy(output.name) for output in response.outputs},
        )

    def failure(self, exc: Exception) -> Failure | None:
        from tritonclient.utils import InferenceServerException

        if not isinstance(exc, InferenceServerException):
            return None
        return Failure(str(exc.status()).removeprefix("StatusCode."), str(exc.message()))


class KServeRest(Client):
    def __init__(self, url: str) -> None:
        from kserve import InferenceRESTClient, RESTConfig

        self.base = f"http://{url}"
        self.client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))

    async def live(self) -> bool:
        return bool(await self.client.is_server_live(self.base))

    async def ready(self) -> bool:
        return bool(await self.client.is_server_ready(self.base))

    async def model_ready(self, name: str) -> bool:
        return bool(await self.client.is_model_ready(self.base, name))

    async def extensions(self) -> list[str]:
        return list(_get_json(f"{self.base}/v2")["extensions"])

    async def metadata(self, name: str) -> dict[str, Any]:
        return _get_json(f"{self.base}/v2/models/{name}")  # the SDK has no metadata call

    async def infer(
        self,
        name: str,
        inputs: list[tuple[str, str, np.ndarray]],
        version: str = "",
        shape: list[int] | None = None,
    ) -> Answer:
        from kserve import InferInput, InferRequest

        tensors = []
        for input_name, datatype, array in inputs:
            tensor = InferInput(input_name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array, binary_data=False)
            if shape is not None:
                tensor.shape = shape
            tensors.append(tensor)
        model = f"{name}/versions/{version}" if version else name
        response = await self.client.infer(self.base, InferRequest(name, tensors), model_name=model)
        # InferResponse.from_bytes (kserve 0.21) drops the answer's model_version.
        return Answer(
            response.model_version,
            {output.name: output.as_numpy() for output in response.outputs},
        )

    def failure(self, exc: Exception) -> Failure | None:
        import httpx

        if not isinstance(exc, httpx.HTTPStatusError):
            return None
        body = exc.response.json()
        assert set(body) == {"error"}, body  # the protocol's error shape
        return Failure(str(exc.response.status_code), str(body["error"]))


class KServeGrpc(Client):
    def __init__(self, url: str) -> None:
        from kserve import InferenceGRPCClient

        self.client = InferenceGRPCClient(url, timeout=30)

    async def live(self) -> bool:
        return bool(await self.client.is_server_live())

    async def ready(self) -> bool:
        return bool(await self.client.is_server_ready())

    async def model_ready(self, name: str) -> bool:
        return bool(await self.client.is_model_ready(name))

    async def extensions(self) -> list[str]:
        from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

        stub = self.client._client_stub
        return list((await stub.ServerMetadata(pb.ServerMetadataRequest())).extensions)

    async def metadata(self, name: str) -> dict[str, Any]:
        from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

        stub = self.client._client_stub  # the SDK has no metadata call
        meta = await stub.ModelMetadata(pb.ModelMetadataRequest(name=name))
        tensor = lambda t: {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}  # noqa: E731
        return {
            "name": meta.name,
            "versions": list(meta.versions),
            "platform": meta.platform,
            "inputs": [tensor(t) for t in meta.inputs],
            "outputs": [tensor(t) for t in meta.outputs],
        }

    async def infer(
        self,
        name: str,
        inputs: list[tuple[str, str, np.ndarray]],
        version: str = "",
        shape: list[int] | None = None,
    ) -> Answer:
        from kserve import InferInput, InferRequest

        tensors = []
        for input_name, datatype, array in inputs:
            tensor = InferInput(input_name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)
            if shape is not None:
                tensor.shape = shape
            tensors.append(tensor)
        request = InferRequest(name, tensors, model_version=version or None)
        response = await self.client.infer(request)
        return Answer(
            str(response.model_version),
            {output.name: output.as_numpy() for output in response.outputs},
        )

    def failure(self, exc: Exception) -> Failure | None:
        import grpc

        if not isinstance(exc, grpc.aio.AioRpcError):
            return None
        return Failure(exc.code().name, str(exc.details()))


def make_client(family: str, http: str, grpc: str) -> Client:
    if family == "triton-http-json":
        return TritonHttp(http, binary=False)
    if family == "triton-http-binary":
        return TritonHttp(http, binary=True)
    if family == "triton-grpc":
        return TritonGrpc(grpc)
    if family == "kserve-rest":
        return KServeRest(http)
    return KServeGrpc(grpc)


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def native(http: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://{http}{route}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def series_batch(model: str, length: int = 60, batch: int = 3) -> np.ndarray:
    """float32 series in the range of each model's training data, exact in JSON too."""
    rng = np.random.default_rng(len(model))
    steps = np.arange(length)[None, :] + rng.integers(0, 100, batch)[:, None]
    values = 0.5 * np.sin(steps / 5.0) + 0.1 * rng.standard_normal((batch, length))
    if model == "sunspots":
        values = 80.0 + 60.0 * values
    return values.astype(np.float32)[:, :, None]


class Checks:
    def __init__(self, client: Client, http: str) -> None:
        self.client = client
        self.http = http
        self.results: dict[str, str] = {}

    async def run(self, name: str, check: Callable[[], Awaitable[None]]) -> None:
        try:
            await check()
            self.results[name] = "ok"
        except Exception as exc:
            last = traceback.format_exception(exc)[-1].strip()
            self.results[name] = f"FAILED: {type(exc).__name__}: {exc} ({last})"

    async def expect_failure(
        self, status: set[str], fragment: str, call: Callable[[], Awaitable[Any]]
    ) -> None:
        try:
            await call()
        except Exception as exc:
            failure = self.client.failure(exc)
            if failure is None:
                raise
            assert failure.status in status, f"status {failure.status}, expected {status}"
            assert fragment in failure.message, f"{failure.message!r} lacks {fragment!r}"
            return
        raise AssertionError("the request succeeded")

    async def health(self) -> None:
        assert await self.client.live()
        assert await self.client.ready()
        for model in (*FORECAST_MODELS, "sentiment"):
            assert await self.client.model_ready(model), model
        assert "binary_tensor_data" in await self.client.extensions()

    async def metadata(self) -> None:
        for model in FORECAST_MODELS:
            meta = await self.client.metadata(model)
            assert meta["name"] == model and meta["versions"] == ["1"], meta
            assert meta["inputs"] == [{"name": "series", "datatype": "FP32", "shape": [-1, -1, 1]}]
            assert meta["outputs"] == [
                {"name": "forecast", "datatype": "FP32", "shape": [-1, 10, 1]}
            ]
        meta = await self.client.metadata("sentiment")
        assert meta["inputs"] == [{"name": "texts", "datatype": "BYTES", "shape": [-1]}]
        assert [output["name"] for output in meta["outputs"]] == ["probability", "label"]

    async def forecast(self) -> None:
        for model in FORECAST_MODELS:
            series = series_batch(model)
            expected = native(self.http, "/forecast", {"series": series.tolist(), "model": model})
            want = np.asarray(expected["forecasts"], dtype=np.float64)
            for shaped in (series, series[:, :, 0]):  # [batch, time, 1] and [batch, time]
                answer = await self.client.infer(model, [("series", "FP32", shaped)])
                got = answer.outputs["forecast"]
                assert got.shape == (3, 10, 1) and got.dtype == np.float32, got.shape
                np.testing.assert_allclose(got[:, :, 0], want, rtol=0, atol=1e-5)

    async def sentiment(self) -> None:
        texts = np.array([text.encode() for text in TEXTS], dtype=object)
        expected = native(self.http, "/sentiment", {"texts": TEXTS})["results"]
        answer = await self.client.infer("sentiment", [("texts", "BYTES", texts)])
        probability = answer.outputs["probability"]
        want = [result["probabilities"]["positive"] for result in expected]
        np.testing.assert_allclose(probability, want, rtol=0, atol=1e-6)
        labels = [_text(label) for label in answer.outputs["label"]]
        assert labels == [result["label"] for result in expected], labels

    async def version_pinning(self) -> None:
        series = series_batch("forecast", batch=1)
        answer = await self.client.infer("forecast", [("series", "FP32", series)], version="1")
        assert answer.version in ("1", None), answer.version
        await self.expect_failure(
            {"404", "NOT_FOUND"},
            "has no version '9'",
            lambda: self.client.infer("forecast", [("series", "FP32", series)], version="9"),
        )

    async def bad_inputs(self) -> None:
        series = series_batch("forecast", batch=1)
        invalid = {"400", "INVALID_ARGUMENT"}
        await self.expect_failure(
            invalid,
            "has datatype FP64, model 'forecast' takes FP32",
            lambda: self.client.infer("forecast", [("series", "FP64", series.astype(np.float64))]),
        )
        await self.expect_failure(
            invalid,
            "input 'series': shape [1, 61, 1]",
            lambda: self.client.infer("forecast", [("series", "FP32", series)], shape=[1, 61, 1]),
        )
        await self.expect_failure(
            invalid,
            "input 'nope'",
            lambda: self.client.infer("forecast", [("nope", "FP32", series)]),
        )
        await self.expect_failure(
            {"404", "NOT_FOUND"},
            "unknown model 'nothing'",
            lambda: self.client.infer("nothing", [("series", "FP32", series)]),
        )
        await self.expect_failure(
            invalid,
            "series[0] has 3 points, fewer than the model's minimum",
            lambda: self.client.infer("forecast", [("series", "FP32", series[:, :3])]),
        )
        await self.expect_failure(
            invalid,
            "texts[1] is empty or only whitespace",
            lambda: self.client.infer(
                "sentiment", [("texts", "BYTES", np.array([b"good", b"  "], dtype=object))]
            ),
        )

    async def oversized(self) -> None:
        # The service under test runs with --max-body-bytes 200000 and --max-items 64.
        big = np.zeros((1, 60_000, 1), dtype=np.float32)  # 240 kB of binary, more as JSON
        await self.expect_failure(
            {"413", "RESOURCE_EXHAUSTED"},
            "",
            lambda: self.client.infer("forecast", [("series", "FP32", big)]),
        )
        many = np.zeros((65, 20, 1), dtype=np.float32)
        await self.expect_failure(
            {"400", "INVALID_ARGUMENT"},
            "has 65 series, more than the limit of 64",
            lambda: self.client.infer("forecast", [("series", "FP32", many)]),
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def main_async(family: str, http: str, grpc: str) -> dict[str, str]:
    checks = Checks(make_client(family, http, grpc), http)
    for name in ("health", "metadata", "forecast", "sentiment", "version_pinning"):
        await checks.run(name, getattr(checks, name))
    await checks.run("bad_inputs", checks.bad_inputs)
    await checks.run("oversized", checks.oversized)
    return checks.results


def main() -> int:
    family, http, grpc = (os.environ[name] for name in ("V2_FAMILY", "V2_HTTP", "V2_GRPC"))
    if family not in FAMILIES:
        print(f"V2_FAMILY must be one of {', '.join(FAMILIES)}", file=sys.stderr)
        return 2
    results = asyncio.run(main_async(family, http, grpc))
    print(json.dumps({"checks": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
