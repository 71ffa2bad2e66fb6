"""The chaos profile's runner and report, on stand-in scenarios (no service started)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.chaos.catalog import SCENARIOS, Scenario, by_name
from loadtest.chaos.load import LoadResult, Outcome
from loadtest.chaos.profile import run_scenarios
from loadtest.chaos.report import ScenarioReport


def _traffic(*statuses: int | str) -> LoadResult:
    return LoadResult([Outcome(float(i), 0.01, s, None, None) for i, s in enumerate(statuses)])


def _passing(workdir: Path) -> ScenarioReport:
    report = ScenarioReport("passes")
    report.record("clients", _traffic(200, 200, 503, "ReadError"))
    report.record("refused", _traffic("RESOURCE_EXHAUSTED"))  # no OK answer: no p99
    report.expect("something held", True)
    return report


def _breaking(workdir: Path) -> ScenarioReport:
    raise AssertionError("no replacement worker answered")


def test_a_scenario_that_breaks_fails_the_run_and_every_row_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios = [
        Scenario("ok", _passing),
        Scenario("broken", _breaking),
        Scenario("absent", _passing, lambda: "nginx"),
    ]
    assert run_scenarios(scenarios, tmp_path) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())  # strict JSON: no Infinity
    rows = {(row["scenario"], row["traffic"]): row for row in summary["rows"]}
    assert rows["ok", "clients"]["failed_by_status"] == "503 1, ReadError 1"
    assert rows["ok", "clients"]["answered"] == 3
    assert rows["ok", "refused"]["p99_ms"] is None
    assert not rows["broken", ""]["passed"]
    assert summary["skipped"] == {"absent": "nginx"}
    printed = capsys.readouterr().out
    assert "| ok | clients | 4 | 3 | 503 1, ReadError 1 | 10.0 | yes (1/1) |" in printed
    assert "the scenario ran to its end: AssertionError: no replacement worker answered" in printed
    assert "| absent | skipped: no nginx |" in printed


def test_a_run_whose_expectations_are_all_met_exits_0(tmp_path: Path) -> None:
    assert run_scenarios([Scenario("ok", _passing)], tmp_path) == 0


def test_every_scenario_has_a_unique_name_that_selects_it() -> None:
    names = [scenario.name for scenario in SCENARIOS]
    assert len(set(names)) == len(names)
    assert all(by_name(name).name == name for name in names)
    with pytest.raises(KeyError):
        by_name("no-such-scenario")
