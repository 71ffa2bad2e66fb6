"""Hostile HTTP clients against the service facing them directly, while other clients load it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.scenario import run_scenario

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]


def test_idle_connections_beyond_the_descriptor_limit_starve_no_client(tmp_path: Path) -> None:
    run_scenario("http-idle-connections", tmp_path)


def test_slowloris_and_slow_bodies_are_closed_within_their_timeouts(tmp_path: Path) -> None:
    run_scenario("http-slow-clients", tmp_path)


def test_oversized_heads_are_refused_quickly(tmp_path: Path) -> None:
    run_scenario("http-oversized-heads", tmp_path)
