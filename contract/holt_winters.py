"""Additive Holt-Winters (damped trend) restarted on every window, as a fixed linear map.

With its parameters fixed and its state initialised linearly from the window's first seasons,
additive Holt-Winters is linear in the window's values: the forecast is K @ z for a matrix
K [horizon, length]. K is computed once per window length by running the recursions on the
unit vectors, so a batch of windows costs one matrix product, however long the window.
"""

from __future__ import annotations

import numpy as np

from contract.card import Smoothing


def kernel(length: int, period: int, horizon: int, smoothing: Smoothing) -> np.ndarray:
    """K [horizon, length] with forecast[h] = K[h] @ window, for windows of `length` points.

    The state starts from the first season: trend = (mean of the second season - mean of the
    first) / period (zero when the window holds fewer than two seasons or `beta` is 0), the
    seasonal indices = the first season's values minus the line through its mean with that
    slope, level = that line at the season's last point. The recursions then run over the
    rest of the window (a linear trend plus a fixed season is forecast exactly). A window
    shorter than period + 1 points has nothing to smooth: K repeats its last `period` (or
    all) points, the seasonal-naive forecast.
    """
    if period < 1 or length < period + 1:
        last = min(max(period, 1), length)
        out = np.zeros((horizon, length))
        out[np.arange(horizon), length - last + np.arange(horizon) % last] = 1.0
        return out
    alpha, beta, gamma, phi = smoothing.alpha, smoothing.beta, smoothing.gamma, smoothing.phi
    unit = np.eye(length)  # row i: the window that is 1 at point i, 0 elsewhere
    first = unit[:, :period].mean(axis=1)  # the first season's mean, at its middle
    if beta > 0 and length >= 2 * period:
        trend = (unit[:, period : 2 * period].mean(axis=1) - first) / period
    else:
        trend = np.zeros(length)
    offsets = np.arange(period) - (period - 1) / 2  # steps from the first season's middle
    seasonal = np.zeros((length, length))
    seasonal[:, :period] = unit[:, :period] - (first[:, None] + trend[:, None] * offsets)
    level = first + trend * (period - 1) / 2  # at the first season's last point
    for t in range(period, length):
        previous = level
        level = alpha * (unit[:, t] - seasonal[:, t - period]) + (1 - alpha) * (
            previous + phi * trend
        )
        trend = beta * (level - previous) + (1 - beta) * phi * trend
        seasonal[:, t] = gamma * (unit[:, t] - level) + (1 - gamma) * seasonal[:, t - period]
    steps = np.arange(1, horizon + 1)
    damped = np.cumsum(phi**steps)
    indices = length - period + (steps - 1) % period
    forecast = level[:, None] + damped[None, :] * trend[:, None] + seasonal[:, indices]
    return np.ascontiguousarray(forecast.T)
