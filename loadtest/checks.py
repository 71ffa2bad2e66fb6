"""Is an answer right for the request that got it? (No locust import: unit-testable.)"""

from __future__ import annotations

import json

from loadtest.payloads import Payload


def check(payload: Payload, status: int, text: str) -> str | None:
    """None if the answer is right for the payload, else what is wrong with it."""
    if payload.kind == "bad":
        if 400 <= status < 500:
            return None
        return f"bad request {payload.case!r} got {status or 'no answer'}, expected a 4xx"
    if status != 200:
        return f"{payload.kind} got {status or 'no answer'}: {text[:200]}"
    try:
        answer = json.loads(text)
    except ValueError:
        return f"{payload.kind} answer is not JSON: {text[:200]}"
    key = "forecasts" if payload.kind == "forecast" else "results"
    items = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(items, list) or len(items) != payload.items:
        got = len(items) if isinstance(items, list) else "none"
        return f"{payload.kind} sent {payload.items} items and got {got} {key}"
    if payload.horizon is not None and any(len(item) != payload.horizon for item in items):
        return f"forecast answer is not {payload.horizon} steps long"
    return None
