"""deploy/nginx.conf in front of one live replica and one that no longer answers connects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.scenario import run_scenario

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.timeout(120),
]


def test_a_replica_that_stopped_answering_costs_no_client_a_long_wait(tmp_path: Path) -> None:
    run_scenario("nginx-dead-replica", tmp_path)
