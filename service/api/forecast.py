"""POST /forecast: documented here; served by the ASGI fast path unless it is off."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service import pipeline
from service.api.deps import JsonBody, LimitsDep, RegistryDep
from service.schemas import (
    ERROR_RESPONSES,
    FORECAST_EXAMPLE,
    ForecastRequest,
    ForecastResponse,
    request_body,
)

router = APIRouter(tags=["forecast"])


@router.post(
    "/forecast",
    response_model=ForecastResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body(ForecastRequest, FORECAST_EXAMPLE),
    summary="Forecast the next steps of one or more series, in their original units",
)
async def forecast(body: JsonBody, registry: RegistryDep, limits: LimitsDep) -> Response:
    answer = await pipeline.forecast(registry, limits, body)
    return Response(answer, media_type="application/json")
