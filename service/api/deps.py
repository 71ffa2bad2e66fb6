"""Dependencies of the routers: the registry (503 until ready), limits, the JSON body.

All `async def`: FastAPI runs a plain `def` dependency in a worker thread, which costs more
than the model on this path.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from service import pipeline
from service.errors import ServiceError
from service.payload import Limits
from service.registry import Registry


async def get_registry(request: Request) -> Registry:
    registry: Registry | None = request.app.state.registry
    if registry is None or not request.app.state.ready:
        raise ServiceError(503, "not_ready", "the models are not loaded yet")
    return registry


async def get_limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


async def json_body(request: Request) -> Any:
    """The parsed body: application/json only (415), size-limited before parsing (413)."""
    pipeline.check_content_type(request.headers.get("content-type", ""))
    limit: int = request.app.state.settings.max_body_bytes
    pipeline.check_declared_size(request.headers.get("content-length", ""), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise pipeline.too_large(size, limit)
        chunks.append(chunk)
    return pipeline.parse_json(b"".join(chunks))


RegistryDep = Annotated[Registry, Depends(get_registry)]
LimitsDep = Annotated[Limits, Depends(get_limits)]
JsonBody = Annotated[Any, Depends(json_body)]
