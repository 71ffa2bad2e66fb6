"""A pure ASGI fast path for the data plane (POST /forecast and POST /sentiment).

FastAPI's request machinery (middleware stack, routing, dependency solving) costs several
times the model on these small requests (FACTS.md, "HTTP serving"). `ServiceApp.__call__`
(service.app) sends the two data-plane routes here before FastAPI sees them; they run the same
pipeline, limits and error bodies as the documented FastAPI routes, which serve them when
`Settings.fast_path` is off. The test suite runs against both.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from service import pipeline
from service.errors import ServiceError, error_body

logger = logging.getLogger(__name__)

_JSON_HEADERS = [(b"content-type", b"application/json")]


class _Disconnected(Exception):
    """The client closed the connection before sending the whole body."""


async def serve(
    state: State, handler: pipeline.Handler, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one data-plane request; every failure becomes the one error body."""
    extra_headers: list[tuple[bytes, bytes]] = []
    try:
        body = await _read_json(state, scope, receive)
        registry = state.registry
        if registry is None or not state.ready:
            raise ServiceError(503, "not_ready", "the models are not loaded yet")
        status, answer = 200, await handler(registry, state.limits, body)
    except _Disconnected:
        return
    except ServiceError as exc:
        if exc.status == 500:  # 503/504 under overload are counted, not logged one by one
            logger.error("POST %s: %s", scope["path"], exc.message)
        status, answer = exc.status, exc.body()
        if exc.headers:
            extra_headers = _encode(exc.headers)
    except Exception:
        logger.exception("unexpected error on POST %s", scope["path"])
        status, answer = 500, error_body("internal_error", "an internal error occurred")
    # With a content-length the server need not chunk the body.
    headers = [*_JSON_HEADERS, (b"content-length", b"%d" % len(answer)), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


async def _read_json(state: State, scope: Scope, receive: Receive) -> Any:
    content_type = content_length = ""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"content-length":
            content_length = value.decode("latin-1")
    pipeline.check_content_type(content_type)
    limit: int = state.settings.max_body_bytes
    pipeline.check_declared_size(content_length, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise pipeline.too_large(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return pipeline.parse_json(chunks[0] if len(chunks) == 1 else b"".join(chunks))
