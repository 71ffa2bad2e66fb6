"""The typed holder of what the service serves now: the registry, readiness, load failures.

Start-up fills it, hot reload replaces its snapshot with one assignment (atomic for every
request on the event loop), and the data plane, the control endpoints and the metrics read
it. Nothing else mutates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.errors import ServiceError
from service.loading import LoadFailure
from service.registry import Registry


@dataclass(frozen=True)
class Snapshot:
    registry: Registry
    # Version directories (relative to the models root) that are present but not served.
    failures: dict[str, LoadFailure] = field(default_factory=dict)


class ServiceState:
    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None  # None until start-up has loaded the models
        self.ready = False

    def publish(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def serving(self) -> Registry:
        """The registry, or 503 while the models are not loaded (or the service drains)."""
        snapshot = self.snapshot
        if snapshot is None or not self.ready:
            raise ServiceError(503, "not_ready", "the models are not loaded yet")
        return snapshot.registry
