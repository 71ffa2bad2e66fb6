"""Conformal prediction intervals: residual quantiles per horizon step, coverage, width."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from contract.card import Intervals
from contract.forecast_transform import ForecastTransform, WindowState

LEVELS = tuple(round(0.01 * i, 2) for i in range(1, 100))  # 0.01 .. 0.99
BAND_80 = (0.1, 0.9)


def residual_grid(residuals: np.ndarray) -> list[list[list[float]]]:
    """Residuals [n, horizon, targets] (graph output units) -> quantiles [h][t][level]."""
    q = np.quantile(residuals, LEVELS, axis=0)  # [levels, horizon, targets]
    q = np.maximum.accumulate(q, axis=0)  # monotone in the level even after rounding
    return np.transpose(q, (1, 2, 0)).tolist()


def band_coverage(
    transform: ForecastTransform,
    output: np.ndarray,
    states: Sequence[WindowState],
    truth: np.ndarray,
) -> tuple[float, float, float]:
    """Share of `truth` inside the 80% band, its mean raw width, its mean normalised width."""
    low, high = transform.quantiles(output, states, BAND_80)
    inside = (truth >= low) & (truth <= high)
    offsets = transform.residual_quantiles(BAND_80)
    return float(inside.mean()), float(np.mean(high - low)), float(np.mean(offsets[1] - offsets[0]))


def intervals(
    residuals: np.ndarray,
    calibration: str,
    evaluation: str,
    evaluation_windows: int,
    coverage: tuple[float, float, float] | None = None,
) -> Intervals:
    return Intervals(
        levels=list(LEVELS),
        residuals=residual_grid(residuals),
        calibration=calibration,
        calibration_windows=len(residuals),
        evaluation=evaluation,
        evaluation_windows=evaluation_windows,
        coverage_80=None if coverage is None else coverage[0],
        width_80=None if coverage is None else coverage[1],
        width_80_normalised=None if coverage is None else coverage[2],
    )
