"""Hot reload: new version directories under `models/<name>/` are served without a restart.

The `Reloader` scans the models directory every `reload_interval_s` seconds (and on
POST /admin/reload). A new `<name>/<version>/` is loaded off the event loop and verified the
way start-up verifies (card, sha256, graph against card, warm-up) plus a self-test (finite
outputs; each row answers the same alone and inside a padded batch). Only then is a new
`Registry` holding every old version and the new one swapped in, with one attribute
assignment, so a request sees either the old set or the new one, never a half-loaded model.
Requests pinned to an old version keep working: its `LoadedModel` and batcher are unchanged.

A version that fails is not served, the previous default keeps serving, and the failure is
logged, counted (rnn_serve_model_load_failures_total) and listed under `load_failures` in
GET /models. It is retried only when its files change (a copy that was still in progress).
Hidden directories (the exporter stages artifacts in `.name.*` folders) are never looked at.
A version directory already served is never reloaded: versions are immutable once served.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from starlette.datastructures import State

from contract.card import CARD_FILE
from service import metrics
from service.config import Settings
from service.registry import LoadedModel, ModelLoadError, Registry, is_hidden, load_model

logger = logging.getLogger(__name__)

SELF_TEST_TOLERANCE = 1e-5
Signature = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class LoadFailure:
    name: str
    version: str
    directory: str
    error: str
    detected_at: float  # unix time

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "directory": self.directory,
            "error": self.error,
            "detected_at": self.detected_at,
        }


def signature(directory: Path) -> Signature:
    """(file name, size, mtime) of every file: changes when a copy progresses."""
    files = sorted(path for path in directory.iterdir() if path.is_file())
    return tuple((path.name, path.stat().st_size, path.stat().st_mtime_ns) for path in files)


def self_test(model: LoadedModel) -> None:
    """Rows of different lengths must answer the same alone and padded in one batch."""
    rows = _sample_rows(model)
    together = model.runner(rows)
    if not np.all(np.isfinite(together)):
        raise ModelLoadError(f"{model.directory}: self-test output is not finite")
    if model.card.sentiment is not None and not np.all((together >= 0) & (together <= 1)):
        raise ModelLoadError(f"{model.directory}: self-test probabilities are outside [0, 1]")
    for index, row in enumerate(rows):
        alone = model.runner([row])[0]
        difference = float(np.max(np.abs(alone - together[index])))
        if difference > SELF_TEST_TOLERANCE:
            raise ModelLoadError(
                f"{model.directory}: self-test row {index} (length {len(row)}) differs by "
                f"{difference:.3g} between a batch and alone (padding is not exact)"
            )


def _sample_rows(model: LoadedModel) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    if model.card.forecast is not None:
        spec = model.card.forecast
        lengths = [spec.min_length, spec.min_length + 7, spec.min_length + 20]
        return [rng.standard_normal((n, spec.n_features)).astype(np.float32) for n in lengths]
    assert model.card.sentiment is not None
    tokenizer = model.card.sentiment.tokenizer
    lengths = sorted({1, max(1, tokenizer.max_length // 2), tokenizer.max_length})
    return [rng.integers(1, tokenizer.num_words, n).astype(np.int64) for n in lengths]


def load_verified(directory: Path, settings: Settings) -> LoadedModel:
    """Start-up's checks and warm-up (service.registry), then the self-test. Blocking."""
    model = load_model(directory, settings)
    try:
        self_test(model)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"{directory}: self-test failed: {exc}") from exc
    return model


class Reloader:
    def __init__(self, state: State, settings: Settings) -> None:
        self.state = state
        self.settings = settings
        self.failures: dict[Path, tuple[Signature, LoadFailure]] = {}
        self._lock = asyncio.Lock()

    def load_failures(self) -> list[dict[str, Any]]:
        return [failure.as_dict() for _, failure in self.failures.values()]

    async def run(self) -> None:
        """Poll forever (a task of the app's lifespan)."""
        while True:
            await asyncio.sleep(self.settings.reload_interval_s)
            try:
                await self.scan()
            except Exception:  # one bad scan (say, an unreadable directory) must not stop polling
                logger.exception("model reload scan failed")

    async def scan(self) -> dict[str, list[str]]:
        """Load every new version directory; return what was loaded and what failed."""
        async with self._lock:
            loaded: list[str] = []
            failed: list[str] = []
            for directory in self._candidates():
                model = await self._load(directory)
                if model is None:
                    failed.append(f"{directory.parent.name}/{directory.name}")
                    continue
                self._swap_in(model)
                loaded.append(f"{model.name}/{model.version}")
            return {"loaded": loaded, "failed": failed}

    def _candidates(self) -> list[Path]:
        registry: Registry = self.state.registry
        root = self.settings.models_dir
        served = {model.directory.resolve() for model in registry.all()}
        candidates = []
        for card_path in sorted(root.glob(f"*/*/{CARD_FILE}")):
            directory = card_path.parent
            if is_hidden(directory.relative_to(root)) or directory.resolve() in served:
                continue
            known = self.failures.get(directory)
            try:
                unchanged = known is not None and known[0] == signature(directory)
            except OSError:  # moved away meanwhile (the exporter retires replaced versions)
                continue
            if not unchanged:
                candidates.append(directory)
        return candidates

    async def _load(self, directory: Path) -> LoadedModel | None:
        name, version = directory.parent.name, directory.name
        try:
            current = signature(directory)
            model = await asyncio.to_thread(load_verified, directory, self.settings)
        except OSError:
            return None  # moved away meanwhile; the next scan sees what is there
        except ModelLoadError as exc:
            failure = LoadFailure(name, version, str(directory), str(exc), time.time())
            self.failures[directory] = (current, failure)
            metrics.model_load_failed(name, version)
            logger.error(
                "new model version not served: %s",
                exc,
                extra={"model": name, "version": version},
            )
            return None
        self.failures.pop(directory, None)
        return model

    def _swap_in(self, model: LoadedModel) -> None:
        old: Registry = self.state.registry
        models = {name: dict(versions) for name, versions in old.models.items()}
        models.setdefault(model.name, {})[model.version] = model
        model.batcher.start()
        self.state.registry = Registry(models)  # the atomic swap
        metrics.set_model_info(model.name, model.version, model.card.task, model.card.sha256)
        logger.info(
            "model version loaded without a restart: %s/%s (default now %s)",
            model.name,
            model.version,
            self.state.registry.default_version(model.name),
            extra={"model": model.name, "version": model.version},
        )
