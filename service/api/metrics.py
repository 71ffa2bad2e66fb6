"""GET /metrics: Prometheus text exposition (service.metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service import metrics

router = APIRouter(tags=["observability"])


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)
