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


def conformal_levels(levels: np.ndarray, count: int) -> np.ndarray:
    """Split-conformal levels for `count` calibration points: a level q above 1/2 moves up to
    q (1 + 1/count), one below 1/2 down to q - (1 - q)/count (the finite-sample correction of
    a one-sided conformal quantile), clipped to [0, 1]."""
    upper = levels * (1 + 1 / count)
    lower = levels - (1 - levels) / count
    return np.clip(np.where(levels > 0.5, upper, np.where(levels < 0.5, lower, levels)), 0, 1)


def pooled_residual_grid(residuals: np.ndarray) -> list[list[list[float]]]:
    """Residual quantiles for few calibration windows: the residuals of every horizon step,
    divided by that step's mean absolute residual (made non-decreasing over the steps), are
    pooled, their conformal-corrected quantiles (`conformal_levels`, one point per window)
    taken, and scaled back per step. Few windows then still give a smooth, wide-enough grid."""
    n, horizon, n_targets = residuals.shape
    spread = np.mean(np.abs(residuals), axis=0)  # [horizon, targets]
    spread = np.maximum.accumulate(np.maximum(spread, 1e-12), axis=0)
    units = (residuals / spread[None]).transpose(0, 2, 1)  # [n, targets, horizon]
    levels = conformal_levels(np.asarray(LEVELS), n)
    grid = np.empty((horizon, n_targets, len(LEVELS)))
    for t in range(n_targets):
        pooled = units[:, t].reshape(-1)
        q = np.maximum.accumulate(np.quantile(pooled, levels))
        grid[:, t] = spread[:, t, None] * q[None]
    return grid.tolist()


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
    pooled: bool = False,
) -> Intervals:
    """Intervals from calibration residuals [n, horizon, targets]: per-step quantiles, or with
    `pooled` the scaled, pooled and conformal-corrected ones of `pooled_residual_grid`."""
    grid = pooled_residual_grid(residuals) if pooled else residual_grid(residuals)
    return Intervals(
        levels=list(LEVELS),
        residuals=grid,
        calibration=calibration,
        calibration_windows=len(residuals),
        evaluation=evaluation,
        evaluation_windows=evaluation_windows,
        coverage_80=None if coverage is None else coverage[0],
        width_80=None if coverage is None else coverage[1],
        width_80_normalised=None if coverage is None else coverage[2],
    )
