"""service.protocol counts the HTTP connections it accepted in service.context, and no others."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import uvicorn
from starlette.types import Receive, Scope, Send

from loadtest.process import free_port
from service import context
from service.config import Settings
from service.limits import ConnectionLimits
from service.protocol import LimitedHttpToolsProtocol
from service.server import ServiceConfig


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@contextmanager
def served(limits: ConnectionLimits) -> Iterator[int]:
    port = free_port()
    config = ServiceConfig(
        limits,
        app=ok,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http=LimitedHttpToolsProtocol,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_open_connections_follow_accepted_connections() -> None:
    limits = ConnectionLimits.from_settings(Settings())
    before = context.open_connections() or 0
    with served(limits) as port:
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        assert eventually(lambda: context.open_connections() == before + 3)
        for client in clients:
            client.close()
        assert eventually(lambda: context.open_connections() == before)


def test_connections_closed_to_make_room_at_the_cap_are_not_counted() -> None:
    limits = replace(ConnectionLimits.from_settings(Settings()), max_connections=1)
    before = context.open_connections() or 0
    with served(limits) as port:
        clients = []
        for _ in range(4):  # each new one makes the idle one before it close
            clients.append(socket.create_connection(("127.0.0.1", port)))
            assert eventually(lambda: context.open_connections() == before + 1)
        for client in clients:
            client.close()
        assert eventually(lambda: context.open_connections() == before)
