"""PNG charts of a run: throughput, p50/p95/p99 latency, error rate and resources over time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from loadtest.config import KINDS
from loadtest.resources import Sample

Panel = Callable[[Axes], None]
COLOURS = {"forecast": "tab:blue", "sentiment": "tab:green", "bad": "tab:orange"}


def _mid(row: dict[str, Any]) -> float:
    return float(row["t"] + row["seconds"] / 2)


def _marker(rows: list[dict[str, Any]]) -> str:
    return "o" if len(rows) < 40 else ""


def _throughput(rows: list[dict[str, Any]], steps: list[dict[str, Any]], t0: float) -> Panel:
    def draw(ax: Axes) -> None:
        t, m = [_mid(r) for r in rows], _marker(rows)
        ax.plot(t, [r["rps"] for r in rows], color="black", marker=m, label="achieved (all)")
        for kind in KINDS:
            ax.plot(t, [r[f"rps_{kind}"] for r in rows], color=COLOURS[kind], lw=1, marker=m,
                    ms=3, label=kind)  # fmt: skip
        if steps:
            xs, ys = [], []
            for step in steps:
                xs += [step["start"] - t0, step["end"] - t0]
                ys += [step["offered_rps"], step["offered_rps"]]
            ax.plot(xs, ys, color="grey", ls="--", lw=1, label="offered")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("requests / s")
        ax.set_title("Throughput")
        ax.legend(loc="upper left", fontsize=8, ncol=5)

    return draw


def _latency(rows: list[dict[str, Any]]) -> Panel:
    def draw(ax: Axes) -> None:
        measured = [r for r in rows if r["p50"] is not None]
        t, m = [_mid(r) for r in measured], _marker(rows)
        for name, colour in (("p50", "tab:blue"), ("p95", "tab:orange"), ("p99", "tab:red")):
            ax.plot(t, [r[name] for r in measured], color=colour, marker=m, label=name)
        values = [r["p99"] for r in rows if r["p99"]]
        if values and max(values) > 20 * max(min(values), 0.1):
            ax.set_yscale("log")
        ax.set_ylabel("latency (ms)")
        ax.set_title("Latency (all requests, per window)")
        ax.legend(loc="upper left", fontsize=8, ncol=3)

    return draw


def _errors(rows: list[dict[str, Any]]) -> Panel:
    def draw(ax: Axes) -> None:
        t, m = [_mid(r) for r in rows], _marker(rows)
        ax.plot(t, [100 * r["error_rate"] for r in rows], color="tab:red", marker=m)
        ax.set_ylabel("errors (%)")
        ax.set_ylim(bottom=0, top=max([1.0] + [100 * r["error_rate"] for r in rows]) * 1.1)
        ax.set_title("Error rate (unexpected answers; refused bad requests are not errors)")

    return draw


def _resources(samples: list[Sample], t0: float) -> Panel:
    def draw(ax: Axes) -> None:
        rss = [(s.time - t0, s.server_rss_bytes / 2**20) for s in samples if s.server_rss_bytes]
        if rss:
            ax.plot(*zip(*rss, strict=True), color="tab:purple", label="service RSS (MiB)")
            ax.set_ylim(bottom=0, top=max(v for _, v in rss) * 1.2)
        ax.set_ylabel("MiB")
        ax.set_title("Service memory and CPU")
        cpu = ax.twinx()
        for attr, colour, label in (
            ("server_cpu_percent", "tab:brown", "service CPU %"),
            ("locust_cpu_percent", "tab:gray", "locust CPU %"),
            ("machine_cpu_percent", "tab:olive", "machine CPU %"),
        ):
            points = [
                (s.time - t0, getattr(s, attr)) for s in samples if getattr(s, attr) is not None
            ]
            if points:
                cpu.plot(*zip(*points, strict=True), color=colour, lw=1, label=label)
        cpu.set_ylabel("CPU % (100 = one core)")
        cpu.set_ylim(bottom=0)
        lines = ax.get_legend_handles_labels()
        more = cpu.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8, ncol=3)

    return draw


def _save(panels: list[Panel], path: Path, title: str) -> None:
    figure, axes = plt.subplots(len(panels), 1, figsize=(10, 2.8 * len(panels)), sharex=True)
    axes_list = [axes] if len(panels) == 1 else list(axes)
    for ax, panel in zip(axes_list, panels, strict=True):
        panel(ax)
        ax.grid(alpha=0.3)
    axes_list[-1].set_xlabel("seconds since the first request")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_charts(
    out: Path,
    title: str,
    rows: list[dict[str, Any]],
    steps: list[dict[str, Any]],
    samples: list[Sample],
    t0: float,
) -> list[Path]:
    """throughput.png, latency.png, errors.png, resources.png and all of them in overview.png."""
    panels: dict[str, Panel] = {
        "throughput": _throughput(rows, steps, t0),
        "latency": _latency(rows),
        "errors": _errors(rows),
    }
    if samples:
        panels["resources"] = _resources(samples, t0)
    written = []
    for name, panel in panels.items():
        path = out / f"{name}.png"
        _save([panel], path, title)
        written.append(path)
    overview = out / "overview.png"
    _save(list(panels.values()), overview, title)
    return [*written, overview]
