"""The load-test suite, run for a few seconds against a locally started service."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.process import running_service

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "models"


def _models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled models when both tasks are there, else the service's test fixtures."""
    tasks = {json.loads(card.read_text())["task"] for card in BUNDLED.glob("*/*/card.json")}
    if {"forecast", "sentiment"} <= tasks:
        return BUNDLED
    from tests.service.fixtures import write_model_zoo

    return write_model_zoo(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_service(_models_dir(tmp_path_factory), ready_within_s=30) as service:
        yield service.url


@pytest.mark.slow
def test_smoke_run_sends_every_kind_without_unexpected_failures(
    service_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "smoke"
    command = [sys.executable, "-m", "loadtest", "--host", service_url, "--profile", "smoke"]
    command += ["--duration", "5", "--target-rps", "30", "--mix", "forecast=4,sentiment=4,bad=2"]
    command += ["--no-charts", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    summary = json.loads((out / "summary.json").read_text())
    totals = summary["totals"]
    for kind in ("forecast", "sentiment", "bad"):
        assert totals[kind]["requests"] > 0, f"no {kind} request was sent"
    assert totals["all"]["failures"] == 0, totals["failure_messages"]
    statuses = {int(s) for codes in totals["bad_cases"].values() for s in codes}
    assert statuses and all(400 <= s < 500 for s in statuses)
    # locust's own outputs are there too
    for name in ("locust_stats.csv", "report.html", "requests.csv", "timeline.csv"):
        assert (out / name).stat().st_size > 0, name
