"""`python -m loadtest --profile chaos`: run the chaos scenarios, each against a service it
starts from this checkout, print and write what each saw and whether it met its expectations.

The exit status is 1 when a scenario that ran missed an expectation (or failed to run); a
scenario that cannot run here (no nginx, no docker engine) is reported as skipped.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest import machine
from loadtest.chaos.catalog import SCENARIOS, Scenario, by_name
from loadtest.chaos.load import ANSWERED_OK, LoadResult
from loadtest.chaos.report import ScenarioReport


def _run_one(scenario: Scenario) -> tuple[ScenarioReport, float]:
    workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{scenario.name}-"))
    started = time.monotonic()
    try:
        report = scenario.run(workdir)
    except Exception as exc:  # a scenario that breaks is a result too, not the end of the run
        report = ScenarioReport(scenario.name)
        report.expect("the scenario ran to its end", False, f"{type(exc).__name__}: {exc}")
    return report, time.monotonic() - started


def _failed_by_status(result: LoadResult) -> str:
    failed = {s: n for s, n in result.by_status.items() if s not in map(str, ANSWERED_OK)}
    return ", ".join(f"{s} {n}" for s, n in sorted(failed.items())) or "none"


def _p99_ms(result: LoadResult) -> float | None:
    """The p99 of the answered-OK requests; None when none was."""
    p99 = result.percentile(0.99)
    return round(1000 * p99, 1) if math.isfinite(p99) else None


def _rows(name: str, report: ScenarioReport, seconds: float) -> list[dict[str, Any]]:
    met = sum(check.met for check in report.checks)
    base = {
        "scenario": name,
        "title": report.name,
        "seconds": round(seconds, 1),
        "expectations_met": met,
        "expectations": len(report.checks),
        "passed": report.passed,
    }
    rows = [
        {
            **base,
            "traffic": label,
            "sent": result.sent,
            "answered": result.answered,
            "failed_by_status": _failed_by_status(result),
            "p99_ms": _p99_ms(result),
        }
        for label, result in report.traffic.items()
    ]
    return rows or [{**base, "traffic": "", "sent": 0, "answered": 0, "failed_by_status": ""}]


def markdown(rows: list[dict[str, Any]], skipped: dict[str, str]) -> str:
    lines = [
        "| scenario | traffic | sent | answered | failed by status | p99 ms | expectations met |",
        "| --- | --- | ---: | ---: | --- | ---: | --- |",
    ]
    for row in rows:
        verdict = "yes" if row["passed"] else "**NO**"
        p99 = row.get("p99_ms")
        shown = "-" if p99 is None else f"{p99:.1f}"
        lines.append(
            f"| {row['scenario']} | {row['traffic']} | {row['sent']:,} | {row['answered']:,} | "
            f"{row['failed_by_status']} | {shown} | "
            f"{verdict} ({row['expectations_met']}/{row['expectations']}) |"
        )
    lines += [f"| {name} | skipped: no {need} | | | | | |" for name, need in skipped.items()]
    return "\n".join(lines)


def run_profile(names: list[str], out: Path) -> int:
    """The scenarios named (all if none), as `run_scenarios`."""
    return run_scenarios([by_name(name) for name in names] if names else list(SCENARIOS), out)


def run_scenarios(selected: list[Scenario], out: Path) -> int:
    """Run each scenario, print its report, write the summary to `out`; the exit status."""
    out.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    rows: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for scenario in selected:
        missing = scenario.missing()
        if missing:
            skipped[scenario.name] = missing
            print(f"== {scenario.name}: skipped, no {missing}", flush=True)
            continue
        print(f"== {scenario.name}: running", flush=True)
        report, seconds = _run_one(scenario)
        print(report.text() + f"\n  ({seconds:.1f} s)", flush=True)
        rows += _rows(scenario.name, report, seconds)
        reports.append(
            {
                "scenario": scenario.name,
                "title": report.name,
                "passed": report.passed,
                "notes": report.notes,
                "checks": [
                    {"expectation": c.expectation, "met": c.met, "detail": c.detail}
                    for c in report.checks
                ],
            }
        )
    passed = all(report["passed"] for report in reports)
    table = markdown(rows, skipped)
    summary = {
        "profile": "chaos",
        "started_at": started_at,
        "machine": machine.describe(),
        "passed": passed,
        "rows": rows,
        "reports": reports,
        "skipped": skipped,
    }
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, default=str, allow_nan=False) + "\n"
    )
    (out / "summary.md").write_text(
        f"# Chaos profile, {started_at}\n\n{table}\n\n"
        + "\n\n".join(f"```\n{_text(r)}\n```" for r in reports)
        + "\n"
    )
    print("\n" + table)
    print(f"\nchaos profile: {'every expectation met' if passed else 'EXPECTATIONS NOT MET'}")
    print(f"written to {out / 'summary.md'}", file=sys.stderr)
    return 0 if passed else 1


def _text(report: dict[str, Any]) -> str:
    lines = [f"{report['scenario']}: {report['title']}", *report["notes"]]
    for check in report["checks"]:
        mark = "met" if check["met"] else "NOT MET"
        detail = f": {check['detail']}" if check["detail"] else ""
        lines.append(f"[{mark}] {check['expectation']}{detail}")
    return "\n".join(lines)
