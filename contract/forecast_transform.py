"""Raw series <-> the graph's units, for one forecast card: one implementation for both sides.

Training evaluates its models through `ForecastTransform` and the service answers through it,
so an answer from `POST /forecast` equals the trainer's evaluation of the same window.
Pure numpy: no TensorFlow, no onnxruntime.

Two kinds of card:
- global scalers only (`spec.normalisation is None`): z = (x - mean) / scale for the whole
  series, output * target scale + target mean;
- per-window normalisation (`spec.normalisation`, see `contract.card.WindowNormalisation`):
  only the most recent `spec.window` points are used; each window gets its own level and scale
  (optionally in log space) and the graph's output is a correction of the window's base
  forecast (seasonal naive, a seasonal mean, Holt-Winters or a blend: the card says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from contract import holt_winters
from contract.card import ForecastSpec

_LOG_MAX = 700.0  # exp() of more overflows float64
_MIN_SCALE = 1e-12


class ForecastInputError(ValueError):
    """A series the transform cannot map (the message says why)."""


@dataclass(frozen=True)
class WindowState:
    """What `from_graph` needs to put one series' output back into raw units."""

    points_used: int  # how many of the series' most recent points the graph saw
    level: np.ndarray | None = None  # [targets], transformed units (per-window only)
    scale: np.ndarray | None = None  # [targets]
    base: np.ndarray | None = None  # [horizon, targets], the seasonal-naive forecast of z


@dataclass(frozen=True)
class WindowBatch:
    """`WindowState`s of several equal-length windows, as arrays."""

    points_used: int
    level: np.ndarray  # [n, targets]
    scale: np.ndarray  # [n, targets]
    base: np.ndarray  # [n, horizon, targets]

    def state(self, row: int) -> WindowState:
        return WindowState(self.points_used, self.level[row], self.scale[row], self.base[row])

    @classmethod
    def stack(cls, states: Sequence[WindowState]) -> WindowBatch:
        parts = [(s.level, s.scale, s.base) for s in states]
        if any(p is None for part in parts for p in part):
            raise ValueError("window states without per-window normalisation")
        return cls(
            points_used=states[0].points_used,
            level=np.stack([s.level for s in states]),  # type: ignore[misc]
            scale=np.stack([s.scale for s in states]),  # type: ignore[misc]
            base=np.stack([s.base for s in states]),  # type: ignore[misc]
        )


class ForecastTransform:
    """Built once per loaded forecast model (arrays ready), then used per series."""

    def __init__(self, spec: ForecastSpec) -> None:
        self.spec = spec
        self._in_mean = np.asarray(spec.input_scaler.mean, dtype=np.float64)
        self._in_scale = np.asarray(spec.input_scaler.scale, dtype=np.float64)
        self._out_mean = np.asarray(spec.target_scaler.mean, dtype=np.float64)
        self._out_scale = np.asarray(spec.target_scaler.scale, dtype=np.float64)
        self._targets = [spec.feature_names.index(name) for name in spec.target_names]
        norm = spec.normalisation
        self.per_window = norm is not None
        self._log = norm is not None and norm.transform == "log"
        self._level_points = norm.level_points if norm is not None else 1
        self._season = norm.base_season if norm is not None else 0
        self._drift = norm is not None and norm.drift
        self._base_kind = norm.base if norm is not None else "seasonal_naive"
        self._smoothing = norm.smoothing if norm is not None else None
        self._naive_weight = norm.naive_weight if norm is not None else 0.0
        self._kernels: dict[int, np.ndarray] = {}  # Holt-Winters map per window length
        if norm is not None and spec.window is None:
            raise ValueError("per-window normalisation needs the card's window")
        self.window = spec.window
        intervals = spec.intervals
        self._levels = np.asarray(intervals.levels if intervals else [], dtype=np.float64)
        self._residuals = np.asarray(intervals.residuals if intervals else [], dtype=np.float64)

    @property
    def target_columns(self) -> list[int]:
        """Indices of the target features among the input features."""
        return list(self._targets)

    # ----------------------------------------------------------------------- one series
    def to_graph(self, values: np.ndarray) -> tuple[np.ndarray, WindowState]:
        """Raw float64 [length, n_features] -> graph input float64 [length', n_features].

        With per-window normalisation only the last `window` points are used (all of them
        when the series is shorter). Raises `ForecastInputError` for values the transform
        cannot take (zero or negative values for a log-transformed model). The caller checks
        the result fits float32 before casting.
        """
        if not self.per_window:
            recent = values[-self.window :] if self.window else values
            scaled = (recent - self._in_mean) / self._in_scale
            return scaled, WindowState(points_used=len(recent))
        assert self.window is not None
        recent = values[-self.window :]
        z, batch = self.to_graph_batch(recent[None])
        return z[0], batch.state(0)

    def from_graph(self, output: np.ndarray, states: Sequence[WindowState]) -> np.ndarray:
        """Graph output [k, horizon, targets] -> raw float64 [k, horizon, targets]."""
        if not self.per_window:
            return output.astype(np.float64) * self._out_scale + self._out_mean
        return self.from_graph_batch(output, WindowBatch.stack(states))

    def quantiles(
        self, output: np.ndarray, states: Sequence[WindowState], levels: Sequence[float]
    ) -> np.ndarray:
        """Raw-unit quantile forecasts [len(levels), k, horizon', targets] for requested levels.

        horizon' = output's horizon (pass `output[:, :h]` for fewer steps). Levels must lie in
        (0, 1); they are interpolated in the card's grid (clamped at its ends), so the
        quantiles are monotone in the level and never cross. Needs the card's intervals.
        """
        if self.spec.intervals is None:
            raise ValueError("the card has no prediction intervals")
        offsets = self.residual_quantiles(levels)[:, : output.shape[1]]  # [q, h, t]
        shifted = output.astype(np.float64)[None] + offsets[:, None]  # [q, k, h, t]
        flat = shifted.reshape(-1, *output.shape[1:])
        if not self.per_window:
            raw = self.from_graph(flat, [])
        else:
            batch = WindowBatch.stack(states)
            repeated = WindowBatch(
                batch.points_used,
                np.tile(batch.level, (len(levels), 1)),
                np.tile(batch.scale, (len(levels), 1)),
                np.tile(batch.base, (len(levels), 1, 1)),
            )
            raw = self.from_graph_batch(flat, repeated)
        return raw.reshape(len(levels), *output.shape)

    def residual_quantiles(self, levels: Sequence[float]) -> np.ndarray:
        """The card's residual quantiles at `levels`: [len(levels), horizon, targets]."""
        wanted = np.asarray(levels, dtype=np.float64)
        if wanted.size and (wanted.min() <= 0 or wanted.max() >= 1):
            raise ValueError("quantile levels must lie strictly between 0 and 1")
        residuals = self._residuals  # [horizon, targets, grid]
        out = np.empty((len(wanted), residuals.shape[0], residuals.shape[1]))
        for h in range(residuals.shape[0]):
            for t in range(residuals.shape[1]):
                out[:, h, t] = np.interp(wanted, self._levels, residuals[h, t])
        return out

    # ----------------------------------------------------------------------- batches
    def to_graph_batch(self, windows: np.ndarray) -> tuple[np.ndarray, WindowBatch]:
        """Per-window normalisation of equal-length windows [n, length, n_features]."""
        if not self.per_window:
            raise ValueError("to_graph_batch needs per-window normalisation")
        values = np.asarray(windows, dtype=np.float64)
        _n, length, _ = values.shape
        if self._log:
            if not np.all(values > 0):
                raise ForecastInputError(
                    "this model forecasts in log space and needs values above 0"
                )
            values = np.log(values)
        lag = self._season if 0 < self._season < length else 1
        level = values[:, -min(self._level_points, length) :].mean(axis=1)  # [n, f]
        if length > lag:
            scale = np.abs(values[:, lag:] - values[:, :-lag]).mean(axis=1)
        else:
            scale = np.zeros_like(level)
        tiny = _MIN_SCALE * np.maximum(1.0, np.abs(level))
        scale = np.where(scale > tiny, scale, 1.0)  # a flat window: any scale maps it to 0
        z = (values - level[:, None]) / scale[:, None]
        base = self._base(z[:, :, self._targets], length)
        batch = WindowBatch(length, level[:, self._targets], scale[:, self._targets], base)
        return z, batch

    def _base(self, z_targets: np.ndarray, length: int) -> np.ndarray:
        """The card's base forecast of z: [n, horizon, targets] (zeros without a base)."""
        horizon = self.spec.horizon
        n, _, n_targets = z_targets.shape
        if self._season == 0:
            return np.zeros((n, horizon, n_targets))
        period = min(self._season, length)
        ahead = np.arange(horizon)
        naive = self.seasonal_naive_base(z_targets)
        base = naive
        seasons = length // period
        if self._base_kind == "holt_winters_blend":
            smoothed = np.einsum("hl,nlt->nht", self._kernel(length), z_targets)
            base = 0.5 * (base + smoothed)
        elif self._base_kind != "seasonal_naive" and seasons >= 2 and period > 1:
            recent = z_targets[:, length - seasons * period :]
            cycles = recent.reshape(n, seasons, period, n_targets)
            pattern = (cycles - cycles.mean(axis=2, keepdims=True)).mean(axis=1)
            mean_base = cycles[:, -1].mean(axis=1)[:, None] + pattern[:, ahead % period]
            base = 0.5 * (base + mean_base) if self._base_kind == "blend" else mean_base
        if self._drift and length > period:
            first, last = z_targets[:, :period].mean(axis=1), z_targets[:, -period:].mean(axis=1)
            slope = (last - first) / (length - period)  # [n, targets], per step
            base = base + (period * (ahead // period + 1))[None, :, None] * slope[:, None]
        if self._naive_weight:
            base = self._naive_weight * naive + (1 - self._naive_weight) * base
        return base

    def seasonal_naive_base(self, z_targets: np.ndarray) -> np.ndarray:
        """Seasonal naive of z [n, length, targets] -> [n, horizon, targets], whatever the
        card's base (zeros without a season): what `naive_weight` mixes in."""
        n, length, n_targets = z_targets.shape
        if self._season == 0:
            return np.zeros((n, self.spec.horizon, n_targets))
        period = min(self._season, length)
        return z_targets[:, length - period + np.arange(self.spec.horizon) % period]

    def _kernel(self, length: int) -> np.ndarray:
        kernel = self._kernels.get(length)
        if kernel is None:
            assert self._smoothing is not None  # the card's validator ties it to the base
            kernel = holt_winters.kernel(length, self._season, self.spec.horizon, self._smoothing)
            self._kernels[length] = kernel
        return kernel

    def from_graph_batch(self, output: np.ndarray, batch: WindowBatch) -> np.ndarray:
        """Graph output [n, horizon', targets] -> raw float64 for the windows of `batch`."""
        horizon = output.shape[1]
        z = output.astype(np.float64) + batch.base[:, :horizon]
        transformed = batch.level[:, None] + batch.scale[:, None] * z
        if self._log:
            return np.exp(np.minimum(transformed, _LOG_MAX))
        return transformed

    def to_normalised_targets_global(self, future: np.ndarray) -> np.ndarray:
        """Raw future values -> graph output units, for a card with global scalers only."""
        return (np.asarray(future, dtype=np.float64) - self._out_mean) / self._out_scale

    def to_normalised_targets(self, future: np.ndarray, batch: WindowBatch) -> np.ndarray:
        """Raw future values [n, horizon, targets] -> the graph output that would give them."""
        values = np.asarray(future, dtype=np.float64)
        if self._log:
            values = np.log(np.maximum(values, np.finfo(np.float64).tiny))
        z = (values - batch.level[:, None]) / batch.scale[:, None]
        return z - batch.base[:, : values.shape[1]]
