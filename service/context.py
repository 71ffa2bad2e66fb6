"""What the edge of the service knows about the request being served, for the layers below.

`Edge` (service.edge) opens one `RequestContext` per HTTP request; the batcher fills in the
model that served it (for metrics and the access log) and reads the disconnect probe.
A `ContextVar` carries it, so no signature between the edge and the batcher changes.
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


_current: ContextVar[RequestContext | None] = ContextVar("rnn_serve_request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def enter(context: RequestContext) -> Token[RequestContext | None]:
    return _current.set(context)


def leave(token: Token[RequestContext | None]) -> None:
    _current.reset(token)
