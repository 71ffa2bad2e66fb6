"""The benchmark's targets (ratios measured in the same run), each with pass/fail and margin."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from bench.config import ERROR_CONNECTIONS, TARGET_CONNECTIONS


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None  # None: not measured in this run
    threshold: float
    higher_is_better: bool
    unit: str  # "x" for ratios, "ms", "errors"
    detail: str

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        if self.higher_is_better:
            return self.value >= self.threshold
        return self.value <= self.threshold

    @property
    def margin(self) -> str:
        """How far past or short of the threshold, in words."""
        if self.value is None:
            return "not measured"
        if self.unit == "errors":
            return f"{self.value:.0f} errors"
        if self.unit == "ms":
            gap = self.value - self.threshold
            side = "over" if gap > 0 else "under"
            return f"{abs(gap):.1f} ms {side} ({self.value / self.threshold:.2f}x the limit)"
        change = self.value / self.threshold - 1
        if change >= 0:
            return f"ahead by {change * 100:.0f}%"
        return f"short by {-change * 100:.0f}% (needs {1 / (1 + change):.2f}x more)"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "margin": self.margin}


def _http(results: dict[str, Any], app: str, model: str, connections: int) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in results["http"]
            if r["app"] == app and r["model"] == model and r["connections"] == connections
        ),
        None,
    )


def _ratio(numerator: dict[str, Any] | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(float(numerator["throughput"]) / denominator, 3)


def _throughput(row: dict[str, Any] | None) -> float | None:
    """Requests per second; a run that completed none counts as one request in its window,
    which makes the service's ratio against it a lower bound."""
    if row is None:
        return None
    if not row["requests"]:
        return 1.0 / max(float(row["seconds"]), 1e-9)
    return float(row["throughput"])


def _round_ratios(
    results: dict[str, Any], app: str, base: str, model: str, connections: int
) -> list[float]:
    """app / base throughput of every round that measured both."""
    rows = {
        (r["app"], r.get("round", 0)): r
        for r in results["http"]
        if r["model"] == model and r["connections"] == connections and r["app"] in (app, base)
    }
    ratios = []
    for (name, round_), row in sorted(rows.items(), key=lambda item: item[0][1]):
        other = rows.get((base, round_))
        if name == app and other is not None and other["throughput"]:
            ratios.append(float(row["throughput"]) / float(other["throughput"]))
    return ratios


def inprocess_at(results: dict[str, Any], model: str, batch_size: int) -> dict[str, Any] | None:
    return next(
        (r for r in results["inprocess"] if r["model"] == model and r["batch_size"] == batch_size),
        None,
    )


def _versus(results: dict[str, Any], model: str, app: str, threshold: float, detail: str) -> Target:
    """Service throughput over another app's, both at the target concurrency."""
    c = TARGET_CONNECTIONS
    other = _http(results, app, model, c)
    if other is not None and not other["requests"]:
        detail += f" ({app} completed no request in {other['seconds']:.0f} s: a lower bound)"
    return Target(
        f"{model}@{c}: service / {app}",
        _ratio(_http(results, "service", model, c), _throughput(other)),
        threshold,
        True,
        "x",
        detail,
    )


def _limit(results: dict[str, Any], model: str) -> tuple[float | None, str]:
    """What this machine allows a request: the HTTP cost (bare ASGI app, same uvicorn, same
    body) plus the inference cost (onnxruntime alone, as many processes as workers, at the
    batcher's average batch): limit = 1 / (1/http + 1/inference), in requests per second."""
    http = _throughput(_http(results, "ceiling", model, TARGET_CONNECTIONS))
    batch = results["batching"].get(model)
    if not http:
        return None, "HTTP ceiling unknown"
    if not batch or batch["batches"] <= 0 or not batch.get("complete", False):
        return None, "batch size reached unknown (the batching counters of some worker unread)"
    reached = max(1, round(batch["average_batch_rows"]))
    alone = inprocess_at(results, model, reached)
    if alone is None:
        return None, f"onnxruntime not measured at batch {reached}"
    # One row per benchmark request, so rows/s of onnxruntime alone are requests/s.
    inference = float(alone["rows_per_s"])
    limit = 1.0 / (1.0 / http + 1.0 / inference)
    detail = (
        f"limit {limit:,.0f} req/s = 1 / (1/{http:,.0f} HTTP + 1/{inference:,.0f} onnxruntime "
        f"at batch {reached})"
    )
    return limit, detail


def evaluate(results: dict[str, Any]) -> list[Target]:
    c = TARGET_CONNECTIONS
    service_f = _http(results, "service", "forecast", c)
    targets: list[Target] = []
    for model in ("forecast", "sentiment"):
        limit, detail = _limit(results, model)
        targets.append(
            Target(
                f"{model}@{c}: service / limit",
                _ratio(_http(results, "service", model, c), limit),
                0.8,
                True,
                "x",
                detail,
            )
        )
    targets += [
        _versus(results, "forecast", "textbook", 3.0, "FastAPI + pydantic + session.run"),
        _versus(results, "forecast", "keras", 50.0, "FastAPI + pydantic + Keras predict"),
        Target(
            f"forecast@{c}: service p99",
            float(service_f["p99_ms"]) if service_f else None,
            10.0,
            False,
            "ms",
            "wrk latency percentile, full validation kept",
        ),
        _versus(results, "sentiment", "keras", 20.0, "FastAPI + pydantic + Keras predict"),
    ]
    for model in ("forecast", "sentiment"):
        ratios = _round_ratios(results, "service-v2-json", "service", model, c)
        if ratios:
            targets.append(
                Target(
                    f"{model}@{c}: V2 JSON / native",
                    round(statistics.median(ratios), 3),
                    0.8,
                    True,
                    "x",
                    "the same service and model, POST /v2/models/{name}/infer vs the native "
                    f"route; median of {len(ratios)} alternated round(s): "
                    + ", ".join(f"{r:.2f}" for r in ratios),
                )
            )
    for model in ("forecast", "sentiment"):
        row = _http(results, "service", model, ERROR_CONNECTIONS)
        targets.append(
            Target(
                f"{model}@{ERROR_CONNECTIONS}: service errors",
                float(row["errors"]) if row else None,
                0,
                False,
                "errors",
                "connect/read/write/timeout errors and non-2xx answers (wrk)",
            )
        )
    return targets
