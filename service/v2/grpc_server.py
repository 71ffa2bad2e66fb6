"""The protocol over gRPC: `inference.GRPCInferenceService` on grpc.aio, from a `Backend`.

Inputs come as `raw_input_contents` (what tritonclient and KServe's client send) or typed
`contents`; outputs always go back as `raw_output_contents`. With an API key configured,
ModelInfer needs `x-api-key` or `authorization: Bearer <key>` metadata (health and metadata
stay open, like their HTTP twins). Every call is reported to an `RpcObserver` (access line,
metrics) with the HTTP status its gRPC code corresponds to.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import numpy as np

from service import context as request_context
from service.context import RequestContext
from service.errors import ServiceError
from service.logs import AccessLog
from service.metrics import RequestRecorder
from service.v2 import metadata, tensors
from service.v2.backend import Backend, Parameter
from service.v2.grpc_limits import GrpcLimits
from service.v2.proto import grpc_predict_v2_pb2 as pb
from service.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from service.v2.request import check_all_inputs, check_input, check_output
from service.v2.status import grpc_code, http_status_of
from service.v2.tensors import invalid_tensor

logger = logging.getLogger(__name__)

SERVICE = "inference.GRPCInferenceService"
_Reply = TypeVar("_Reply")


@dataclass(frozen=True)
class RpcRecord:
    method: str  # e.g. "ModelInfer"
    code: grpc.StatusCode
    status: int  # the HTTP status of the same outcome
    seconds: float
    request_id: str
    model: str
    version: str


RpcObserver = Callable[[RpcRecord], None]
RequestIdMaker = Callable[[list[tuple[bytes, bytes]]], str]


def rpc_observer(recorder: RequestRecorder, access_log: AccessLog | None) -> RpcObserver:
    """Counts and logs a call like an HTTP request: gRPC is HTTP/2 POST to /<service>/<method>."""

    def observe(record: RpcRecord) -> None:
        path = f"/{SERVICE}/{record.method}"
        recorder.record(
            path, "POST", record.status, record.model, record.version, record.seconds, "v2-grpc"
        )
        if access_log is not None:
            access_log.write(
                "POST",
                path,
                record.status,
                record.seconds,
                record.request_id,
                record.model,
                record.version,
            )

    return observe


def _counter_ids() -> RequestIdMaker:
    counter = iter(range(1, 1 << 62))
    return lambda headers: f"grpc-{next(counter):x}"


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(
        self,
        backend: Backend,
        api_key: str = "",
        observer: RpcObserver | None = None,
        request_ids: RequestIdMaker | None = None,
    ) -> None:
        self.backend = backend
        self._key = api_key.encode()
        self.observer = observer
        self.request_ids = request_ids or _counter_ids()

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerLiveResponse:
        return await self._serve("ServerLive", context, self._live)

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerReadyResponse:
        return await self._serve("ServerReady", context, self._ready)

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        async def answer() -> pb.ModelReadyResponse:
            model = self.backend.model(request.name, request.version or None)
            return pb.ModelReadyResponse(ready=self.backend.model_ready(model.name, model.version))

        return await self._serve("ModelReady", context, answer)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        async def answer() -> pb.ServerMetadataResponse:
            return pb.ServerMetadataResponse(**metadata.server_json())

        return await self._serve("ServerMetadata", context, answer)

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        async def answer() -> pb.ModelMetadataResponse:
            model = self.backend.model(request.name, request.version or None)
            versions = [m.version for m in self.backend.models() if m.name == model.name]
            tensor = pb.ModelMetadataResponse.TensorMetadata
            return pb.ModelMetadataResponse(
                name=model.name,
                versions=versions,
                platform=model.platform,
                inputs=[
                    tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in model.inputs
                ],
                outputs=[
                    tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in model.outputs
                ],
            )

        return await self._serve("ModelMetadata", context, answer)

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        async def answer() -> pb.ModelInferResponse:
            self._authorize(context)
            return await self._infer(request)

        return await self._serve("ModelInfer", context, answer)

    async def _live(self) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.backend.live())

    async def _ready(self) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.backend.ready())

    async def _serve(
        self,
        method: str,
        context: grpc.aio.ServicerContext,
        answer: Callable[[], Awaitable[_Reply]],
    ) -> _Reply:
        started = time.perf_counter()
        headers = _metadata(context)
        request_id = self.request_ids(headers)
        request = RequestContext(
            request_id, client_gone=context.cancelled, one_per_connection=False
        )
        token = request_context.enter(request)
        code = grpc.StatusCode.OK
        message = ""
        trailers: tuple[tuple[str, str], ...] = (("x-request-id", request_id),)
        try:
            context.set_trailing_metadata(trailers)
            return await answer()
        except ServiceError as exc:
            code, message = grpc_code(exc.status), exc.message
            if exc.status >= 500 and exc.status not in (503, 504):
                logger.error("gRPC %s: %s", method, exc.message)
            trailers += tuple((name.lower(), value) for name, value in exc.headers.items())
        except asyncio.CancelledError:  # the client cancelled, or its deadline passed
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception:
            logger.exception("unexpected error in gRPC %s", method)
            code, message = grpc.StatusCode.INTERNAL, "an internal error occurred"
        finally:
            request_context.leave(token)
            if self.observer is not None:
                self.observer(
                    RpcRecord(
                        method,
                        code,
                        http_status_of(code),
                        time.perf_counter() - started,
                        request_id,
                        request.model,
                        request.version,
                    )
                )
        await context.abort(code, message, trailing_metadata=trailers)
        raise AssertionError("unreachable: abort raises")

    def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        if not self._key:
            return
        for name, value in _metadata(context):
            if name == b"x-api-key":
                candidate = value
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                candidate = value[7:].strip()
            else:
                continue
            if hmac.compare_digest(candidate, self._key):
                return
        raise ServiceError(401, "unauthorized", "a valid API key is required (x-api-key metadata)")

    async def _infer(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        model = self.backend.model(request.model_name, request.model_version or None)
        raw = request.raw_input_contents
        if raw and len(raw) != len(request.inputs):
            raise invalid_tensor(
                f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs"
            )
        inputs: dict[str, np.ndarray] = {}
        seen: set[str] = set()
        for index, tensor in enumerate(request.inputs):
            name, datatype = check_input(model, tensor.name, tensor.datatype, index, seen)
            label = f"input {name!r}"
            shape = tensors.check_shape(label, list(tensor.shape))
            if raw:
                inputs[name] = tensors.from_bytes(label, datatype, shape, raw[index])
            else:
                inputs[name] = tensors.from_contents(label, datatype, shape, tensor.contents)
        check_all_inputs(model, seen)
        requested = [check_output(model, out.name, i) for i, out in enumerate(request.outputs)]
        parameters = {key: _parameter(value) for key, value in request.parameters.items()}
        result = await self.backend.infer(
            model.name, model.version, inputs, requested or None, parameters
        )
        response = pb.ModelInferResponse(
            model_name=result.model_name, model_version=result.model_version, id=request.id
        )
        for name, array in result.outputs.items():
            if requested and name not in requested:
                continue
            output = response.outputs.add()
            output.name = name
            output.datatype = tensors.datatype_of(array)
            output.shape.extend(array.shape)
            response.raw_output_contents.append(tensors.to_bytes(array))
        return response


def _metadata(context: grpc.aio.ServicerContext) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []
    for key, value in context.invocation_metadata() or ():
        data = value if isinstance(value, bytes) else str(value).encode("latin-1", "replace")
        pairs.append((key.lower().encode("latin-1"), data))
    return pairs


def _parameter(value: Any) -> Parameter:
    choice = value.WhichOneof("parameter_choice")
    if choice is None:
        raise invalid_tensor("a request parameter has no value")
    result: Parameter = getattr(value, choice)
    return result


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GrpcServer:
    """A grpc.aio server of one process, started and stopped with its HTTP server."""

    def __init__(
        self,
        servicer: InferenceServicer,
        host: str,
        port: int,
        *,
        reuse_port: bool,
        limits: GrpcLimits,
    ) -> None:
        self.servicer = servicer
        self.address = listen_address(host, port)
        self.limits = limits
        self.options = [
            # Several worker processes serve one port, as uvicorn's workers share theirs; with
            # one process, a port already taken must fail the start.
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            *limits.channel_options(),
        ]
        self._server: grpc.aio.Server | None = None
        self._stopping: asyncio.Future[None] | None = None
        self.port = 0

    async def start(self) -> int:
        server = grpc.aio.server(
            options=self.options, maximum_concurrent_rpcs=self.limits.max_concurrent_rpcs
        )
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(self.servicer, server)
        try:
            self.port = server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise OSError(f"cannot listen for gRPC on {self.address}: {exc}") from exc
        await server.start()
        self._server = server
        return self.port

    def begin_stop(self, grace_s: float) -> None:
        """Refuse new calls at once; give running ones up to grace_s to finish (in the
        background: `stop` waits for it)."""
        if self._server is not None and self._stopping is None:
            self._stopping = asyncio.ensure_future(self._server.stop(grace_s))

    async def stop(self, grace_s: float) -> None:
        """`begin_stop`, if not begun yet, and wait until the server has stopped."""
        self.begin_stop(grace_s)
        if self._stopping is not None:
            await self._stopping
            self._server = None
