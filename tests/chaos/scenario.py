"""Run one scenario of loadtest/chaos in a test: print its report, fail on an unmet check."""

from __future__ import annotations

from pathlib import Path

from loadtest.chaos.catalog import by_name


def run_scenario(name: str, workdir: Path) -> None:
    report = by_name(name).run(workdir)
    print(report.text())
    assert report.passed, "\n".join(f"{c.expectation}: {c.detail}" for c in report.unmet())
