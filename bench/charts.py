"""PNG charts of one results document (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.report import APP_NAMES

MODELS = ("forecast", "sentiment")


def _by_app(
    results: dict[str, Any], model: str, key: str
) -> dict[str, tuple[list[int], list[float]]]:
    series: dict[str, tuple[list[int], list[float]]] = {}
    for app in APP_NAMES:
        rows = sorted(
            (
                r
                for r in results["http"]
                if r["app"] == app and r["model"] == model and r["requests"]  # none done: no point
            ),
            key=lambda r: r["connections"],
        )
        if rows:
            series[app] = ([r["connections"] for r in rows], [r[key] for r in rows])
    return series


def _http_chart(results: dict[str, Any], key: str, ylabel: str, title: str, path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, model in zip(axes, MODELS, strict=True):
        for app, (x, y) in _by_app(results, model, key).items():
            axis.plot(x, y, marker="o", label=APP_NAMES[app])
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("concurrent clients (closed loop)")
        axis.set_ylabel(ylabel)
        axis.set_title(model)
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _inprocess_chart(results: dict[str, Any], path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6, 4.2))
    for model in MODELS:
        rows = sorted(
            (r for r in results["inprocess"] if r["model"] == model), key=lambda r: r["batch_size"]
        )
        if rows:
            axis.plot(
                [r["batch_size"] for r in rows],
                [r["rows_per_s"] for r in rows],
                marker="o",
                label=model,
            )
        service = next(
            (
                r
                for r in results["http"]
                if r["app"] == "service" and r["model"] == model and r["connections"] == 32
            ),
            None,
        )
        if service is not None:
            axis.axhline(
                service["throughput"],
                linestyle="--",
                alpha=0.6,
                label=f"{model} service @32 clients",
            )
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("batch size (rows per session.run)")
    axis.set_ylabel("rows per second")
    axis.set_title("onnxruntime in-process ceiling (no HTTP)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _selection_chart(results: dict[str, Any], path: Path) -> None:
    pairs = sorted({(r["workers"], r["ort_threads"]) for r in results["selection"]})
    labels = [f"{w} worker(s)\n{t} thread(s)" for w, t in pairs]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, model in zip(axes, MODELS, strict=True):
        values = [
            next(
                (
                    r["throughput"]
                    for r in results["selection"]
                    if r["model"] == model and (r["workers"], r["ort_threads"]) == pair
                ),
                0.0,
            )
            for pair in pairs
        ]
        axis.bar(labels, values)
        axis.set_ylabel("req/s at 32 clients")
        axis.set_title(f"service, {model}")
    figure.suptitle("uvicorn workers x onnxruntime intra-op threads")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    if results["http"]:
        _http_chart(
            results, "throughput", "requests per second", "Throughput", out_dir / "throughput.png"
        )
        _http_chart(
            results, "p99_ms", "p99 latency (ms)", "p99 latency", out_dir / "latency_p99.png"
        )
        made += [out_dir / "throughput.png", out_dir / "latency_p99.png"]
    if results["inprocess"]:
        _inprocess_chart(results, out_dir / "inprocess.png")
        made.append(out_dir / "inprocess.png")
    if results["selection"]:
        _selection_chart(results, out_dir / "selection.png")
        made.append(out_dir / "selection.png")
    return made
