"""Rolling-origin backtest: the served artifact against the statistical baselines.

The model is trained with the trainer's defaults on the first part of the series (or an
existing artifact is given), then asked, as the service would be asked, for a forecast from
each origin in the rest with the whole history up to that origin. Each baseline is fitted on
the same history. Writes `<name>.md`, `<name>.json` and `<name>.png` (the last origin).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.forecast import baselines
from training.forecast.scoring import mae, mase_scale
from training.forecast.served import ServedForecaster

BAND = (0.1, 0.9)


@dataclass(frozen=True)
class BacktestResult:
    name: str
    origins: list[int]
    mae: dict[str, float]  # method -> MAE over every origin and step
    ratio: dict[str, float]  # method -> MAE / seasonal naive MAE
    mase: dict[str, float]
    coverage_80: float | None
    width_80: float | None
    forecasts: dict[str, np.ndarray]  # method -> [origins, horizon] (first target)
    truth: np.ndarray  # [origins, horizon]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origins": self.origins,
            "mae": self.mae,
            "mae_ratio_to_seasonal_naive": self.ratio,
            "mase": self.mase,
            "coverage_80": self.coverage_80,
            "width_80": self.width_80,
        }


def rolling_origins(length: int, first: int, horizon: int, count: int) -> list[int]:
    """`count` origins spread evenly over [first, length - horizon], the last one included."""
    last = length - horizon
    if last < first:
        return []
    points = np.linspace(first, last, min(count, last - first + 1)).round().astype(int)
    return sorted(set(points.tolist()))


def backtest(
    name: str,
    values: np.ndarray,
    artifact: Path,
    seasons: list[int],
    origins: list[int],
    train_end: int,
) -> BacktestResult:
    """`values` [time, features] (raw); the first target is scored."""
    served = ServedForecaster(artifact)
    spec = served.spec
    horizon = spec.horizon
    target = spec.feature_names.index(spec.target_names[0])
    histories = [values[:t] for t in origins]
    truth = np.stack([values[t : t + horizon, target] for t in origins])
    forecasts = {"model": served.forecast(histories)[:, :, 0]}
    coverage = width = None
    if spec.intervals is not None:
        low, high = served.quantiles(histories, BAND)[:, :, :, 0]
        coverage = float(((truth >= low) & (truth <= high)).mean())
        width = float(np.mean(high - low))
    series = values[:, [target]]
    for method in baselines.BASELINES:
        forecasts[method] = baselines.at_origins(method, series, origins, horizon, seasons)[:, :, 0]
    errors = {method: mae(f, truth) for method, f in forecasts.items()}
    reference = errors["seasonal_naive"]
    scale = mase_scale(values[:train_end, target], max(seasons))
    return BacktestResult(
        name=name,
        origins=origins,
        mae=errors,
        ratio={method: e / reference for method, e in errors.items()},
        mase={method: e / scale for method, e in errors.items()},
        coverage_80=coverage,
        width_80=width,
        forecasts=forecasts,
        truth=truth,
    )


def markdown(result: BacktestResult, header: str) -> str:
    lines = [
        f"# Backtest: {result.name}",
        "",
        header,
        "",
        f"{len(result.origins)} origins (first {result.origins[0]}, last {result.origins[-1]}).",
        "",
        "| method | MAE | MAE / seasonal naive | MASE |",
        "|---|---:|---:|---:|",
    ]
    for method in ("model", *baselines.BASELINES):
        lines.append(
            f"| {method} | {result.mae[method]:.4g} | {result.ratio[method]:.3f} "
            f"| {result.mase[method]:.3f} |"
        )
    if result.coverage_80 is not None and result.width_80 is not None:
        lines += [
            "",
            f"Model's 80% band ({BAND[0]}-{BAND[1]} quantiles): covers "
            f"{result.coverage_80:.1%} of the true values, mean width {result.width_80:.4g}.",
        ]
    return "\n".join(lines) + "\n"


def write(result: BacktestResult, values: np.ndarray, directory: Path, header: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{result.name}.md").write_text(markdown(result, header), encoding="utf-8")
    body = {**result.as_json(), "about": header}
    (directory / f"{result.name}.json").write_text(
        json.dumps(body, indent=2) + "\n", encoding="utf-8"
    )
    chart(result, values, directory / f"{result.name}.png")


def chart(result: BacktestResult, values: np.ndarray, path: Path) -> None:
    """History, truth, the model's forecast and the baselines' at the last origin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin, horizon = result.origins[-1], result.truth.shape[1]
    start = max(0, origin - 4 * horizon)
    steps = np.arange(origin, origin + horizon)
    figure, axes = plt.subplots(figsize=(9, 4))
    axes.plot(np.arange(start, origin), values[start:origin, 0], color="black", label="history")
    axes.plot(steps, result.truth[-1], color="black", linestyle=":", label="truth")
    styles = {"model": ("tab:red", 2.0), "seasonal_naive": ("tab:gray", 1.0)}
    for method, forecast in result.forecasts.items():
        if method == "naive":
            continue
        color, width = styles.get(method, (None, 1.0))
        axes.plot(steps, forecast[-1], color=color, linewidth=width, label=method)
    axes.set_title(f"{result.name}: forecast from the last origin ({origin})")
    axes.set_xlabel("step")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
