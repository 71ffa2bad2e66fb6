"""One data-plane request, from its headers and parsed body to the answer bytes.

Shared by the documented FastAPI routes and the ASGI fast path (service.api.fastpath), so
both give the same answers and errors. No web framework here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from service import forecasting, sentiment
from service.errors import ServiceError
from service.payload import Limits
from service.registry import Registry

Handler = Callable[[Registry, Limits, Any], Awaitable[bytes]]


def check_content_type(value: str) -> None:
    if value.split(";", 1)[0].strip().lower() != "application/json":
        shown = value or "no content type"
        raise ServiceError(
            415, "unsupported_media_type", f"the body must be application/json, got {shown!r}"
        )


def check_declared_size(content_length: str, limit: int) -> None:
    if content_length.isdigit() and int(content_length) > limit:
        raise too_large(int(content_length), limit)


def too_large(size: int, limit: int) -> ServiceError:
    return ServiceError(
        413, "payload_too_large", f"the body has {size} bytes or more, the limit is {limit}"
    )


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc


async def forecast(registry: Registry, limits: Limits, body: Any) -> bytes:
    query = forecasting.decode(body, limits)
    model = registry.resolve("forecast", query.model, query.version)
    codec = model.forecast_codec
    assert codec is not None, "the registry builds a codec for forecast models"
    horizon, rows = codec.prepare(query, limits)
    output = await model.batcher.submit(rows)  # validated first: a bad request never queues
    return codec.encode(horizon, output)


async def classify(registry: Registry, limits: Limits, body: Any) -> bytes:
    query = sentiment.decode(body, limits)
    model = registry.resolve("sentiment", query.model, query.version)
    assert model.tokenizer is not None, "the registry loads a tokenizer for sentiment models"
    rows, encoded = sentiment.prepare(query, model.tokenizer)
    probabilities = await model.batcher.submit(rows)
    return sentiment.encode(model.card, probabilities, encoded)


# POST routes of the data plane.
HANDLERS: dict[str, Handler] = {"/forecast": forecast, "/sentiment": classify}
