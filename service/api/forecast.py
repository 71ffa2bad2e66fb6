"""POST /forecast: thin glue between HTTP and service.forecasting."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service import forecasting
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
    query = forecasting.decode(body, limits)
    model = registry.resolve("forecast", query.model, query.version)
    horizon = forecasting.resolve_horizon(query, model.card)
    rows = forecasting.prepare(query, model.card, limits)
    output = await model.batcher.submit(rows)
    return Response(forecasting.encode(model.card, horizon, output), media_type="application/json")
