"""The issue's targets (ratios measured in the same run), each with pass/fail and its margin."""

from __future__ import annotations

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
        """How far past (+) or short of (-) the threshold, in percent of the threshold."""
        if self.value is None:
            return "not measured"
        if self.unit == "errors":
            return f"{self.value:.0f} errors"
        if self.higher_is_better:
            change = self.value / self.threshold - 1
        else:
            change = (self.threshold - self.value) / self.threshold
        return f"{change * 100:+.0f}%"

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
    return float(row["throughput"]) if row is not None else None


def inprocess_at(results: dict[str, Any], model: str, batch_size: int) -> dict[str, Any] | None:
    return next(
        (r for r in results["inprocess"] if r["model"] == model and r["batch_size"] == batch_size),
        None,
    )


def evaluate(results: dict[str, Any]) -> list[Target]:
    c = TARGET_CONNECTIONS
    service_f = _http(results, "service", "forecast", c)
    service_s = _http(results, "service", "sentiment", c)
    targets = [
        Target(
            f"forecast@{c}: service / HTTP ceiling",
            _ratio(service_f, _throughput(_http(results, "ceiling", "forecast", c))),
            0.5,
            True,
            "x",
            "bare ASGI app, same uvicorn settings, same body",
        ),
        Target(
            f"forecast@{c}: service / textbook",
            _ratio(service_f, _throughput(_http(results, "textbook", "forecast", c))),
            3.0,
            True,
            "x",
            "FastAPI + pydantic body model + session.run per request",
        ),
        Target(
            f"forecast@{c}: service / Keras",
            _ratio(service_f, _throughput(_http(results, "keras", "forecast", c))),
            50.0,
            True,
            "x",
            "FastAPI + pydantic + model.predict per request",
        ),
        Target(
            f"forecast@{c}: service p99",
            float(service_f["p99_ms"]) if service_f else None,
            25.0,
            False,
            "ms",
            "wrk latency percentile",
        ),
    ]
    batch = results["batching"].get("sentiment")
    reached = max(1, round(batch["average_batch_rows"])) if batch and batch["batches"] else None
    ceiling = inprocess_at(results, "sentiment", reached) if reached else None
    targets += [
        Target(
            f"sentiment@{c}: service / in-process ceiling",
            _ratio(service_s, float(ceiling["rows_per_s"]) if ceiling else None),
            0.7,
            True,
            "x",
            f"onnxruntime alone at batch {reached} (the batcher's average batch)"
            if reached
            else "batch size reached unknown",
        ),
        Target(
            f"sentiment@{c}: service / Keras",
            _ratio(service_s, _throughput(_http(results, "keras", "sentiment", c))),
            20.0,
            True,
            "x",
            "FastAPI + pydantic + model.predict per request",
        ),
    ]
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
