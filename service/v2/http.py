"""The protocol over HTTP: a pure ASGI handler for every `/v2...` path.

Like the native data plane's fast path it bypasses FastAPI's router (whose request machinery
costs more than a small model), parses with orjson and checks by hand. It speaks JSON
tensors and the binary tensor data extension (`Inference-Header-Content-Length`, the
`binary_data_size`, `binary_data` and `binary_data_output` parameters), and gzip or deflate
request bodies. Every failure is answered as `{"error": "<message>"}`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from service.encoding import decoded
from service.errors import ServiceError
from service.v2 import metadata
from service.v2.backend import Backend, InferResult, ModelMetadata
from service.v2.request import BINARY_DATA_SIZE, InferRequest, decode_http
from service.v2.status import http_status
from service.v2.tensors import datatype_of, invalid_tensor, to_bytes, to_json_data

logger = logging.getLogger(__name__)

PREFIX = "/v2"
HEADER_LENGTH = b"inference-header-content-length"
_JSON = (b"content-type", b"application/json")
_OCTETS = (b"content-type", b"application/octet-stream")
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def is_v2(path: str) -> bool:
    return path == PREFIX or path.startswith("/v2/")


@dataclass(frozen=True)
class Route:
    kind: str  # "server", "live", "ready", "model", "model_ready", "infer"
    model: str = ""
    version: str | None = None

    @property
    def method(self) -> str:
        return "POST" if self.kind == "infer" else "GET"

    @property
    def template(self) -> str:
        """The route for metric labels: never the raw path, whose names are unbounded."""
        if self.kind in _FIXED_TEMPLATES:
            return _FIXED_TEMPLATES[self.kind]
        base = "/v2/models/{model}" + ("/versions/{version}" if self.version is not None else "")
        return base + {"model": "", "model_ready": "/ready", "infer": "/infer"}[self.kind]


_FIXED_TEMPLATES = {"server": "/v2", "live": "/v2/health/live", "ready": "/v2/health/ready"}
_ACTIONS = {"": "model", "ready": "model_ready", "infer": "infer"}


@functools.lru_cache(maxsize=1024)  # the edge and the handler both ask, per request
def parse_route(path: str) -> Route | None:
    """The protocol's route of a `/v2` path, or None for a path the protocol does not have."""
    parts = path[len(PREFIX) :].strip("/").split("/") if path != PREFIX else []
    if not parts or parts == [""]:
        return Route("server")
    if parts[0] == "health" and len(parts) == 2 and parts[1] in ("live", "ready"):
        return Route(parts[1])
    if parts[0] != "models" or len(parts) < 2 or not parts[1]:
        return None
    model, rest = parts[1], parts[2:]
    version = None
    if len(rest) >= 2 and rest[0] == "versions" and rest[1]:
        version, rest = rest[1], rest[2:]
    if len(rest) > 1:
        return None
    kind = _ACTIONS.get(rest[0] if rest else "")
    return None if kind is None else Route(kind, model, version)


def route_template(path: str) -> str:
    route = parse_route(path)
    return route.template if route is not None else "unmatched"


class _Disconnected(Exception):
    """The client closed the connection before sending the whole body."""


class V2Http:
    """Answers every `/v2...` request from a `Backend`."""

    def __init__(self, backend: Backend, max_body_bytes: int) -> None:
        self.backend = backend
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = [_JSON]
        try:
            route = parse_route(scope["path"])
            if route is None:
                raise ServiceError(404, "not_found", f"no protocol endpoint at {scope['path']}")
            method = scope["method"]
            if method != route.method and not (method == "HEAD" and route.method == "GET"):
                raise ServiceError(
                    405,
                    "method_not_allowed",
                    f"{route.template} takes {route.method}, not {method}",
                    headers={"Allow": route.method},
                )
            if route.kind == "infer":
                status, body, headers = await self._infer(route, scope, receive)
            else:
                status, body = self._get(route)
        except _Disconnected:
            return
        except ServiceError as exc:
            if exc.status >= 500 and exc.status not in (503, 504):
                logger.error("%s %s: %s", scope["method"], scope["path"], exc.message)
            status, body = http_status(exc.status), orjson.dumps({"error": exc.message})
            headers = [_JSON, *_encode_headers(exc.headers)]
        except Exception:
            logger.exception("unexpected error on %s %s", scope["method"], scope["path"])
            status, body = 500, orjson.dumps({"error": "an internal error occurred"})
            headers = [_JSON]
        headers.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    def _get(self, route: Route) -> tuple[int, bytes]:
        backend = self.backend
        if route.kind == "server":
            return 200, orjson.dumps(metadata.server_json())
        if route.kind == "live":
            live = backend.live()
            return (200 if live else 503), orjson.dumps({"live": live})
        if route.kind == "ready":
            ready = backend.ready()
            return (200 if ready else 503), orjson.dumps({"ready": ready})
        model = backend.model(route.model, route.version)  # 404 if unknown
        if route.kind == "model_ready":
            ready = backend.model_ready(model.name, model.version)
            body = {"name": model.name, "version": model.version, "ready": ready}
            return (200 if ready else 503), orjson.dumps(body)
        versions = [m.version for m in backend.models() if m.name == model.name]
        return 200, orjson.dumps(metadata.model_json(model, versions))

    async def _infer(
        self, route: Route, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        header_length: int | None = None
        encoding = b""
        declared = b""
        for name, value in scope["headers"]:
            if name == HEADER_LENGTH:
                if not value.isdigit():
                    raise invalid_tensor("Inference-Header-Content-Length must be an integer")
                header_length = int(value)
            elif name == b"content-length":
                declared = value
            elif name == b"content-encoding":
                encoding = value.strip().lower()
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _too_large(int(declared), self.max_body_bytes)
        raw = await self._read_body(receive)
        raw = decoded(raw, encoding, self.max_body_bytes, _too_large)
        model = self.backend.model(route.model, route.version)
        request = _decode(model, raw, header_length)
        result = await self.backend.infer(
            model.name, model.version, request.inputs, request.output_names(), request.parameters
        )
        return encode_response(result, request)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _too_large(size, self.max_body_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _decode(model: ModelMetadata, raw: bytes, header_length: int | None) -> InferRequest:
    if header_length == 0:
        raise invalid_tensor(
            "raw binary requests (Inference-Header-Content-Length: 0) are not supported: "
            "send a JSON inference header"
        )
    if header_length is not None and header_length > len(raw):
        raise invalid_tensor(
            f"Inference-Header-Content-Length is {header_length}, the body has {len(raw)} bytes"
        )
    view = memoryview(raw)
    json_part = view if header_length is None else view[:header_length]
    try:
        header = orjson.loads(json_part)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(
            400, "malformed_json", f"the inference header is not JSON: {exc}"
        ) from exc
    return decode_http(model, header, view[len(json_part) :])


def encode_response(
    result: InferResult, request: InferRequest
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """JSON outputs, or the JSON header followed by the binary outputs."""
    wanted = (
        {output.name: output.binary for output in request.outputs}
        if request.outputs is not None
        else None
    )
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in result.outputs.items():
        if wanted is not None and name not in wanted:
            continue
        binary = wanted.get(name) if wanted is not None else None
        entry: dict[str, Any] = {
            "name": name,
            "datatype": datatype_of(array),
            "shape": list(array.shape),
        }
        if binary if binary is not None else request.binary_output:
            blob = to_bytes(array)
            entry["parameters"] = {BINARY_DATA_SIZE: len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = to_json_data(array)
        outputs.append(entry)
    answer: dict[str, Any] = {
        "model_name": result.model_name,
        "model_version": result.model_version,
    }
    if request.id is not None:
        answer["id"] = request.id
    answer["outputs"] = outputs
    body = orjson.dumps(answer, option=_NUMPY)
    if not blobs:
        return 200, body, [_JSON]
    headers = [_OCTETS, (HEADER_LENGTH, b"%d" % len(body))]
    return 200, b"".join([body, *blobs]), headers


def _too_large(size: int, limit: int) -> ServiceError:
    return ServiceError(
        413, "payload_too_large", f"the body has {size} bytes or more, the limit is {limit}"
    )


def _encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]
