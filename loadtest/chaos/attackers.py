"""Hostile clients: idle sockets, slow heads and bodies, oversized heads."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import time
from dataclasses import dataclass


def allow_descriptors(count: int) -> None:
    """Raise this process's soft descriptor limit to hold `count` sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def open_idle(port: int, count: int) -> list[socket.socket]:
    """`count` connections that never send a byte."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sockets.append(sock)
    return sockets


def closed_by_server(sockets: list[socket.socket]) -> int:
    """How many of `sockets` the server has closed (EOF or reset), without blocking."""
    closed = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            if sock.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


@dataclass(frozen=True)
class Ending:
    seconds: float  # from connecting to the server's close
    status: int | None  # the status line the server sent first, if any


async def _drip(port: int, head: bytes, piece: bytes, every_s: float, limit_s: float) -> Ending:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""

    async def read_all() -> None:
        nonlocal received
        with contextlib.suppress(OSError):
            while chunk := await reader.read(65536):
                received += chunk

    reading = asyncio.ensure_future(read_all())
    try:
        writer.write(head)
        while not reading.done() and time.monotonic() - started < limit_s:
            await asyncio.wait([reading], timeout=every_s)
            if not reading.done():
                with contextlib.suppress(OSError):
                    writer.write(piece)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reading, timeout=1)
    finally:
        writer.close()
        reading.cancel()
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else None
    return Ending(time.monotonic() - started, status)


def drip_many(
    port: int, count: int, head: bytes, piece: bytes, every_s: float, limit_s: float
) -> list[Ending]:
    """`count` clients that send `head`, then `piece` every `every_s` until the server
    closes (or `limit_s` passes)."""

    async def all_of_them() -> list[Ending]:
        return list(
            await asyncio.gather(
                *(_drip(port, head, piece, every_s, limit_s) for _ in range(count))
            )
        )

    return asyncio.run(all_of_them())


def oversized_head(head_bytes: int, fields: int = 1) -> bytes:
    """A request whose head is about `head_bytes` long, in `fields` header fields."""
    field_size = max(1, head_bytes // fields)
    value = b"a" * field_size
    lines = [b"X-%d: %s\r\n" % (index, value) for index in range(fields)]
    return b"".join([b"GET /healthz HTTP/1.1\r\nHost: x\r\n", *lines, b"\r\n"])


def send_head(port: int, request: bytes) -> Ending:
    """Send `request` on a new connection; the time to the server's answer and close."""
    started = time.monotonic()
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(request)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                received += chunk
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else None
    return Ending(time.monotonic() - started, status)
