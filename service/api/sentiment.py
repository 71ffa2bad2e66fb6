"""POST /sentiment: thin glue between HTTP and service.sentiment."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service import sentiment
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
    query = sentiment.decode(body, limits)
    model = registry.resolve("sentiment", query.model, query.version)
    assert model.tokenizer is not None, "the registry loads a tokenizer for sentiment models"
    rows, encoded = sentiment.prepare(query, model.tokenizer)
    probabilities = await model.batcher.submit(rows)
    return Response(
        sentiment.encode(model.card, probabilities, encoded), media_type="application/json"
    )
