"""Hostile gRPC clients against the gRPC port, while other clients load it; SIGTERM with
gRPC calls in flight."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.scenario import run_scenario

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]


def test_idle_and_silent_grpc_connections_are_closed_and_capped(tmp_path: Path) -> None:
    run_scenario("grpc-idle-connections", tmp_path)


def test_a_call_flood_past_the_cap_gets_resource_exhausted_and_others_are_answered(
    tmp_path: Path,
) -> None:
    run_scenario("grpc-call-flood", tmp_path)


def test_calls_that_never_send_their_message_are_bounded_and_released(tmp_path: Path) -> None:
    run_scenario("grpc-held-calls", tmp_path)


def test_oversized_grpc_messages_get_resource_exhausted(tmp_path: Path) -> None:
    run_scenario("grpc-oversized-messages", tmp_path)


def test_sigterm_finishes_grpc_calls_in_flight_and_refuses_new_ones(tmp_path: Path) -> None:
    run_scenario("grpc-sigterm", tmp_path)
