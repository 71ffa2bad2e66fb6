"""Every chaos scenario, in the order `python -m loadtest --profile chaos` runs them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtest.chaos.report import ScenarioReport
from loadtest.chaos.scenarios import hostile_grpc, hostile_http, proxy, shutdown, worker_faults


@dataclass(frozen=True)
class Scenario:
    name: str  # what --scenario selects
    run: Callable[[Path], ScenarioReport]
    needs: str = ""  # a program it cannot run without

    def missing(self) -> str:
        """What is missing to run it ('' if nothing)."""
        return self.needs if self.needs and shutil.which(self.needs) is None else ""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("worker-kill", worker_faults.worker_kill_with_a_refused_version),
    Scenario("metrics-after-kill", worker_faults.metrics_after_a_kill),
    Scenario("deleted-default-version", worker_faults.deleted_default_version),
    Scenario("replacement-cannot-start", worker_faults.replacement_that_cannot_start),
    Scenario("http-idle-connections", hostile_http.idle_connections_beyond_the_descriptor_limit),
    Scenario("http-slow-clients", hostile_http.slowloris_and_slow_bodies),
    Scenario("http-oversized-heads", hostile_http.oversized_heads),
    Scenario("nginx-dead-replica", proxy.replica_that_stopped_answering, needs="nginx"),
    Scenario("grpc-idle-connections", hostile_grpc.idle_grpc_connections),
    Scenario("grpc-call-flood", hostile_grpc.grpc_call_flood),
    Scenario("grpc-held-calls", hostile_grpc.held_grpc_calls),
    Scenario("grpc-oversized-messages", hostile_grpc.oversized_grpc_messages),
    Scenario("grpc-sigterm", shutdown.sigterm_with_grpc_calls_in_flight),
)


def by_name(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(f"no scenario {name!r}: {', '.join(s.name for s in SCENARIOS)}")
