"""Point-forecast errors: MAE, the MASE scale, ratios to a baseline, geometric means."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def mae(forecast: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(forecast, np.float64) - np.asarray(truth, np.float64))))


def mase_scale(train: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal-naive forecast on the training part (the MASE scale)."""
    values = np.asarray(train, np.float64)
    lag = season if 0 < season < len(values) else 1
    scale = float(np.mean(np.abs(values[lag:] - values[:-lag])))
    return scale if scale > 0 else 1.0


def geometric_mean(values: Iterable[float]) -> float:
    array = np.asarray(list(values), np.float64)
    return float(np.exp(np.mean(np.log(array))))
