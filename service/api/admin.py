"""Admin endpoints: mounted only when an API key is configured, and only usable with it."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.schemas import ERROR_RESPONSES, ReloadResult

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/reload",
    response_model=ReloadResult,
    responses={401: ERROR_RESPONSES[401]},
    summary="Scan the models directory now; load, verify and serve new versions",
)
async def reload_models(request: Request) -> ReloadResult:
    result = await request.app.loader.scan()
    return ReloadResult(**result)
