"""The forecast data plane: request body -> scaled rows -> batch output -> response bytes.

No web framework here: `decode` takes the parsed JSON, `ForecastCodec.prepare` checks it
against the model's card, the batcher runs the rows, and `ForecastCodec.encode` answers in the
original units.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import orjson

from contract.card import ForecastSpec, ModelCard
from service.errors import Problems, invalid
from service.payload import Limits, expect_object, item_list, json_type, optional_name

_NUMBER_TYPES = {float, int}
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class ForecastQuery:
    series: list[Any]  # as parsed; checked against the model in `prepare`
    horizon: int | None
    model: str | None
    version: str | None


def decode(body: Any, limits: Limits) -> ForecastQuery:
    """Model-independent checks of a parsed request body."""
    fields = expect_object(body, ("series",), ("horizon", "model", "version"))
    series = item_list(fields, "series", "series", limits)
    horizon = fields.get("horizon")
    if horizon is not None and (type(horizon) is not int or horizon < 1):
        raise invalid(("horizon",), f"must be a positive integer, got {_show(horizon)}")
    return ForecastQuery(
        series, horizon, optional_name(fields, "model"), optional_name(fields, "version")
    )


class ForecastCodec:
    """One forecast model's card turned into ready arrays: built once at load time."""

    def __init__(self, card: ModelCard) -> None:
        assert card.forecast is not None, "a forecast card"
        self.card = card
        self.spec: ForecastSpec = card.forecast
        self._in_mean = np.asarray(self.spec.input_scaler.mean, dtype=np.float64)
        self._in_scale = np.asarray(self.spec.input_scaler.scale, dtype=np.float64)
        self._out_mean = np.asarray(self.spec.target_scaler.mean, dtype=np.float64)
        self._out_scale = np.asarray(self.spec.target_scaler.scale, dtype=np.float64)

    def prepare(self, query: ForecastQuery, limits: Limits) -> tuple[int, list[np.ndarray]]:
        """The horizon, and every series as a scaled float32 array [length, n_features].

        Every problem (horizon and series) is reported in one 422.
        """
        problems = Problems()
        horizon = self._horizon(query, problems)
        rows: list[np.ndarray] = []
        for index, series in enumerate(query.series):
            values = _series_values(series, index, self.spec, limits, problems)
            if values is None:
                continue
            # Compared in float64 before the float32 cast, so nothing overflows silently.
            if np.abs(values).max() > _FLOAT32_MAX:
                _report_large(values, index, self.spec.n_features, problems, "raw")
                continue
            scaled = (values - self._in_mean) / self._in_scale
            if np.abs(scaled).max() > _FLOAT32_MAX:
                _report_large(scaled, index, self.spec.n_features, problems, "scaled")
                continue
            rows.append(scaled.astype(np.float32))
        problems.raise_if_any()
        return horizon, rows

    def _horizon(self, query: ForecastQuery, problems: Problems) -> int:
        maximum = self.spec.horizon
        if query.horizon is None:
            return maximum
        if query.horizon > maximum:
            problems.add(
                ("horizon",),
                f"is {query.horizon}, larger than the maximum {maximum} of model "
                f"{self.card.name!r} version {self.card.version!r}",
            )
        return query.horizon

    def encode(self, horizon: int, output: np.ndarray) -> bytes:
        """Model output [k, model_horizon, targets] (scaled) -> answer JSON in original units."""
        raw = output[:, :horizon, :].astype(np.float64) * self._out_scale + self._out_mean
        forecasts = raw[:, :, 0] if raw.shape[2] == 1 else raw
        body = {
            "model": self.card.name,
            "version": self.card.version,
            "horizon": horizon,
            "forecasts": np.ascontiguousarray(forecasts, dtype=np.float32),
        }
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _series_values(
    series: Any, index: int, spec: ForecastSpec, limits: Limits, problems: Problems
) -> np.ndarray | None:
    """Checked float64 array [length, n_features], or None after recording the problem."""
    loc: tuple[str | int, ...] = ("series", index)
    if not isinstance(series, list):
        problems.add(loc, f"must be a list, got {json_type(series)}")
        return None
    length = len(series)
    if length == 0:
        problems.add(loc, "is empty")
        return None
    if length > limits.max_series_length:
        problems.add(loc, f"has {length} points, more than the limit of {limits.max_series_length}")
        return None
    if length < spec.min_length:
        problems.add(
            loc, f"has {length} points, fewer than the model's minimum of {spec.min_length}"
        )
        return None
    multivariate = type(series[0]) is list
    if multivariate or spec.n_features > 1:
        if not _rows_ok(series, loc, spec.n_features, problems):
            return None
        flat: Any = chain.from_iterable(series)
    else:
        flat = series
    if not set(map(type, flat)) <= _NUMBER_TYPES:
        _report_non_numbers(series, loc, multivariate or spec.n_features > 1, problems)
        return None
    values = np.array(series, dtype=np.float64)
    return values.reshape(length, spec.n_features)


def _rows_ok(series: list[Any], loc: tuple[str | int, ...], width: int, problems: Problems) -> bool:
    before = problems.count
    for row_index, row in enumerate(series):
        if type(row) is not list:
            problems.add(
                (*loc, row_index), f"must be a row of {width} numbers, got {json_type(row)}"
            )
        elif len(row) != width:
            problems.add(
                (*loc, row_index),
                f"has {len(row)} values, but the model takes rows of {width} "
                f"(every row of a series must have the model's {width} features)",
            )
    return problems.count == before


def _report_non_numbers(
    series: list[Any], loc: tuple[str | int, ...], rows: bool, problems: Problems
) -> None:
    cells = (
        (((*loc, i, j), value) for i, row in enumerate(series) for j, value in enumerate(row))
        if rows
        else (((*loc, i), value) for i, value in enumerate(series))
    )
    for cell_loc, value in cells:
        if type(value) not in _NUMBER_TYPES:
            problems.add(cell_loc, f"must be a number, got {json_type(value)}")


def _report_large(
    values: np.ndarray, index: int, n_features: int, problems: Problems, stage: str
) -> None:
    for position in np.argwhere(np.abs(values) > _FLOAT32_MAX):
        step, feature = int(position[0]), int(position[1])
        loc: tuple[str | int, ...] = ("series", index, step)
        if n_features > 1:
            loc = (*loc, feature)
        if stage == "raw":
            problems.add(loc, "is not a finite number (outside the float32 range)")
        else:
            problems.add(loc, "is too large for the model's input scaling")


def _show(value: Any) -> str:
    return repr(value) if type(value) in (int, float) else json_type(value)
