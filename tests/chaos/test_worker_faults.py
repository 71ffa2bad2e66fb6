"""Faults inside the service under load: a worker killed, a version refused or deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.scenario import run_scenario

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]


def test_worker_kill_with_a_refused_version_present(tmp_path: Path) -> None:
    run_scenario("worker-kill", tmp_path)


def test_after_a_kill_metrics_drop_the_dead_worker_and_lose_one_flush_at_most(
    tmp_path: Path,
) -> None:
    run_scenario("metrics-after-kill", tmp_path)


def test_deleted_default_version_is_unloaded_by_every_worker(tmp_path: Path) -> None:
    run_scenario("deleted-default-version", tmp_path)


def test_a_replacement_that_cannot_start_does_not_stop_its_sibling(tmp_path: Path) -> None:
    run_scenario("replacement-cannot-start", tmp_path)
