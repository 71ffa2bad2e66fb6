"""The data plane: POST <task route> from the ASGI scope to the answer bytes, for every task.

A pure ASGI handler that `ServiceApp` calls before FastAPI sees the request: measured on
this service's machine, FastAPI's request machinery (middleware stack, routing, dependency
solving, a pydantic body) cost several times the model on these small requests. The routes
come from the registered tasks; OpenAPI describes them from the tasks' schemas
(service.openapi). `run` is the task-independent request path that every protocol face uses.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import orjson
from starlette.types import Receive, Scope, Send

from service.config import Settings
from service.encoding import decoded
from service.errors import ServiceError, error_body
from service.registry import LoadedModel
from service.state import ServiceState
from service.tasks import ROUTES, Prepared, Query, Task
from service.tasks.checks import Limits

logger = logging.getLogger(__name__)

_JSON_HEADERS = [(b"content-type", b"application/json")]


class Disconnected(Exception):
    """The client closed the connection before sending the whole body."""


def check_content_type(value: str) -> None:
    if value.split(";", 1)[0].strip().lower() != "application/json":
        shown = value or "no content type"
        raise ServiceError(
            415, "unsupported_media_type", f"the body must be application/json, got {shown!r}"
        )


def too_large(size: int, limit: int) -> ServiceError:
    return ServiceError(
        413,
        "payload_too_large",
        f"the body has {size} bytes or more, the limit is {limit} "
        "(--max-body-bytes, RNN_SERVE_MAX_BODY_BYTES)",
    )


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body, size-limited before and while reading (413)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise too_large(int(value), limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def run(state: ServiceState, task: Task, limits: Limits, body: Any) -> bytes:
    """One request of `task`: decode, pick the model, prepare, batch, encode."""
    registry = state.serving()
    query = task.decode(body, limits)
    model = registry.resolve(task.name, query.model, query.version)
    prepared, output = await infer(model, query, limits)
    return model.codec.encode(prepared, output)


async def infer(model: LoadedModel, query: Query, limits: Limits) -> tuple[Prepared, np.ndarray]:
    """A decoded query through the model's checks and its batcher (every protocol shares it)."""
    prepared = model.codec.prepare(query, limits)
    output = await model.batcher.submit(prepared.rows)  # checked first: bad requests never queue
    return prepared, output


class DataPlane:
    """Answers the tasks' routes (a trailing slash is the same route); None for other paths."""

    def __init__(self, state: ServiceState, settings: Settings) -> None:
        self.state = state
        self.max_body_bytes = settings.max_body_bytes
        self.limits = Limits(
            max_items=settings.max_items,
            max_series_length=settings.max_series_length,
            max_text_chars=settings.max_text_chars,
        )

    @staticmethod
    def task_for(path: str) -> Task | None:
        task = ROUTES.get(path)
        if task is None and len(path) > 1 and path.endswith("/"):
            task = ROUTES.get(path[:-1])
        return task

    async def __call__(self, task: Task, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request on a data-plane route; every failure becomes the one error body."""
        headers: list[tuple[bytes, bytes]] = []
        try:
            if scope["method"] != "POST":
                headers.append((b"allow", b"POST"))
                raise ServiceError(
                    405,
                    "method_not_allowed",
                    f"{task.route} takes POST with a JSON body, not {scope['method']} "
                    "(see /docs for the body)",
                )
            content_type, encoding = "", b""
            for name, value in scope["headers"]:
                if name == b"content-type":
                    content_type = value.decode("latin-1")
                elif name == b"content-encoding":
                    encoding = value.strip().lower()
            check_content_type(content_type)
            raw = await read_body(scope, receive, self.max_body_bytes)
            body = parse_json(decoded(raw, encoding, self.max_body_bytes, too_large))
            status, answer = 200, await run(self.state, task, self.limits, body)
        except Disconnected:
            return
        except ServiceError as exc:
            if exc.status == 500:  # 503/504 under overload are counted, not logged one by one
                logger.error("POST %s: %s", scope["path"], exc.message)
            status, answer = exc.status, exc.body()
            headers += [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in exc.headers.items()
            ]
        except Exception:
            logger.exception("unexpected error on POST %s", scope["path"])
            status, answer = 500, error_body("internal_error", "an internal error occurred")
        # With a content-length the server need not chunk the body.
        start_headers = [*_JSON_HEADERS, (b"content-length", b"%d" % len(answer)), *headers]
        await send({"type": "http.response.start", "status": status, "headers": start_headers})
        await send({"type": "http.response.body", "body": answer})
