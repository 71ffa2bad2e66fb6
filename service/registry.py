"""The served model versions: an immutable `Registry` and the `LoadedModel` it holds.

A registry never changes after it is built; hot reload builds a new one and swaps it in
(service.state), so a request sees one consistent set of versions from start to end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from contract.card import ModelCard
from service.errors import ServiceError
from service.runtime import DynamicBatcher, SequenceRunner
from service.tasks import Codec, Task


@dataclass(frozen=True)
class LoadedModel:
    card: ModelCard
    directory: Path
    task: Task
    session: ort.InferenceSession
    runner: SequenceRunner
    batcher: DynamicBatcher
    codec: Codec

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version


def version_key(version: str) -> list[tuple[int, int, str]]:
    """Numeric-aware order: "2" < "10", "1.9" < "1.10"."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", version)
        if part
    ]


class Registry:
    def __init__(self, models: Iterable[LoadedModel]) -> None:
        grouped: dict[str, dict[str, LoadedModel]] = {}
        for model in models:
            grouped.setdefault(model.name, {})[model.version] = model
        # name -> versions, oldest first; the last one is the default.
        self.models: dict[str, dict[str, LoadedModel]] = {
            name: dict(sorted(versions.items(), key=lambda item: version_key(item[0])))
            for name, versions in sorted(grouped.items())
        }
        self._task_defaults: dict[str, LoadedModel] = {}  # resolve(task, None, None), cached

    def all(self) -> list[LoadedModel]:
        return [model for versions in self.models.values() for model in versions.values()]

    def with_model(self, model: LoadedModel) -> Registry:
        """A new registry: this one plus (or with a replaced) `model`."""
        kept = [m for m in self.all() if (m.name, m.version) != (model.name, model.version)]
        return Registry([*kept, model])

    def without(self, removed: set[tuple[str, str]]) -> Registry:
        return Registry(m for m in self.all() if (m.name, m.version) not in removed)

    def default_version(self, name: str) -> str:
        return next(reversed(self.versions(name)))

    def versions(self, name: str) -> dict[str, LoadedModel]:
        if name not in self.models:
            known = ", ".join(self.models) or "none"
            raise ServiceError(404, "unknown_model", f"unknown model {name!r} (served: {known})")
        return self.models[name]

    def get(self, name: str, version: str | None = None) -> LoadedModel:
        versions = self.versions(name)
        if version is None:
            return versions[self.default_version(name)]
        if version not in versions:
            raise ServiceError(
                404,
                "unknown_version",
                f"model {name!r} has no version {version!r} (served: {', '.join(versions)})",
            )
        return versions[version]

    def default_for(self, task: str) -> LoadedModel | None:
        """The model a request of `task` that names none goes to (None: none or ambiguous)."""
        try:
            return self.resolve(task, None, None)
        except ServiceError:
            return None

    def resolve(self, task: str, name: str | None, version: str | None) -> LoadedModel:
        """The model a request asks for; without a name, the one model of that task."""
        wants_default = name is None and version is None
        if wants_default and task in self._task_defaults:
            return self._task_defaults[task]
        model = self.get(self._default_name(task) if name is None else name, version)
        if model.card.task != task:
            raise ServiceError(
                404,
                "wrong_task",
                f"model {model.name!r} is a {model.card.task} model, not a {task} model",
            )
        if wants_default:
            self._task_defaults[task] = model
        return model

    def _default_name(self, task: str) -> str:
        names = [
            name
            for name, versions in self.models.items()
            if next(iter(versions.values())).card.task == task
        ]
        if task in names:
            return task
        if len(names) == 1:
            return names[0]
        if not names:
            raise ServiceError(404, "unknown_model", f"no {task} model is served")
        raise ServiceError(
            409,
            "ambiguous_model",
            f"several {task} models are served, name one in 'model': {', '.join(names)}",
        )
