"""Numbers from a run's request log: timelines, per-step results, the maximum throughput and
the soak criteria. Throughput counts requests by completion time; latency is locust's
(client-side, from sending the request to reading the whole answer)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from loadtest.config import KINDS
from loadtest.resources import Sample

FloatArray = npt.NDArray[np.float64]
QUANTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0}


@dataclass(frozen=True)
class RequestLog:
    start: FloatArray  # epoch seconds
    latency_ms: FloatArray
    kind: npt.NDArray[np.str_]
    case: npt.NDArray[np.str_]
    status: npt.NDArray[np.int64]
    ok: npt.NDArray[np.bool_]
    error: list[str]

    @property
    def end(self) -> FloatArray:
        return self.start + self.latency_ms / 1000.0

    def __len__(self) -> int:
        return len(self.start)

    @property
    def t0(self) -> float:
        return float(self.start.min()) if len(self) else 0.0


def load_request_log(path: Path) -> RequestLog:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return RequestLog(
        start=np.array([float(r["start"]) for r in rows], dtype=np.float64),
        latency_ms=np.array([float(r["latency_ms"]) for r in rows], dtype=np.float64),
        kind=np.array([r["kind"] for r in rows], dtype=np.str_),
        case=np.array([r["case"] for r in rows], dtype=np.str_),
        status=np.array([int(r["status"]) for r in rows], dtype=np.int64),
        ok=np.array([r["ok"] == "1" for r in rows], dtype=np.bool_),
        error=[r["error"] for r in rows],
    )


def percentiles(latency_ms: FloatArray) -> dict[str, float | None]:
    if latency_ms.size == 0:
        return dict.fromkeys(QUANTILES)
    values = np.percentile(latency_ms, list(QUANTILES.values()))
    return {name: round(float(v), 2) for name, v in zip(QUANTILES, values, strict=True)}


def summarize(log: RequestLog, mask: npt.NDArray[np.bool_], seconds: float) -> dict[str, Any]:
    count = int(mask.sum())
    failures = int((mask & ~log.ok).sum())
    return {
        "requests": count,
        "failures": failures,
        "error_rate": failures / count if count else 0.0,
        "rps": count / seconds if seconds > 0 else 0.0,
        **percentiles(log.latency_ms[mask]),
    }


def totals(log: RequestLog) -> dict[str, Any]:
    """Whole-run results overall and per kind, with the bad cases and their status codes."""
    seconds = float(log.end.max() - log.t0) if len(log) else 0.0
    everything = np.ones(len(log), dtype=np.bool_)
    result: dict[str, Any] = {
        "duration_s": round(seconds, 1),
        "all": summarize(log, everything, seconds),
    }
    for kind in KINDS:
        result[kind] = summarize(log, log.kind == kind, seconds)
    bad = log.kind == "bad"
    cases: dict[str, dict[str, int]] = {}
    for case, status in zip(log.case[bad], log.status[bad], strict=True):
        cases.setdefault(str(case), {}).setdefault(str(int(status)), 0)
        cases[str(case)][str(int(status))] += 1
    result["bad_cases"] = dict(sorted(cases.items()))
    errors: dict[str, int] = {}
    for index in np.flatnonzero(~log.ok):
        message = log.error[index] or "unknown"
        errors[message] = errors.get(message, 0) + 1
    result["failure_messages"] = dict(sorted(errors.items(), key=lambda item: -item[1])[:20])
    return result


def timeline(log: RequestLog, window: float = 5.0, t0: float | None = None) -> list[dict[str, Any]]:
    """Per window of completion time: throughput (total and per kind), errors, latency."""
    if not len(log):
        return []
    origin = log.t0 if t0 is None else t0
    end = log.end
    last = float(end.max() - origin)
    rows = []
    for left in np.arange(0.0, last + 1e-9, window):
        mask = (end >= origin + left) & (end < origin + left + window)
        seconds = min(window, last - float(left)) if left + window > last else window
        seconds = max(seconds, 1e-3)  # the last window is usually partial
        row = {"t": float(left), "seconds": seconds, **summarize(log, mask, seconds)}
        for kind in KINDS:
            row[f"rps_{kind}"] = float((mask & (log.kind == kind)).sum()) / seconds
        rows.append(row)
    if len(rows) > 1 and rows[-1]["seconds"] < window / 2:
        rows.pop()  # too short to say anything about throughput
    return rows


def step_results(log: RequestLog, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each step's measured part (after its warm-up): achieved throughput, latency, errors."""
    end = log.end
    rows = []
    for step in steps:
        since, until = float(step["measured_from"]), float(step["end"])
        mask = (end >= since) & (end < until)
        row = {
            "step": step["index"],
            "users": step["users"],
            "offered_rps": round(float(step["offered_rps"]), 1),
            "seconds": round(until - since, 1),
            **summarize(log, mask, until - since),
        }
        row["rps"] = round(row["rps"], 1)
        rows.append(row)
    return rows


def max_throughput(rows: list[dict[str, Any]], max_error_rate: float) -> dict[str, Any] | None:
    """The step with the highest achieved throughput among those within the error budget."""
    usable = [r for r in rows if r["requests"] and r["error_rate"] <= max_error_rate]
    return max(usable, key=lambda r: r["rps"]) if usable else None


@dataclass(frozen=True)
class Criterion:
    name: str
    passed: bool
    value: str
    limit: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "value": self.value, "limit": self.limit}


def _window_mean(samples: list[Sample], since: float, until: float) -> float | None:
    values = [
        s.server_rss_bytes
        for s in samples
        if s.server_rss_bytes is not None and since <= s.time < until
    ]
    return float(np.mean(values)) if values else None


def soak_verdict(
    log: RequestLog,
    samples: list[Sample],
    since: float | None = None,
    minute: float = 60.0,
    p99_tolerance: float = 0.20,
    memory_tolerance: float = 0.10,
) -> dict[str, Any]:
    """Zero errors over the whole run, warm-up included; from `since` (the end of the warm-up,
    default the first request) p99 of the first and the last minute within 20%, and RSS
    growth from the first to the last minute < 10%."""
    failures = int((~log.ok).sum())
    criteria = [
        Criterion("zero errors", failures == 0, f"{failures} of {len(log)} requests failed", "0")
    ]
    end = log.end
    start = log.t0 if since is None else since
    first_end, last_start = start + minute, float(end.max()) - minute if len(log) else 0.0
    first = percentiles(log.latency_ms[(end >= start) & (end < first_end)])["p99"]
    last = percentiles(log.latency_ms[end >= last_start])["p99"]
    if first and last is not None:
        change = (last - first) / first
        criteria.append(
            Criterion(
                "stable p99",
                abs(change) <= p99_tolerance,
                f"first minute {first:.1f} ms, last minute {last:.1f} ms ({change:+.1%})",
                f"within {p99_tolerance:.0%}",
            )
        )
    else:
        criteria.append(Criterion("stable p99", False, "not enough requests", "n/a"))
    start_rss = _window_mean(samples, start, first_end)
    end_rss = _window_mean(samples, last_start, float(end.max()) + 1.0) if len(log) else None
    if start_rss and end_rss is not None:
        growth = (end_rss - start_rss) / start_rss
        criteria.append(
            Criterion(
                "memory growth",
                growth < memory_tolerance,
                f"RSS {start_rss / 2**20:.1f} MiB in the first minute, "
                f"{end_rss / 2**20:.1f} MiB in the last ({growth:+.1%})",
                f"< {memory_tolerance:.0%}",
            )
        )
    else:
        criteria.append(Criterion("memory growth", False, "not measured (no server pid)", "n/a"))
    return {
        "passed": all(c.passed for c in criteria),
        "criteria": [c.as_dict() for c in criteria],
    }
