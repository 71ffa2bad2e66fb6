"""Dependencies of the routers: the registry (503 until ready), settings, limits, JSON body."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from service.config import Settings
from service.errors import ServiceError
from service.payload import Limits
from service.registry import Registry


def get_registry(request: Request) -> Registry:
    registry: Registry | None = getattr(request.app.state, "registry", None)
    if registry is None or not request.app.state.ready:
        raise ServiceError(503, "not_ready", "the models are not loaded yet")
    return registry


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


async def json_body(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> Any:
    """The parsed body: application/json only (415), size-limited before parsing (413)."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise ServiceError(
            415,
            "unsupported_media_type",
            f"the body must be application/json, got {content_type or 'no content type'!r}",
        )
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc


def _too_large(size: int, limit: int) -> ServiceError:
    return ServiceError(
        413, "payload_too_large", f"the body has {size} bytes or more, the limit is {limit}"
    )


RegistryDep = Annotated[Registry, Depends(get_registry)]
LimitsDep = Annotated[Limits, Depends(get_limits)]
JsonBody = Annotated[Any, Depends(json_body)]
