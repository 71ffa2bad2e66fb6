"""service.protocol's HeadJoiningWriter, driven by uvicorn's own request cycle."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from typing import Any, cast

import pytest
from uvicorn._types import HTTPResponseBodyEvent, HTTPResponseStartEvent
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from service.protocol import HeadJoiningWriter


class RecordingTransport:
    """What the kernel would be asked to send: one entry per write or writelines call."""

    def __init__(self) -> None:
        self.sends: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sends.append(bytes(data))

    def writelines(self, pieces: Any) -> None:
        self.sends.append(b"".join(pieces))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class NoFlowControl:
    write_paused = False


def cycle_on(transport: RecordingTransport, method: str = "POST") -> RequestResponseCycle:
    scope = {"type": "http", "method": method, "path": "/forecast", "http_version": "1.1"}
    cycle = RequestResponseCycle(
        scope=scope,  # type: ignore[arg-type]
        transport=transport,  # type: ignore[arg-type]
        flow=NoFlowControl(),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )
    writer = HeadJoiningWriter(cast(asyncio.Transport, transport), cycle)
    cycle.transport = writer  # type: ignore[assignment]
    return cycle


def start(length: int | None) -> HTTPResponseStartEvent:
    headers = [(b"content-type", b"application/json")]
    if length is not None:
        headers.append((b"content-length", b"%d" % length))
    return {"type": "http.response.start", "status": 200, "headers": headers}


def body(data: bytes, more: bool = False) -> HTTPResponseBodyEvent:
    return {"type": "http.response.body", "body": data, "more_body": more}


def played(
    *messages: HTTPResponseStartEvent | HTTPResponseBodyEvent, method: str = "POST"
) -> tuple[RecordingTransport, RequestResponseCycle]:
    """What the cycle sent for `messages`, and the cycle."""
    transport = RecordingTransport()

    async def play() -> RequestResponseCycle:
        cycle = cycle_on(transport, method)
        for message in messages:
            await cycle.send(message)
        return cycle

    return transport, asyncio.run(play())


def test_head_and_body_leave_in_one_send() -> None:
    assert played(start(7))[0].sends == []  # held for its body
    transport, cycle = played(start(7), body(b'{"a":1}'))
    [sent] = transport.sends
    assert sent.startswith(b"HTTP/1.1 200 OK\r\n")
    assert sent.endswith(b"content-length: 7\r\n\r\n" + b'{"a":1}')
    assert cycle.response_complete


def test_a_body_in_pieces_joins_only_its_first_piece() -> None:
    # body bytes that look like a head
    transport, _ = played(start(11), body(b"HTTP/", more=True), body(b"1.1 xx"))
    assert len(transport.sends) == 2
    assert transport.sends[0].endswith(b"\r\n\r\nHTTP/")
    assert transport.sends[1] == b"1.1 xx"


@pytest.mark.parametrize(
    ("method", "length"),
    [("HEAD", 7), ("GET", 0), ("GET", None)],  # no body, an empty one, chunked
    ids=["head-request", "empty-body", "chunked"],
)
def test_a_head_without_a_sized_body_is_sent_at_once(method: str, length: int | None) -> None:
    [head] = played(start(length), method=method)[0].sends
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")


def test_closing_drops_a_held_head() -> None:
    transport, cycle = played(start(7))
    cycle.transport.close()
    assert transport.closed and transport.sends == []
    assert cycle.transport.is_closing()


def test_an_answered_cycle_is_freed_without_the_garbage_collector() -> None:
    transport, cycle = played(start(7), body(b'{"a":1}'))
    assert len(transport.sends) == 1
    freed = weakref.ref(cycle)
    gc.disable()  # only reference counting may free it
    try:
        del cycle
        assert freed() is None, "the writer and its request cycle refer to each other"
    finally:
        gc.enable()
