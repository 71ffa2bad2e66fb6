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
    """Collects validation problems; `raise_if_any` turns them into one 422.

    The same problem at many places (say, a string in every cell of a series) is one detail
    with its `count` and the first places (`locs`), not one detail per value.
    """

    MAX_LOCS = 5  # places listed per repeated problem

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._by_kind: dict[str, dict[str, Any]] = {}
        self.count = 0

    def add(self, loc: tuple[str | int, ...], message: str) -> None:
        self.count += 1
        # Problems differ by message; places differ by loc (the index parts).
        kind = f"{next((part for part in loc if isinstance(part, str)), '')}: {message}"
        seen = self._by_kind.get(kind)
        if seen is not None:
            seen["count"] += 1
            if len(seen["locs"]) < self.MAX_LOCS:
                seen["locs"].append(list(loc))
            return
        if len(self.items) < MAX_DETAILS:
            item = {"loc": list(loc), "message": f"{loc_text(loc)} {message}"}
            self.items.append(item)
            self._by_kind[kind] = {"item": item, "count": 1, "locs": [list(loc)]}

    def __bool__(self) -> bool:
        return self.count > 0

    def details(self) -> list[dict[str, Any]]:
        details = []
        for item in self.items:
            kind = next(v for v in self._by_kind.values() if v["item"] is item)
            if kind["count"] == 1:
                details.append(item)
                continue
            more = kind["count"] - 1
            message = f"{item['message']} (and the same at {more} more place{'s' * (more > 1)})"
            details.append(
                {**item, "message": message, "count": kind["count"], "locs": kind["locs"]}
            )
        return details

    def raise_if_any(self) -> None:
        if not self.count:
            return
        details = self.details()
        message = details[0]["message"]
        others = self.count - details[0].get("count", 1)  # its repeats are in its message
        if others:
            message += f" (and {others} more problem{'s' if others > 1 else ''})"
        raise ServiceError(422, "invalid_request", message, details)


def invalid(loc: tuple[str | int, ...], message: str) -> ServiceError:
    text = f"{loc_text(loc)} {message}"
    return ServiceError(422, "invalid_request", text, [{"loc": list(loc), "message": text}])
