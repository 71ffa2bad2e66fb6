"""Checks shared by every request body: a JSON object with known fields of the right types.

Hand-written instead of a pydantic body model: measured on this service's machine, a FastAPI
route with a pydantic body model (`list[list[float]]`) and no inference served 0.18 of the
requests per second of a bare ASGI app, while parsing with orjson and checking by hand kept
0.58; these checks also give messages naming the field. Each task's `request_schema` states
the same rules as JSON schema, and the schemathesis tests hold the two together.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from service.errors import Problems, ServiceError, invalid

MAX_NAME_CHARS = 128  # of a model name or version in a request


@dataclass(frozen=True)
class Limits:
    max_items: int  # series or texts per request
    max_series_length: int
    max_text_chars: int


def json_type(value: object) -> str:
    """The JSON name of a parsed value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def expect_object(
    body: Any, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, Any]:
    allowed = _allowed_fields(required, optional)
    # The hot path: a well-formed body costs one subset test.
    if type(body) is dict and body.keys() <= allowed and all(name in body for name in required):
        return body
    if not isinstance(body, dict):
        raise ServiceError(
            422, "invalid_request", f"the body must be a JSON object, got {json_type(body)}"
        )
    problems = Problems()
    for name in required:
        if name not in body:
            problems.add((name,), "is required")
    for name in body:
        if name not in allowed:
            problems.add((name,), f"is not a known field (known: {', '.join(sorted(allowed))})")
    problems.raise_if_any()
    return body


@functools.cache
def _allowed_fields(required: tuple[str, ...], optional: tuple[str, ...]) -> frozenset[str]:
    return frozenset(required) | frozenset(optional)


def optional_name(body: dict[str, Any], field: str) -> str | None:
    """`model` / `version`: absent or null means the default; else a non-empty string."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid((field,), f"must be a string, got {json_type(value)}")
    if not value:
        raise invalid((field,), "must not be empty (leave it out for the default)")
    if len(value) > MAX_NAME_CHARS:  # never echo an arbitrarily long name back in a 404
        raise invalid((field,), f"is {len(value)} characters long, the limit is {MAX_NAME_CHARS}")
    return value


def item_list(body: dict[str, Any], field: str, what: str, limits: Limits) -> list[Any]:
    """The request's list of series or texts: a non-empty list within the per-request limit."""
    value = body[field]
    if not isinstance(value, list):
        raise invalid((field,), f"must be a list of {what}, got {json_type(value)}")
    if not value:
        raise invalid((field,), f"must contain at least one of {what}")
    if len(value) > limits.max_items:
        raise invalid(
            (field,), f"has {len(value)} {what}, more than the limit of {limits.max_items}"
        )
    return value


def name_schema(description: str) -> dict[str, Any]:
    """The JSON schema `optional_name` enforces."""
    return {
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS},
            {"type": "null"},
        ],
        "description": description,
    }
