"""The one error type of the service and the one error body shape.

Every failure a client can see is `{"error": {"code", "message", "details"}}`. This module
has no web-framework import, so the data plane (forecasting, sentiment) can raise it too.
"""

from __future__ import annotations

from typing import Any

import orjson

# Details beyond this are dropped: a 256 x 10,000 request of strings must not answer 2.5M lines.
MAX_DETAILS = 20


class ServiceError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}  # e.g. Retry-After on a 503

    def body(self) -> bytes:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "details": details or []}})


def loc_text(loc: tuple[str | int, ...]) -> str:
    """("series", 3, 17) -> "series[3][17]"."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


class Problems:
    """Collects validation problems; `raise_if_any` turns them into one 422."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.count = 0

    def add(self, loc: tuple[str | int, ...], message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_DETAILS:
            self.items.append({"loc": list(loc), "message": f"{loc_text(loc)} {message}"})

    def __bool__(self) -> bool:
        return self.count > 0

    def raise_if_any(self) -> None:
        if not self.count:
            return
        message = self.items[0]["message"]
        if self.count > 1:
            message += f" (and {self.count - 1} more problem{'s' if self.count > 2 else ''})"
        raise ServiceError(422, "invalid_request", message, self.items)


def invalid(loc: tuple[str | int, ...], message: str) -> ServiceError:
    problems = Problems()
    problems.add(loc, message)
    return ServiceError(422, "invalid_request", problems.items[0]["message"], problems.items)
