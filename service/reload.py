"""Start-up loading and hot reload: one discovery, one set of checks, one swap.

At start-up every `<name>/<version>/` directory is loaded and verified (service.loading).
A version that fails is not served: it is logged, counted
(rnn_serve_model_load_failures_total) and listed under `load_failures` in GET /models, and
the service becomes ready with the versions that passed, so one bad directory can never stop
a replica from starting. With `strict_models` (for CI) any failure stops the start instead.
Start-up fails when no valid model is left at all.

Every `reload_interval_s` seconds (and on POST /admin/reload) the directory is scanned
again: a new version is loaded off the event loop with the same checks and swapped in with
one assignment of a new immutable snapshot; a served version whose directory is gone is
unloaded. Every worker process scans on its own, so all of them agree on the served
versions (and on each default) within one interval. A failed version is retried only when
its files change (a copy that was still in progress). Hidden directories (the exporter
stages artifacts in `.name.*` folders) are never looked at. A version directory already
served is never reloaded: versions are immutable once served.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from service import metrics
from service.config import Settings
from service.heap import refreeze_after_reload
from service.loading import LoadFailure, ModelLoadError, load_model, version_dirs
from service.registry import LoadedModel, Registry
from service.state import ServiceState, Snapshot

logger = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int], ...]


def signature(directory: Path) -> Signature:
    """(file name, size, mtime) of every file: changes when a copy progresses."""
    files = sorted(path for path in directory.iterdir() if path.is_file())
    return tuple((path.name, path.stat().st_size, path.stat().st_mtime_ns) for path in files)


class ModelLoader:
    """Owns the models directory: loads it at start-up, then keeps the state in step with it."""

    def __init__(self, state: ServiceState, settings: Settings) -> None:
        self.state = state
        self.settings = settings
        self.root = settings.models_dir
        self._failed: dict[Path, Signature] = {}  # failed directory -> files when it failed
        self._lock = asyncio.Lock()

    def load_initial(self) -> Snapshot:
        """Blocking: every valid version, and a failure per invalid one (or raise if strict)."""
        models: list[LoadedModel] = []
        failures: dict[str, LoadFailure] = {}
        reasons: list[str] = []
        for directory in version_dirs(self.root):
            try:
                models.append(load_model(directory, self.settings))
            except ModelLoadError as exc:
                if self.settings.strict_models:
                    raise
                failure = self._failure(directory, exc)
                failures[failure.directory] = failure
                reasons.append(str(exc))
        if not models:
            if reasons:
                raise ModelLoadError("no model found that passes its checks: " + "; ".join(reasons))
            raise ModelLoadError(
                f"{self.root}: no model found (expected <name>/<version>/card.json)"
            )
        return Snapshot(Registry(models), failures)

    async def run(self) -> None:
        """Poll forever (a task of the app's lifespan)."""
        while True:
            await asyncio.sleep(self.settings.reload_interval_s)
            try:
                await self.scan()
            except Exception:  # one bad scan (say, an unreadable directory) must not stop polling
                logger.exception("model reload scan failed")

    async def scan(self) -> dict[str, list[str]]:
        """Load new version directories, unload vanished ones; report what was loaded/failed."""
        async with self._lock:
            snapshot = self.state.snapshot
            assert snapshot is not None, "scans start after start-up loading"
            directories = version_dirs(self.root)
            present = {directory.resolve() for directory in directories}
            registry, failures = snapshot.registry, dict(snapshot.failures)
            gone = [m for m in registry.all() if m.directory.resolve() not in present]
            for key in [k for k in failures if (self.root / k).resolve() not in present]:
                del failures[key]
            served = {m.directory.resolve() for m in registry.all()} - {
                m.directory.resolve() for m in gone
            }
            loaded: list[str] = []
            failed: list[str] = []
            for directory in directories:
                if directory.resolve() in served or self._unchanged_failure(directory):
                    continue
                label = f"{directory.parent.name}/{directory.name}"
                try:
                    model = await asyncio.to_thread(load_model, directory, self.settings)
                except OSError:
                    continue  # moved away meanwhile; the next scan sees what is there
                except ModelLoadError as exc:
                    failure = self._failure(directory, exc)
                    failures[failure.directory] = failure
                    failed.append(label)
                    continue
                self._failed.pop(directory, None)
                failures.pop(label, None)
                model.batcher.start()
                metrics.set_model_info(
                    model.name, model.version, model.card.task, model.card.sha256
                )
                registry = registry.with_model(model)
                loaded.append(label)
            if gone:
                registry = registry.without({(m.name, m.version) for m in gone})
            if loaded or gone or failures != snapshot.failures:
                self.state.publish(Snapshot(registry, failures))  # the atomic swap
            if loaded or gone:
                refreeze_after_reload()
            for model in gone:
                logger.warning(
                    "model version unloaded, its directory is gone: %s/%s",
                    model.name,
                    model.version,
                    extra={"model": model.name, "version": model.version},
                )
                await model.batcher.stop()
            for label in loaded:
                name = label.split("/", 1)[0]
                logger.info(
                    "model version loaded without a restart: %s (default now %s)",
                    label,
                    registry.default_version(name),
                )
            return {"loaded": loaded, "failed": failed}

    def _unchanged_failure(self, directory: Path) -> bool:
        known = self._failed.get(directory)
        try:
            return known is not None and known == signature(directory)
        except OSError:  # moved away meanwhile (the exporter retires replaced versions)
            return True

    def _failure(self, directory: Path, exc: ModelLoadError) -> LoadFailure:
        name, version = directory.parent.name, directory.name
        try:
            self._failed[directory] = signature(directory)
        except OSError:
            self._failed.pop(directory, None)
        # Open endpoints show paths relative to the models directory, never the host's layout,
        # and not the text of a library's exception (the log has it): only which check failed.
        error = str(exc)
        cause = str(exc.__cause__) if exc.__cause__ is not None else ""
        if cause and error.endswith(": " + cause):
            error = error.removesuffix(": " + cause)
        error = error.replace(f"{self.root.resolve()}/", "").replace(f"{self.root}/", "")
        metrics.model_load_failed(name, version)
        logger.error("model version not served: %s", exc, extra={"model": name, "version": version})
        return LoadFailure(name, version, f"{name}/{version}", error, time.time())
