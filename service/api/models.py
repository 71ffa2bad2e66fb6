"""The served models: their cards, plain serving facts and their batching counters."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from service.api.deps import RegistryDep, StateDep
from service.registry import LoadedModel, Registry
from service.schemas import ERROR_RESPONSES, LoadFailure, ModelInfo, ModelList, ModelVersion

router = APIRouter(tags=["models"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: ERROR_RESPONSES[404],
    422: ERROR_RESPONSES[422],
    503: ERROR_RESPONSES[503],
}


def _version(model: LoadedModel) -> ModelVersion:
    return ModelVersion(
        version=model.version,
        card=model.card.model_dump(mode="json"),
        stats={**model.batcher.stats.as_dict(), "rows_per_run": model.runner.max_rows_per_run},
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


@router.get(
    "/models",
    response_model=ModelList,
    responses={503: ERROR_RESPONSES[503]},
    summary="Every served model with its cards, and the versions that are not served",
)
async def list_models(state: StateDep, registry: RegistryDep) -> ModelList:
    snapshot = state.snapshot
    failures = [LoadFailure(**asdict(f)) for f in snapshot.failures.values()] if snapshot else []
    return ModelList(
        models=[_info(registry, name) for name in registry.models], load_failures=failures
    )


@router.get(
    "/models/{name}",
    response_model=ModelInfo,
    responses=_NOT_FOUND,
    summary="One model: its versions, cards and average batch size",
)
async def get_model(name: str, registry: RegistryDep) -> ModelInfo:
    return _info(registry, name)


@router.get(
    "/models/{name}/{version}",
    response_model=ModelVersion,
    responses=_NOT_FOUND,
    summary="One model version: its card and average batch size",
)
async def get_model_version(name: str, version: str, registry: RegistryDep) -> ModelVersion:
    return _version(registry.get(name, version))
