"""POST /sentiment: documented here; served by the ASGI fast path unless it is off."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service import pipeline
from service.api.deps import JsonBody, LimitsDep, RegistryDep
from service.schemas import (
    ERROR_RESPONSES,
    SENTIMENT_EXAMPLE,
    SentimentRequest,
    SentimentResponse,
    request_body,
)

router = APIRouter(tags=["sentiment"])


@router.post(
    "/sentiment",
    response_model=SentimentResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body(SentimentRequest, SENTIMENT_EXAMPLE),
    summary="Classify review texts; long texts are truncated by the card's rule",
)
async def classify(body: JsonBody, registry: RegistryDep, limits: LimitsDep) -> Response:
    answer = await pipeline.classify(registry, limits, body)
    return Response(answer, media_type="application/json")
