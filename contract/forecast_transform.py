"""Raw series <-> the graph's units, for one forecast card: one implementation for both sides.

Training evaluates its models through `ForecastTransform` and the service answers through it,
so an answer from `POST /forecast` equals the trainer's evaluation of the same window.
Pure numpy: no TensorFlow, no onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contract.card import ForecastSpec


@dataclass(frozen=True)
class WindowState:
    """What `from_graph` needs to put one series' output back into raw units."""

    points_used: int  # how many of the series' most recent points the graph saw


class ForecastTransform:
    """Built once per loaded forecast model (arrays ready), then used per series."""

    def __init__(self, spec: ForecastSpec) -> None:
        self.spec = spec
        self._in_mean = np.asarray(spec.input_scaler.mean, dtype=np.float64)
        self._in_scale = np.asarray(spec.input_scaler.scale, dtype=np.float64)
        self._out_mean = np.asarray(spec.target_scaler.mean, dtype=np.float64)
        self._out_scale = np.asarray(spec.target_scaler.scale, dtype=np.float64)

    def to_graph(self, values: np.ndarray) -> tuple[np.ndarray, WindowState]:
        """Raw float64 [length, n_features] -> graph input float64 [length', n_features].

        The caller checks the result fits float32 before casting.
        """
        scaled = (values - self._in_mean) / self._in_scale
        return scaled, WindowState(points_used=len(values))

    def from_graph(self, output: np.ndarray, states: list[WindowState]) -> np.ndarray:
        """Graph output [k, horizon, targets] -> raw float64 [k, horizon, targets]."""
        del states  # the global scaler needs no per-series state
        return output.astype(np.float64) * self._out_scale + self._out_mean
