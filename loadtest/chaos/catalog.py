"""Every chaos scenario, in the order `python -m loadtest --profile chaos` runs them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtest.chaos.report import ScenarioReport
from loadtest.chaos.scenarios import (
    compose,
    hostile_grpc,
    hostile_http,
    proxy,
    shutdown,
    worker_faults,
)


def _nothing_missing() -> str:
    return ""


def _nginx_missing() -> str:
    return "" if shutil.which("nginx") else "nginx"


@dataclass(frozen=True)
class Scenario:
    name: str  # what --scenario selects
    run: Callable[[Path], ScenarioReport]
    missing: Callable[[], str] = _nothing_missing  # what it cannot run without ('' if nothing)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("worker-kill", worker_faults.worker_kill_with_a_refused_version),
    Scenario("metrics-after-kill", worker_faults.metrics_after_a_kill),
    Scenario("deleted-default-version", worker_faults.deleted_default_version),
    Scenario("replacement-cannot-start", worker_faults.replacement_that_cannot_start),
    Scenario("http-idle-connections", hostile_http.idle_connections_beyond_the_descriptor_limit),
    Scenario("http-slow-clients", hostile_http.slowloris_and_slow_bodies),
    Scenario("http-oversized-heads", hostile_http.oversized_heads),
    Scenario("nginx-dead-replica", proxy.replica_that_stopped_answering, _nginx_missing),
    Scenario("grpc-idle-connections", hostile_grpc.idle_grpc_connections),
    Scenario("grpc-call-flood", hostile_grpc.grpc_call_flood),
    Scenario("grpc-held-calls", hostile_grpc.held_grpc_calls),
    Scenario("grpc-oversized-messages", hostile_grpc.oversized_grpc_messages),
    Scenario("grpc-sigterm", shutdown.sigterm_with_grpc_calls_in_flight),
    Scenario("compose-replica-kill", compose.replica_killed, compose.compose_missing),
)


def by_name(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(f"no scenario {name!r}: {', '.join(s.name for s in SCENARIOS)}")
