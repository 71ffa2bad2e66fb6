"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import StateDep
from service.errors import error_body
from service.schemas import ErrorResponse, Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": ErrorResponse, "description": "Models not loaded yet"}},
    summary="200 once every model is loaded and warmed up, else 503",
)
async def readyz(state: StateDep) -> Readiness | Response:
    snapshot = state.snapshot
    if snapshot is None or not state.ready:
        body = error_body("not_ready", "the models are not loaded and warmed up yet")
        return Response(body, status_code=503, media_type="application/json")
    models = {name: list(versions) for name, versions in snapshot.registry.models.items()}
    return Readiness(status="ready", models=models)
