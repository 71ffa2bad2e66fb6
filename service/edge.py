"""The outermost ASGI layer of every HTTP request: request id, access log, metrics, API key, CORS.

A pure ASGI wrapper (not a `BaseHTTPMiddleware`, which costs a task and a stream per request):
it reads or makes the request id, opens the request's `RequestContext`, wraps `send` to add
`X-Request-ID` and note the status, and after the answer counts it, times it and writes the
access line. The API key check and CORS sit between it and the app only when configured.
"""

from __future__ import annotations

import hmac
import itertools
import os
import time
from typing import Any

import orjson
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import context
from service.config import Settings
from service.context import DisconnectProbe, RequestContext
from service.errors import error_body
from service.logs import AccessLog
from service.metrics import RequestRecorder
from service.v2 import http as v2_http

REQUEST_ID_HEADER = b"x-request-id"
CONNECTION_CLOSE = (b"connection", b"close")
MAX_REQUEST_ID_LENGTH = 128
CLIENT_CLOSED = 499  # logged when the client left before any answer (nginx's convention)
_ID_CHARACTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")
_STATIC_ROUTES = frozenset(
    {"/forecast", "/sentiment", "/models", "/healthz", "/readyz", "/metrics", "/openapi.json"}
    | {"/docs", "/docs/oauth2-redirect", "/redoc", "/admin/reload"}
)
# Needs the API key when one is configured: the data plane and the admin endpoints.
_PROTECTED_EXACT = frozenset({"/forecast", "/sentiment"})
_PROTECTED_PREFIX = "/admin/"


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The method for metric labels: any other token a client invents is "other"."""
    return method if method in _METHODS else "other"


def route_of(path: str) -> str:
    """The route template of a path, for metric labels (never the raw path: unbounded)."""
    if path in _STATIC_ROUTES:
        return path
    if v2_http.is_v2(path):
        return v2_http.route_template(path)
    if path.startswith("/docs/assets/"):
        return "/docs/assets/{file}"
    if path.startswith("/models/"):
        depth = path.count("/")
        if depth == 2:
            return "/models/{name}"
        if depth == 3:
            return "/models/{name}/{version}"
    return "unmatched"


class RequestIds:
    """`<process prefix>-<counter>`: unique across workers, far cheaper than a uuid4."""

    def __init__(self) -> None:
        self._prefix = f"{os.getpid():x}{os.urandom(3).hex()}-"
        self._counter = itertools.count(1)

    def take(self, headers: list[tuple[bytes, bytes]]) -> str:
        for name, value in headers:
            if name == REQUEST_ID_HEADER:
                if 0 < len(value) <= MAX_REQUEST_ID_LENGTH and _ID_CHARACTERS.issuperset(value):
                    return value.decode("ascii")
                break  # an unusable id is replaced, not echoed
        return f"{self._prefix}{next(self._counter):x}"


def disconnect_probe(receive: Receive) -> DisconnectProbe | None:
    """A cheap check of whether the client has gone, where the server offers one.

    uvicorn's `receive` is a method of its request cycle, which has a `disconnected` flag set
    when the connection is lost; reading it costs nothing, while listening for
    `http.disconnect` would cost a task per request. Other servers get no probe.
    """
    cycle: Any = getattr(receive, "__self__", None)
    if cycle is None or not isinstance(getattr(cycle, "disconnected", None), bool):
        return None
    return lambda: bool(cycle.disconnected)


class ConnectionRecycler:
    """Counts requests per connection and says when one should close after its answer.

    ASGI names no connection, but while one is open its client address and port are unique
    within a worker. The table is cleared when it grows large (its closed connections are not
    reported): a connection then only lives a little longer.
    """

    def __init__(self, max_requests: int, max_tracked: int = 10_000) -> None:
        self.max_requests = max_requests
        self.max_tracked = max_tracked
        self._served: dict[Any, int] = {}

    def should_close(self, client: Any) -> bool:
        if not self.max_requests or client is None:
            return False
        key = tuple(client)
        served = self._served.get(key, 0) + 1
        if served >= self.max_requests:
            self._served.pop(key, None)
            return True
        if len(self._served) >= self.max_tracked:
            self._served.clear()
        self._served[key] = served
        return False


class ApiKeyGuard:
    """401 for the data plane and admin endpoints unless `X-API-Key` or a Bearer token matches."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        protected = path in _PROTECTED_EXACT or path.startswith(_PROTECTED_PREFIX)
        v2 = v2_http.is_v2(path)
        if v2:
            protected = path.rstrip("/").endswith("/infer")
        if protected and not self._allowed(scope["headers"]):
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="rnn-serving"'),
                    ],
                }
            )
            message = "a valid API key is required (X-API-Key header)"
            body = orjson.dumps({"error": message}) if v2 else error_body("unauthorized", message)
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _allowed(self, headers: list[tuple[bytes, bytes]]) -> bool:
        for name, value in headers:
            if name == b"x-api-key":
                candidate = value
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                candidate = value[7:].strip()
            else:
                continue
            if hmac.compare_digest(candidate, self._key):
                return True
        return False


class Edge:
    """Wraps the app: every HTTP request is identified, counted, timed and logged once."""

    def __init__(self, app: ASGIApp, settings: Settings, access_log: AccessLog | None) -> None:
        inner = app
        if settings.api_key:
            inner = ApiKeyGuard(inner, settings.api_key)
        origins = settings.cors_origin_list
        if origins:
            inner = CORSMiddleware(
                inner,
                allow_origins=origins,
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "authorization",
                    "content-encoding",
                    "content-type",
                    "inference-header-content-length",
                    "x-api-key",
                    "x-request-id",
                ],
                expose_headers=["inference-header-content-length", "retry-after", "x-request-id"],
            )
        self.app = inner
        self.access_log = access_log
        self.recorder = RequestRecorder()
        self.request_ids = RequestIds()
        self.recycler = ConnectionRecycler(settings.max_requests_per_connection)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = self.request_ids.take(scope["headers"])
        extra_headers = [(REQUEST_ID_HEADER, request_id.encode("ascii"))]
        if self.recycler.should_close(scope.get("client")):
            extra_headers.append(CONNECTION_CLOSE)
        status = CLIENT_CLOSED

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), *extra_headers]}
            await send(message)

        request = RequestContext(request_id, client_gone=disconnect_probe(receive))
        token = context.enter(request)
        in_flight = self.recorder.in_flight
        in_flight.count += 1
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            in_flight.count -= 1
            context.leave(token)
            seconds = time.perf_counter() - started
            method: str = scope["method"]
            path: str = scope["path"]
            self.recorder.record(
                route_of(path),
                method_label(method),
                status,
                request.model,
                request.version,
                seconds,
                "v2" if v2_http.is_v2(path) else "native",
            )
            if self.access_log is not None:
                self.access_log.write(
                    method, path, status, seconds, request_id, request.model, request.version
                )
