"""The protocol's `Backend` on the service's own data plane.

A V2 request runs `service.dataplane.infer`, like a native one: the task's checks and limits,
the model's codec, the same dynamic batcher (V2 and native requests batch together), its
overload 503 and deadline 504, and the request context the edge opened (access line, metrics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from service import dataplane
from service.errors import ServiceError
from service.registry import LoadedModel, Registry
from service.state import ServiceState
from service.tasks.checks import Limits
from service.v2.adapters import ADAPTERS
from service.v2.backend import InferResult, ModelMetadata


class DataPlaneBackend:
    def __init__(self, state: ServiceState, limits: Limits) -> None:
        self.state = state
        self.limits = limits
        # Keyed by the graph's sha256 too: hot reload may replace a version's files.
        self._metadata: dict[tuple[str, str, str], ModelMetadata] = {}

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return self.state.ready and self.state.snapshot is not None

    def _registry(self) -> Registry:
        snapshot = self.state.snapshot
        if snapshot is None:
            raise ServiceError(503, "not_ready", "the models are not loaded yet")
        return snapshot.registry

    def _metadata_of(self, model: LoadedModel) -> ModelMetadata:
        key = (model.name, model.version, model.card.sha256)
        metadata = self._metadata.get(key)
        if metadata is None:
            metadata = self._metadata[key] = ADAPTERS[model.card.task].metadata(model.card)
        return metadata

    def models(self) -> Sequence[ModelMetadata]:
        return [self._metadata_of(model) for model in self._registry().all()]

    def model(self, name: str, version: str | None) -> ModelMetadata:
        return self._metadata_of(self._registry().get(name, version))

    def model_ready(self, name: str, version: str | None) -> bool:
        if not self.state.ready:
            return False
        try:
            self._registry().get(name, version)
        except ServiceError:
            return False
        return True

    async def infer(
        self,
        model_name: str,
        version: str | None,
        inputs: Mapping[str, np.ndarray],
        requested_outputs: Sequence[str] | None,
        parameters: Mapping[str, Any],
    ) -> InferResult:
        model = self.state.serving().get(model_name, version)
        adapter = ADAPTERS[model.card.task]
        query = model.task.decode(adapter.body(model.card, inputs, parameters), self.limits)
        prepared, output = await dataplane.infer(model, query, self.limits)
        outputs = adapter.outputs(model.codec, prepared, output)
        if requested_outputs is not None:
            outputs = {name: outputs[name] for name in requested_outputs}
        return InferResult(model.name, model.version, outputs)
