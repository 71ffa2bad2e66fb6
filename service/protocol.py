"""uvicorn's httptools protocol with the limits it lacks, so no client holds a worker for long.

uvicorn bounds only the idle time after an answer (`timeout_keep_alive`) and counts
connections per request (`limit_concurrency`, which still accepts every socket). This
subclass adds, per connection (`ConnectionLimits`):

- the size of the request line + headers, counted before the parser sees the bytes
  (httptools joins a header's pieces by concatenation: a huge header costs quadratic time),
  and the number of header fields: 431;
- the time from a request's first byte to the end of its headers (slowloris) and from the
  end of the headers to the end of the body: 408 and close;
- the idle time of a new connection before its first byte (uvicorn arms its keep-alive
  timer only after an answer);
- the connections open in the worker: above the cap the connection idle the longest (no
  request running on it) is closed to make room, else the new one gets 503 and is closed;
- 400 for HTTP/1.1 without Host, and the one JSON error body for a request that is not HTTP.

It also sends a response's head and the first piece of its body in one write
(`HeadJoiningWriter`): uvicorn writes them apart, two send(2) calls and two TCP segments per
answer; joined, a small forecast request cost about 4% less CPU on this service's machine.

The head and body deadlines are timestamps that one sweep per worker checks a few times per
second (at most a quarter of a second late; `_sweep_interval`), not a timer per request phase:
creating and cancelling a uvloop timer costs 4-7 us, and a request would need two.
"""

from __future__ import annotations

import asyncio
import http
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from service import context, metrics
from service.errors import error_body
from service.limits import ConnectionLimits


class _Rejected(Exception):
    """Raised from a parser callback to stop parsing; the protocol answers `status`."""


class HeadJoiningWriter:
    """A request cycle's view of the transport that holds the response head for its body.

    Only a head whose body must follow is held: a Content-Length above zero and not HEAD,
    which uvicorn has read from the head before writing it. The first body write then sends
    both with one `writelines` (one writev(2) on uvloop). A cycle that ends without a body
    after such a head is an app that broke its own Content-Length: uvicorn closes the
    connection then, and the held head is dropped with it.

    The cycle refers to its writer (`cycle.transport`), so the writer lets go of the cycle
    once it has seen the head: else every answered request would leave a reference cycle of
    about eight objects that only the cyclic garbage collector frees. Measured under load (32
    clients, forecast): with the cycle, a worker's oldest generation held about 2,500 dead
    request cycles and each full collection took about 50 ms; without it, about 3 ms.
    """

    __slots__ = ("_cycle", "_head_sent", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle: RequestResponseCycle | None = cycle
        self._held: bytes | None = None
        self._head_sent = False

    def write(self, data: bytes) -> None:
        if self._head_sent:
            self._transport.write(data)
            return
        held = self._held
        if held is not None:
            self._held = None
            self._head_sent = True
            self._transport.writelines((held, data))
            return
        cycle = self._cycle
        if cycle is not None and cycle.response_started:  # the head (a 100 Continue comes first)
            self._cycle = None  # see the class docstring: no reference cycle with `cycle`
            if (
                not cycle.chunked_encoding
                and cycle.expected_content_length > 0
                and cycle.scope["method"] != "HEAD"
            ):
                self._held = data
                return
            self._head_sent = True
        self._transport.write(data)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self._held = None
        self._cycle = None
        self._transport.close()


# Connections of this worker with no request running (idle or still sending a head), oldest
# first: the ones closed when the worker is at its connection cap.
_waiting: dict[LimitedHttpToolsProtocol, None] = {}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits: ConnectionLimits = config.connection_limits  # type: ignore[attr-defined]
        self.limits = limits
        self.timeout_keep_alive = limits.keep_alive_s  # type: ignore[assignment]
        self._reading_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._rejection: tuple[int, str, str] | None = None
        self._deadline_at = 0.0  # loop time at which the current phase expires; 0: none
        self._deadline_why = ("", "")  # reason and message of the 408
        self._counted = False  # in service.context's open connections

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections and not _evict_oldest_waiting():
            self._answer_and_close(
                503, "connection_limit", "too many connections to this worker, retry later"
            )
            return
        _waiting[self] = None
        self._counted = True
        context.connection_opened()
        _start_sweep(self)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted:
            self._counted = False
            context.connection_closed()
        _waiting.pop(self, None)
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        while not self.transport.is_closing():
            if not self._reading_head:
                self._feed(data)
                return
            room = self.limits.max_header_bytes - self._head_bytes
            if len(data) <= room:
                self._head_bytes += len(data)
                self._feed(data)
                return
            if room <= 0:  # still the same head, now past the limit
                self._answer_and_close(
                    431,
                    "header_too_large",
                    f"request line and headers exceed {self.limits.max_header_bytes} bytes",
                )
                return
            # Feed up to the limit: the head may end there (the rest is a body or the next
            # request, whose head starts its own count).
            self._head_bytes = self.limits.max_header_bytes
            head, data = data[:room], data[room:]
            self._feed(head)

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._rejection is not None:
                self._answer_and_close(*self._rejection)
                return
            self.logger.warning("Invalid HTTP request received: %s", exc)
            # The one error body, as for every other refusal (uvicorn answers text/plain).
            self._answer_and_close(400, "invalid_http", f"the request is not valid HTTP: {exc}")
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._set_deadline(self.limits.header_timeout_s, "header_timeout", "headers took too long")

    def on_headers_complete(self) -> None:
        self._reading_head = False
        _waiting.pop(self, None)  # a request runs on it now: never closed to make room
        # Counted here, not per field: the head's byte limit already bounds the parse work.
        if len(self.headers) > self.limits.max_headers:
            message = f"more than {self.limits.max_headers} header fields"
            self._rejection = (431, "too_many_headers", message)
            raise _Rejected
        if self.parser.get_http_version() == "1.1" and not any(
            name == b"host" for name, _ in self.headers
        ):
            self._rejection = (400, "no_host", "HTTP/1.1 requests need a Host header")
            raise _Rejected
        self._set_deadline(self.limits.body_timeout_s, "body_timeout", "the body took too long")
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        # A new cycle for every request, pipelined ones too (an upgrade request makes none).
        if cycle is not None and cycle is not previous:
            cycle.transport = HeadJoiningWriter(self.transport, cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        self._reading_head = True
        self._head_bytes = 0
        self._header_count = 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline and self._reading_head:
            _waiting[self] = None

    # Limits

    def _set_deadline(self, seconds: float, reason: str, message: str) -> None:
        self._deadline_at = self.loop.time() + seconds
        self._deadline_why = (reason, message)

    def _cancel_deadline(self) -> None:
        self._deadline_at = 0.0

    def _expired(self) -> None:
        self._deadline_at = 0.0
        reason, message = self._deadline_why
        if self.cycle is not None and self.cycle.response_started:
            metrics.connection_closed(reason)
            self.transport.close()  # the app answered early; the rest of the body never came
            return
        self._answer_and_close(408, reason, message)

    def _answer_and_close(self, status: int, reason: str, message: str) -> None:
        metrics.connection_closed(reason)
        self._cancel_deadline()
        if self.transport.is_closing():
            return
        code = http.HTTPStatus(status).phrase.lower().replace(" ", "_")
        body = error_body(code, message)
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: application/json\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        if self.cycle is not None:
            # The app's receive() gets http.disconnect; whatever it sends is dropped.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()


def _evict_oldest_waiting() -> bool:
    for connection in _waiting:
        del _waiting[connection]
        metrics.connection_closed("evicted")
        connection.transport.close()
        return True
    return False


_sweeping: set[asyncio.AbstractEventLoop] = set()


def _sweep_interval(limits: ConnectionLimits) -> float:
    return max(0.05, min(0.25, min(limits.header_timeout_s, limits.body_timeout_s) / 8))


def _start_sweep(protocol: LimitedHttpToolsProtocol) -> None:
    """Check this worker's connections for expired deadlines, from its first connection on."""
    loop = protocol.loop
    if loop in _sweeping:
        return
    _sweeping.add(loop)
    connections = protocol.connections
    interval = _sweep_interval(protocol.limits)

    def sweep() -> None:
        now = loop.time()
        for connection in list(connections):
            if isinstance(connection, LimitedHttpToolsProtocol) and (
                0.0 < connection._deadline_at <= now
            ):
                connection._expired()
        loop.call_later(interval, sweep)

    loop.call_later(interval, sweep)
