"""The served models: their cards and their batching counters."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.deps import RegistryDep
from service.registry import LoadedModel, Registry
from service.schemas import ERROR_RESPONSES, LoadFailure, ModelInfo, ModelList, ModelVersion

router = APIRouter(tags=["models"])


def _version(model: LoadedModel) -> ModelVersion:
    return ModelVersion(
        version=model.version,
        card=model.card.model_dump(mode="json"),
        stats=model.batcher.stats.as_dict(),
    )


def _info(registry: Registry, name: str) -> ModelInfo:
    versions = registry.versions(name)
    default = registry.default_version(name)
    return ModelInfo(
        name=name,
        task=versions[default].card.task,
        default_version=default,
        versions=[_version(model) for model in versions.values()],
    )


@router.get("/models", response_model=ModelList, summary="Every served model with its cards")
async def list_models(registry: RegistryDep, request: Request) -> ModelList:
    failures = [LoadFailure(**f) for f in request.app.state.reloader.load_failures()]
    return ModelList(
        models=[_info(registry, name) for name in registry.models], load_failures=failures
    )


@router.get(
    "/models/{name}",
    response_model=ModelInfo,
    responses={404: ERROR_RESPONSES[404]},
    summary="One model: its versions, cards and average batch size",
)
async def get_model(name: str, registry: RegistryDep) -> ModelInfo:
    return _info(registry, name)


@router.get(
    "/models/{name}/{version}",
    response_model=ModelVersion,
    responses={404: ERROR_RESPONSES[404]},
    summary="One model version: its card and average batch size",
)
async def get_model_version(name: str, version: str, registry: RegistryDep) -> ModelVersion:
    task = registry.versions(name)[registry.default_version(name)].card.task
    return _version(registry.resolve(task, name, version))
