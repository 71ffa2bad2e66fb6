"""Windows of a real series for a per-window normalised model, and where they may come from.

An origin t is the index of the first forecast step: the model sees values[t - window : t]
and forecasts values[t : t + horizon]. Training origins have every target before the end of
the training part; validation and test origins have their first target in their own segment
(their inputs may reach back: that is the past, known at forecast time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contract.forecast_transform import ForecastTransform, WindowBatch


@dataclass(frozen=True)
class Cut:
    """Train [0, train_end), validation targets [train_end, valid_end), test [valid_end, T)."""

    train_end: int
    valid_end: int
    length: int


def origins(first: int, end: int, window: int, horizon: int, max_count: int = 0) -> list[int]:
    """Origins t with first <= t, window <= t and t + horizon <= end; evenly thinned to at
    most `max_count` (0: all), always keeping the last one."""
    every = list(range(max(first, window), end - horizon + 1))
    if max_count and len(every) > max_count:
        picks = np.linspace(0, len(every) - 1, max_count).round().astype(int)
        every = [every[i] for i in sorted(set(picks.tolist()))]
    return every


@dataclass(frozen=True)
class Windows:
    origins: list[int]
    x: np.ndarray  # graph input [n, window, features]
    y: np.ndarray  # graph target [n, horizon * targets] (normalised, minus the base)
    truth: np.ndarray  # raw future values [n, horizon, targets]
    batch: WindowBatch


def build(
    values: np.ndarray,
    target_idx: list[int],
    transform: ForecastTransform,
    at: list[int],
    horizon: int,
) -> Windows:
    """Normalised windows at the origins `at` (each needs `window` points before it)."""
    window = transform.window
    assert window is not None
    raw = np.stack([values[t - window : t] for t in at])
    future = np.stack([values[t : t + horizon][:, target_idx] for t in at])
    x, batch = transform.to_graph_batch(raw)
    y = transform.to_normalised_targets(future, batch)
    return Windows(
        at, x.astype(np.float32), y.reshape(len(at), -1).astype(np.float32), future, batch
    )
