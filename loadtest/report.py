"""The run's summary: `summary.json` (everything) and `summary.md` (the tables people read)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.config import KINDS
from loadtest.resources import Sample


def resource_summary(samples: list[Sample]) -> dict[str, Any]:
    def stats(values: list[float]) -> dict[str, float] | None:
        if not values:
            return None
        return {
            "mean": round(float(np.mean(values)), 1),
            "max": round(float(np.max(values)), 1),
        }

    rss = [s.server_rss_bytes / 2**20 for s in samples if s.server_rss_bytes]
    return {
        "server_rss_mib": None
        if not rss
        else {"first": round(rss[0], 1), "last": round(rss[-1], 1), **(stats(rss) or {})},
        "server_cpu_percent": stats(
            [s.server_cpu_percent for s in samples if s.server_cpu_percent is not None]
        ),
        "locust_cpu_percent": stats(
            [s.locust_cpu_percent for s in samples if s.locust_cpu_percent is not None]
        ),
        "machine_cpu_percent": stats(
            [s.machine_cpu_percent for s in samples if s.machine_cpu_percent is not None]
        ),
    }


def write_timeline(rows: list[dict[str, Any]], path: Path) -> None:
    if not rows:
        path.write_text("")
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _kind_table(totals: dict[str, Any]) -> list[str]:
    lines = [
        "| kind | requests | req/s | failures | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in (*KINDS, "all"):
        row = totals[kind]
        lines.append(
            f"| {kind} | {row['requests']:,} | {row['rps']:.1f} | {row['failures']} | "
            f"{_ms(row['p50'])} | {_ms(row['p95'])} | {_ms(row['p99'])} |"
        )
    return lines


def _step_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| step | users | offered req/s | achieved req/s | errors | p50 ms | p95 ms | p99 ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['step']} | {row['users']} | {row['offered_rps']:.1f} | {row['rps']:.1f} | "
            f"{row['failures']} ({row['error_rate']:.1%}) | {_ms(row['p50'])} | "
            f"{_ms(row['p95'])} | {_ms(row['p99'])} |"
        )
    return lines


def markdown(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    lines = [
        f"# Load test: {summary['profile']} profile",
        "",
        f"- target: `{summary['host']}`, started {summary['started_at']}, "
        f"{summary['totals']['duration_s']} s, stop: {summary['stop_reason'] or '-'}",
        f"- mix: `{summary['mix']}`, seed {summary['seed']}, locust {summary['locust_version']}",
        f"- machine: {machine['nproc']} cores ({machine['cpu_model']}), "
        f"{machine['memory_gib']} GiB RAM, Python {machine['python']}",
        "",
        "## Requests",
        "",
        *_kind_table(summary["totals"]),
        "",
    ]
    if summary.get("steps"):
        lines += ["## Steps (after each step's warm-up)", "", *_step_table(summary["steps"]), ""]
    best = summary.get("max_throughput")
    if best is not None:
        lines += [
            f"**Maximum throughput: {best['rps']:.1f} req/s** (step {best['step']}, "
            f"{best['users']} users, p99 {_ms(best['p99'])} ms, error rate "
            f"{best['error_rate']:.1%}; rule: {summary['max_throughput_rule']})",
            "",
        ]
    soak = summary.get("soak")
    if soak is not None:
        verdict = "PASSED" if soak["passed"] else "FAILED"
        lines += [
            f"## Soak: {verdict}",
            "",
            f"Target {soak['target_rps']:.1f} req/s ({soak['target_rule']}). "
            f"The first {soak.get('warmup_s', 0.0):g} s at that load are a warm-up: they count "
            "for errors, not for the p99 and memory windows, which start after it.",
            "",
            "| criterion | value | limit | result |",
            "| --- | --- | --- | --- |",
        ]
        for c in soak["criteria"]:
            result = "pass" if c["passed"] else "FAIL"
            lines.append(f"| {c['name']} | {c['value']} | {c['limit']} | {result} |")
        lines.append("")
    resources = summary["resources"]
    lines += ["## Resources", ""]
    if resources["server_rss_mib"]:
        rss = resources["server_rss_mib"]
        lines.append(
            f"- service RSS: {rss['first']} MiB at the start, {rss['last']} MiB at the end, "
            f"max {rss['max']} MiB"
        )
    labels = (
        ("server_cpu_percent", "service"),
        ("locust_cpu_percent", "locust"),
        ("machine_cpu_percent", "whole machine (every process)"),
    )
    for name, label in labels:
        cpu = resources.get(name)
        if cpu:
            lines.append(f"- {label} CPU: mean {cpu['mean']}%, max {cpu['max']}% (100% = 1 core)")
    failures = summary["totals"]["failure_messages"]
    if failures:
        lines += ["", "## Failures", "", "| count | message |", "| ---: | --- |"]
        lines += [f"| {n} | {m.replace('|', '/')} |" for m, n in failures.items()]
    lines += ["", "## Bad requests (case: status -> count)", ""]
    for case, statuses in summary["totals"]["bad_cases"].items():
        lines.append(f"- {case}: " + ", ".join(f"{s} -> {n}" for s, n in statuses.items()))
    if summary.get("charts"):
        lines += ["", "## Charts", ""]
        lines += [f"![{Path(c).stem}]({c})" for c in summary["charts"]]
    return "\n".join(lines) + "\n"


def write_summary(summary: dict[str, Any], out: Path) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(markdown(summary), encoding="utf-8")
