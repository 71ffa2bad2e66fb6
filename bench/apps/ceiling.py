"""The HTTP ceiling: a bare ASGI app that reads and parses the same JSON body as the service
and answers a fixed body of the same size (the service's own answer, captured by the harness).

No framework, no validation, no inference: what uvicorn alone can do on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ANSWERS_ENV = "BENCH_CEILING_ANSWERS"  # JSON file: {"/forecast": "<answer text>", ...}

_DEFAULT_ANSWERS = {
    "/forecast": '{"model":"forecast","version":"1","horizon":10,"forecasts":[[0.0]]}',
    "/sentiment": '{"model":"sentiment","version":"1","results":[]}',
}


def _load_answers() -> dict[str, bytes]:
    path = os.environ.get(ANSWERS_ENV)
    answers = dict(_DEFAULT_ANSWERS)
    if path:
        answers.update(orjson.loads(Path(path).read_bytes()))
    return {route: text.encode("utf-8") for route, text in answers.items()}


ANSWERS = _load_answers()
_JSON = [(b"content-type", b"application/json")]


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    answer = ANSWERS.get(scope["path"])
    if answer is None or scope["method"] != "POST":
        await _respond(send, 404, b'{"error":"not found"}')
        return
    try:
        orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        await _respond(send, 400, b'{"error":"invalid JSON"}')
        return
    await _respond(send, 200, answer)
