"""An exported forecast artifact run the way the service runs it: card, transform, session."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from contract.card import ONNX_FILE, ModelCard
from contract.forecast_transform import ForecastTransform, WindowState
from contract.sessions import create_session


class ServedForecaster:
    def __init__(self, directory: Path) -> None:
        self.card = ModelCard.load(directory)
        assert self.card.forecast is not None, "a forecast card"
        self.spec = self.card.forecast
        self.transform = ForecastTransform(self.spec)
        self._session = create_session(directory / ONNX_FILE)

    def graph_output(self, histories: Sequence[np.ndarray]) -> tuple[np.ndarray, list[WindowState]]:
        """Histories [length_i, n_features] (raw) -> graph output [k, horizon, targets]."""
        pairs = [self.transform.to_graph(np.asarray(h, np.float64)) for h in histories]
        lengths = np.array([len(z) for z, _ in pairs], np.int32)
        batch = np.zeros((len(pairs), int(lengths.max()), self.spec.n_features), np.float32)
        for row, (z, _) in enumerate(pairs):
            batch[row, : len(z)] = z
        (output,) = self._session.run(None, {"series": batch, "lengths": lengths})
        return np.asarray(output, np.float64), [state for _, state in pairs]

    def forecast(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Raw forecasts [k, horizon, targets]."""
        output, states = self.graph_output(histories)
        return self.transform.from_graph(output, states)

    def quantiles(self, histories: Sequence[np.ndarray], levels: Sequence[float]) -> np.ndarray:
        """Raw quantile forecasts [len(levels), k, horizon, targets]."""
        output, states = self.graph_output(histories)
        return self.transform.quantiles(output, states, levels)
