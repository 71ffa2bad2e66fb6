"""What the edge of the service knows about the request being served, for the layers below.

`Edge` (service.edge) opens one `RequestContext` per HTTP request; the batcher fills in the
model that served it (for metrics and the access log) and reads the disconnect probe.
A `ContextVar` carries it, so no signature between the edge and the batcher changes. The
gRPC servicer opens one per call too, so `in_flight` counts the requests of every protocol
this process is serving; with `open_connections` the batcher can tell when no other request
can arrive before it answers (service.runtime).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass

# True once the client that sent the request has gone away.
DisconnectProbe = Callable[[], bool]


@dataclass(slots=True)
class RequestContext:
    request_id: str
    model: str = ""
    version: str = ""
    client_gone: DisconnectProbe | None = None
    # HTTP/1.1: the client sends nothing more on this connection before this answer. Not so
    # on a multiplexed protocol (gRPC), where other calls may be on their way at any time.
    one_per_connection: bool = True


_current: ContextVar[RequestContext | None] = ContextVar("rnn_serve_request", default=None)


class _Count:
    value = 0
    counted = False  # whether anything ever counted here


_in_flight = _Count()  # requests of any protocol between `enter` and `leave` in this process
_connections = _Count()  # HTTP connections open in this process (service.protocol counts them)


def current() -> RequestContext | None:
    return _current.get()


def in_flight() -> int:
    return _in_flight.value


def open_connections() -> int | None:
    """None under a server that does not count its connections (not service.protocol)."""
    return _connections.value if _connections.counted else None


def connection_opened() -> None:
    _connections.counted = True
    _connections.value += 1


def connection_closed() -> None:
    _connections.value -= 1


def enter(context: RequestContext) -> Token[RequestContext | None]:
    _in_flight.value += 1
    return _current.set(context)


def leave(token: Token[RequestContext | None]) -> None:
    _in_flight.value -= 1
    _current.reset(token)
