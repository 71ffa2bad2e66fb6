"""`python -m bench.growth`: how the CPU cost of one request grows with what it carries.

In process, on the bundled models, through the service's own request path (decode, prepare,
one batched onnxruntime run, encode; no HTTP): CPU seconds of this process per request
(`time.process_time`, so other work on the machine inflates it less than wall time) against
series length, series per body, text length in tokens and texts per body; and the resident
memory each loaded model version adds. Writes `results/bench/growth.{json,md}`.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench.machine import describe
from service.config import Settings
from service.loading import load_model
from service.registry import LoadedModel
from service.tasks.checks import Limits

LIMITS = Limits(max_items=256, max_series_length=10_000, max_text_chars=100_000)


def _cpu_per_call(call: Callable[[], object], min_seconds: float) -> float:
    call()  # warm
    calls, started = 0, time.process_time()
    while (spent := time.process_time() - started) < min_seconds or calls < 3:
        call()
        calls += 1
    return spent / calls


def _request(model: LoadedModel, body: dict[str, Any]) -> Callable[[], bytes]:
    def once() -> bytes:
        query = model.task.decode(body, LIMITS)
        prepared = model.codec.prepare(query, LIMITS)
        return model.codec.encode(prepared, model.runner(prepared.rows))

    return once


def _series(n: int, length: int) -> list[list[float]]:
    steps = np.arange(length)
    return [np.round(np.sin(steps / 5 + i), 4).tolist() for i in range(n)]


_WORDS = ("a", "wonderful", "film", "with", "wooden", "acting", "and", "dull", "plot", "but")


def _text(tokens: int) -> str:
    return " ".join(_WORDS[i % len(_WORDS)] for i in range(tokens))


def measure(models_dir: Path, min_seconds: float) -> dict[str, Any]:
    settings = Settings(models_dir=models_dir)
    process = psutil.Process()
    memory: dict[str, float] = {}
    loaded: dict[str, LoadedModel] = {}
    for name in ("forecast", "sentiment"):
        before = process.memory_info().rss
        loaded[name] = load_model(models_dir / name / "1", settings)
        memory[f"{name}/1"] = (process.memory_info().rss - before) / 2**20
    forecast, sentiment = loaded["forecast"], loaded["sentiment"]
    rows: list[dict[str, Any]] = []

    def point(axis: str, value: int, model: LoadedModel, body: dict[str, Any]) -> None:
        seconds = _cpu_per_call(_request(model, body), min_seconds)
        rows.append({"axis": axis, "value": value, "cpu_ms_per_request": seconds * 1e3})

    for length in (50, 200, 1000, 10_000):  # the model looks at its last 50 points
        point("forecast: series length", length, forecast, {"series": _series(1, length)})
    for count in (1, 8, 32, 128, 256):
        point(
            "forecast: series per body (50 points)", count, forecast, {"series": _series(count, 50)}
        )
    for tokens in (10, 100, 500, 2000):  # the card keeps the last 500 tokens
        point("sentiment: tokens per text", tokens, sentiment, {"texts": [_text(tokens)]})
    for count in (1, 8, 32, 128, 256):
        point(
            "sentiment: texts per body (200 tokens)",
            count,
            sentiment,
            {"texts": [_text(200)] * count},
        )
    return {
        "machine": describe(None),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "min_seconds_per_point": min_seconds,
        "points": rows,
        "memory_mib_per_loaded_version": memory,
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# How cost grows ({results['when']})",
        "",
        "CPU per request of the service's own request path in process (decode, prepare, one",
        "onnxruntime run, encode; no HTTP), `python -m bench.growth`.",
        "",
        "| what varies | value | CPU ms per request |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {p['axis']} | {p['value']:,} | {p['cpu_ms_per_request']:.3f} |"
        for p in results["points"]
    ]
    lines += [
        "",
        "| loaded model version | resident memory added (MiB; the first one also pays for "
        "onnxruntime's own start) |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in results["memory_mib_per_loaded_version"].items()]
    lines += ["", f"Machine: {json.dumps(results['machine'])}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per point")
    args = parser.parse_args(argv)
    results = measure(args.models_dir, args.seconds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "growth.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / "growth.md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
