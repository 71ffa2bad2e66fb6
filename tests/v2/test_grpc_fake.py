"""The gRPC front end against a fake backend, called through the generated stubs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import numpy as np
import pytest

from service.config import Settings
from service.v2.grpc_limits import GrpcLimits
from service.v2.grpc_server import GrpcServer, InferenceServicer, RpcRecord
from service.v2.proto import grpc_predict_v2_pb2 as pb
from service.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from tests.v2.fake import FakeBackend

T = TypeVar("T")
Scenario = Callable[[pb_grpc.GRPCInferenceServiceStub, list[RpcRecord]], Awaitable[T]]


def run(scenario: Scenario[T], api_key: str = "") -> T:
    async def main() -> T:
        records: list[RpcRecord] = []
        servicer = InferenceServicer(FakeBackend(), api_key=api_key, observer=records.append)
        limits = GrpcLimits.from_settings(Settings(max_body_bytes=4096))
        server = GrpcServer(servicer, "127.0.0.1", 0, reuse_port=False, limits=limits)
        port = await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await scenario(pb_grpc.GRPCInferenceServiceStub(channel), records)
        finally:
            await server.stop(1.0)

    return asyncio.run(main())


def double_request(x: np.ndarray, version: str = "") -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="double", model_version=version, id="r1")
    request.inputs.add(name="x", datatype="FP32", shape=x.shape)
    request.raw_input_contents.append(x.astype("<f4").tobytes())
    return request


def test_health_metadata_and_raw_inference() -> None:
    async def scenario(stub: pb_grpc.GRPCInferenceServiceStub, records: list[RpcRecord]) -> None:
        assert (await stub.ServerLive(pb.ServerLiveRequest())).live
        assert (await stub.ServerReady(pb.ServerReadyRequest())).ready
        assert (await stub.ModelReady(pb.ModelReadyRequest(name="double", version="1"))).ready
        server = await stub.ServerMetadata(pb.ServerMetadataRequest())
        assert list(server.extensions) == ["binary_tensor_data"]
        meta = await stub.ModelMetadata(pb.ModelMetadataRequest(name="double"))
        assert list(meta.versions) == ["1", "2"] and list(meta.inputs[0].shape) == [-1, -1]
        x = np.array([[1.0, 2.0]], dtype=np.float32)
        answer = await stub.ModelInfer(double_request(x, version="1"))
        assert (answer.model_version, answer.id, answer.outputs[0].name) == ("1", "r1", "y")
        y = np.frombuffer(answer.raw_output_contents[0], dtype="<f4")
        np.testing.assert_array_equal(y, [2.0, 4.0])
        assert records[-1].method == "ModelInfer" and records[-1].status == 200

    run(scenario)


def test_typed_contents_and_bytes() -> None:
    async def scenario(stub: pb_grpc.GRPCInferenceServiceStub, records: list[RpcRecord]) -> None:
        request = pb.ModelInferRequest(model_name="words")
        tensor = request.inputs.add(name="text", datatype="BYTES", shape=[2])
        tensor.contents.bytes_contents.extend([b"ab", b"c"])
        request.outputs.add(name="upper")
        answer = await stub.ModelInfer(request)
        assert [output.name for output in answer.outputs] == ["upper"]
        assert answer.raw_output_contents[0] == b"\2\0\0\0AB\1\0\0\0C"

    run(scenario)


@pytest.mark.parametrize(
    ("mutate", "code", "message"),
    [
        (lambda r: setattr(r, "model_name", "nope"), grpc.StatusCode.NOT_FOUND, "unknown model"),
        (
            lambda r: setattr(r.inputs[0], "datatype", "FP64"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "has datatype FP64",
        ),
        (lambda r: r.inputs[0].shape.append(2), grpc.StatusCode.INVALID_ARGUMENT, "needs 16 bytes"),
        (
            lambda r: r.parameters["fail"].CopyFrom(pb.InferParameter(int64_param=503)),
            grpc.StatusCode.UNAVAILABLE,
            "asked to fail",
        ),
        (
            lambda r: r.parameters["fail"].CopyFrom(pb.InferParameter(int64_param=504)),
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "asked to fail",
        ),
        (
            lambda r: r.raw_input_contents.append(b"x" * 5000),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "",
        ),
    ],
)
def test_errors_are_grpc_codes(
    mutate: Callable[[pb.ModelInferRequest], object], code: grpc.StatusCode, message: str
) -> None:
    async def scenario(
        stub: pb_grpc.GRPCInferenceServiceStub, records: list[RpcRecord]
    ) -> grpc.aio.AioRpcError:
        request = double_request(np.ones((1, 2), dtype=np.float32))
        mutate(request)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ModelInfer(request)
        return caught.value

    error = run(scenario)
    assert error.code() == code
    assert message in (error.details() or "")


def test_api_key_guards_inference_only() -> None:
    async def scenario(stub: pb_grpc.GRPCInferenceServiceStub, records: list[RpcRecord]) -> None:
        assert (await stub.ServerReady(pb.ServerReadyRequest())).ready
        request = double_request(np.ones((1, 1), dtype=np.float32))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ModelInfer(request, metadata=(("x-api-key", "wrong"),))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        await stub.ModelInfer(request, metadata=(("authorization", "Bearer s3cret"),))
        await stub.ModelInfer(request, metadata=(("x-api-key", "s3cret"),))
        assert [record.status for record in records[-3:]] == [401, 200, 200]

    run(scenario, api_key="s3cret")
