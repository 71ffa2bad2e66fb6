"""The forecast task: request body -> graph rows -> batch output -> answer bytes.

No web framework here: `ForecastTask.decode` takes the parsed JSON, `ForecastCodec.prepare`
checks it against the model's card and maps it to graph units through the card's
`ForecastTransform` (the trainer's own mapping), and `ForecastCodec.encode` answers in the
original units.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from contract.card import ForecastSpec, ModelCard
from contract.forecast_transform import ForecastInputError, ForecastTransform, WindowState
from contract.graph import FORECAST
from service import metrics
from service.errors import Problems, invalid
from service.examples import forecast_examples
from service.schemas import ForecastResponse
from service.tasks.base import Codec, Prepared, Task
from service.tasks.checks import (
    Limits,
    expect_object,
    item_list,
    json_type,
    name_schema,
    optional_name,
)

_NUMBER_TYPES = {float, int}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NEAR_FLOAT32_MAX = 1e30
_FIELDS = ("horizon", "quantiles", "last_timestamp", "model", "version")
MAX_QUANTILES = 20
# Without the card's range of normalised training inputs: the global scaler standardised
# the training data, so a point more than this many training standard deviations from its
# mean lies far outside it.
DEFAULT_INPUT_RANGE = (-10.0, 10.0)


@dataclass(frozen=True)
class ForecastQuery:
    series: list[Any]  # as parsed; checked against the model in `prepare`
    horizon: int | None
    model: str | None
    version: str | None
    quantiles: tuple[float, ...] = ()
    last_timestamp: str | list[Any] | None = None  # one for every series, or one per series


@dataclass(frozen=True)
class _Context:
    horizon: int
    states: list[WindowState]
    warnings: list[str]
    quantiles: tuple[float, ...]
    timestamps: list[list[str]] | None


class ForecastCodec(Codec):
    def __init__(self, card: ModelCard) -> None:
        super().__init__(card)
        assert card.forecast is not None, "the forecast task loads forecast cards only"
        self.spec: ForecastSpec = card.forecast
        self.transform = ForecastTransform(card.forecast)
        # Raw values the input scaler maps into float32, in every feature (the schema says so).
        mean = np.asarray(self.spec.input_scaler.mean)
        reach = _FLOAT32_MAX * np.asarray(self.spec.input_scaler.scale)
        self.lowest = float(max(-_FLOAT32_MAX, *(mean - reach)))
        self.highest = float(min(_FLOAT32_MAX, *(mean + reach)))
        norm = self.spec.normalisation
        self.positive_only = norm is not None and norm.transform == "log"
        if self.spec.input_range is not None:
            low = np.asarray(self.spec.input_range.low)
            high = np.asarray(self.spec.input_range.high)
        else:
            low = np.full(self.spec.n_features, DEFAULT_INPUT_RANGE[0])
            high = np.full(self.spec.n_features, DEFAULT_INPUT_RANGE[1])
        # "Far outside": beyond the training range by more than its own width.
        width = np.maximum(high - low, 1e-9)
        self._warn_low: list[float] = (low - width).tolist()
        self._warn_high: list[float] = (high + width).tolist()
        # With global scalers only, graph units are an increasing affine map of raw units per
        # feature: the raw range check and the warning bounds in raw units stand for the checks
        # on the scaled values, which saves two reductions per series.
        scale = np.asarray(self.spec.input_scaler.scale, dtype=np.float64)
        self._global_affine = not self.transform.per_window and bool(np.all(scale > 0))
        self._raw_warn_low: list[float] = (mean + scale * (low - width)).tolist()
        self._raw_warn_high: list[float] = (mean + scale * (high + width)).tolist()
        self._flat_global = self._global_affine and self.spec.n_features == 1
        self._keep = self.spec.window or 0  # the global transform's most recent points
        self._mean = float(self.spec.input_scaler.mean[0])
        self._scale = float(self.spec.input_scaler.scale[0])

    def prepare(self, query: ForecastQuery, limits: Limits) -> Prepared:
        """The horizon, and every series in graph units as float32 [length, n_features].

        Every problem (horizon and series) is reported in one 422.
        """
        problems = Problems()
        horizon = self._horizon(query, problems)
        if query.quantiles and self.spec.intervals is None:
            problems.add(
                ("quantiles",),
                f"cannot be given: model {self.card.name!r} version {self.card.version!r} "
                "has no calibrated prediction intervals",
            )
        rows: list[np.ndarray] = []
        states: list[WindowState] = []
        warnings: list[str] = []
        for index, series in enumerate(query.series):
            if self._flat_global and type(series) is list and _is_flat(series):
                self._prepare_flat(series, index, limits, problems, (rows, states, warnings))
                continue
            values = _series_values(series, index, self.spec, limits, problems)
            if values is None:
                continue
            # Compared in float64 before the float32 cast, so nothing overflows silently.
            raw_low, raw_high = values.min(axis=0).tolist(), values.max(axis=0).tolist()
            lowest, highest = min(raw_low), max(raw_high)
            if lowest < self.lowest or highest > self.highest:
                _report_outside(values, index, self, problems)
                continue
            if self._global_affine:
                scaled, state = self.transform.to_graph(values)
                row = scaled.astype(np.float32)
                # Only a value at the very edge of the accepted range can round past float32.
                if max(-lowest, highest) > _NEAR_FLOAT32_MAX and not np.isfinite(row).all():
                    _report_large(scaled, index, self.spec.n_features, problems)
                    continue
                rows.append(row)
                states.append(state)
                if len(scaled) < len(values):  # the range that matters is the window's
                    low, high = scaled.min(axis=0).tolist(), scaled.max(axis=0).tolist()
                    warns = self._warns(len(values), low, high, self._warn_low, self._warn_high)
                else:
                    warns = self._warns(
                        len(values), raw_low, raw_high, self._raw_warn_low, self._raw_warn_high
                    )
                if warns:
                    warnings += self._warnings(index, len(values), scaled)
                continue
            if self.positive_only and lowest <= 0:
                where = tuple(int(i) for i in np.argwhere(values <= 0)[0])
                problems.add(
                    ("series", index, where[0]),
                    "must be above 0: this model forecasts in log space",
                )
                continue
            try:
                scaled, state = self.transform.to_graph(values)
            except ForecastInputError as exc:  # a value the card's transform cannot take
                problems.add(("series", index), str(exc))
                continue
            # Per feature, as Python floats: a few features cost less than more numpy calls.
            low, high = scaled.min(axis=0).tolist(), scaled.max(axis=0).tolist()
            # Written so that a NaN fails too.
            if not all(-_FLOAT32_MAX <= x <= _FLOAT32_MAX for x in (*low, *high)):
                _report_large(scaled, index, self.spec.n_features, problems)
                continue
            rows.append(scaled.astype(np.float32))
            states.append(state)
            if self._warns(len(values), low, high, self._warn_low, self._warn_high):
                warnings += self._warnings(index, len(values), scaled)
        timestamps = self._timestamps(query, horizon, problems)
        problems.raise_if_any()
        for warning in warnings:
            kind = "short_history" if "window" in warning else "out_of_range"
            metrics.forecast_warned(self.card.name, self.card.version, kind)
        return Prepared(rows, _Context(horizon, states, warnings, query.quantiles, timestamps))

    def _prepare_flat(
        self,
        series: list[Any],
        index: int,
        limits: Limits,
        problems: Problems,
        out: tuple[list[np.ndarray], list[WindowState], list[str]],
    ) -> None:
        """The common request of a univariate model with global scalers, on Python floats.

        The same checks and the same float64 arithmetic as the general path (a test holds the
        two equal), with the range taken by `min`/`max` on the parsed list, which costs less
        than numpy's reductions on a series of this size. Appends to `out`: the row, its
        state, its warnings.
        """
        rows, states, warnings = out
        loc: tuple[str | int, ...] = ("series", index)
        length = len(series)
        if not _length_ok(length, loc, self.spec, limits, problems):
            return
        if not set(map(type, series)) <= _NUMBER_TYPES:
            _report_non_numbers(series, loc, False, problems)
            return
        lowest, highest = float(min(series)), float(max(series))  # compared as float64
        if lowest < self.lowest or highest > self.highest:
            _report_outside(_column(series), index, self, problems)
            return
        recent = series[-self._keep :] if self._keep and length > self._keep else series
        # Python floats are IEEE doubles: the same float64 arithmetic as numpy's, per value.
        mean, scale = self._mean, self._scale
        scaled = [(value - mean) / scale for value in recent]
        row = np.array(scaled, dtype=np.float32).reshape(len(recent), 1)
        # Only a value at the very edge of the accepted range can round past float32.
        if max(-lowest, highest) > _NEAR_FLOAT32_MAX and not np.isfinite(row).all():
            _report_large(_column(scaled), index, 1, problems)
            return
        rows.append(row)
        states.append(WindowState(points_used=len(recent)))
        if recent is not series:  # the range that matters is the window's
            lowest, highest = float(min(recent)), float(max(recent))
        if self._warns(length, [lowest], [highest], self._raw_warn_low, self._raw_warn_high):
            warnings += self._warnings(index, length, _column(scaled))

    def _warns(
        self,
        length: int,
        low: list[float],
        high: list[float],
        low_ok: list[float],
        high_ok: list[float],
    ) -> bool:
        """Cheap test on the hot path: whether `_warnings` has anything to say, from the
        per-feature range and the bounds in the same units (scaled, or raw for global
        scalers)."""
        window = self.spec.window
        if window is not None and length < window:
            return True
        bounds = zip(low, high, low_ok, high_ok, strict=True)
        return any(lo < lo_ok or hi > hi_ok for lo, hi, lo_ok, hi_ok in bounds)

    def _warnings(self, index: int, length: int, scaled: np.ndarray) -> list[str]:
        found = []
        window = self.spec.window
        if window is not None and length < window:
            found.append(
                f"series[{index}] has {length} points, fewer than the model's window of "
                f"{window}: the forecast sees less history than the model was trained with"
            )
        outside = (scaled < np.asarray(self._warn_low)) | (scaled > np.asarray(self._warn_high))
        if outside.any():
            found.append(
                f"series[{index}]: {int(outside.sum())} of its {scaled.size} values lie far "
                "outside the range the model was trained on (after its normalisation); "
                "the forecast may be meaningless"
            )
        return found

    def _timestamps(
        self, query: ForecastQuery, horizon: int, problems: Problems
    ) -> list[list[str]] | None:
        given = query.last_timestamp
        if given is None:
            return None
        if self.spec.frequency is None:
            problems.add(
                ("last_timestamp",),
                f"cannot be given: model {self.card.name!r} was trained without a time column, "
                "so it has no frequency to step from",
            )
            return None
        if isinstance(given, list) and len(given) != len(query.series):
            problems.add(
                ("last_timestamp",),
                f"has {len(given)} time stamps for {len(query.series)} series "
                "(give one per series, or one string for all)",
            )
            return None
        return future_timestamps(
            given if isinstance(given, list) else [given] * len(query.series),
            self.spec.frequency,
            horizon,
            problems,
        )

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

    def encode(self, prepared: Prepared, output: np.ndarray) -> bytes:
        """Model output [k, model_horizon, targets] (graph units) -> answer in original units."""
        context: _Context = prepared.context
        horizon = context.horizon
        steps = output[:, :horizon, :]
        raw = self.transform.from_graph(steps, context.states)
        body: dict[str, Any] = {
            "model": self.card.name,
            "version": self.card.version,
            "horizon": horizon,
            "forecasts": _answer_array(raw),
            "points_used": [state.points_used for state in context.states],
        }
        if context.quantiles:
            bands = self.transform.quantiles(steps, context.states, context.quantiles)
            body["quantile_forecasts"] = {
                repr(level): _answer_array(band)
                for level, band in zip(context.quantiles, bands, strict=True)
            }
        if context.timestamps is not None:
            body["timestamps"] = context.timestamps
        if context.warnings:
            body["warnings"] = context.warnings
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _answer_array(raw: np.ndarray) -> np.ndarray:
    """[k, horizon, targets] -> per series `horizon` values, or rows of target values."""
    values = raw[:, :, 0] if raw.shape[2] == 1 else raw
    return np.ascontiguousarray(values, dtype=np.float32)


def future_timestamps(
    last: list[Any], frequency: str, horizon: int, problems: Problems
) -> list[list[str]] | None:
    """ISO 8601 time stamps of the `horizon` steps after each series' last time stamp."""
    import pandas as pd  # on demand: only requests with time stamps pay for the import

    result: list[list[str]] = []
    for index, text in enumerate(last):
        loc: tuple[str | int, ...] = (
            ("last_timestamp", index) if len(last) > 1 else ("last_timestamp",)
        )
        try:
            start = pd.Timestamp(text)
            steps = pd.date_range(start=start, periods=horizon + 1, freq=frequency)[1:]
        except (ValueError, TypeError, OverflowError) as exc:
            problems.add(loc, f"is not a time stamp this model can step from: {exc}")
            continue
        result.append([step.isoformat() for step in steps])
    return result


def _series_values(
    series: Any, index: int, spec: ForecastSpec, limits: Limits, problems: Problems
) -> np.ndarray | None:
    """Checked float64 array [length, n_features], or None after recording the problem."""
    loc: tuple[str | int, ...] = ("series", index)
    if type(series) is np.ndarray:  # a protocol tensor's row: numbers, shape and width checked
        if not _length_ok(len(series), loc, spec, limits, problems):
            return None
        return np.asarray(series, dtype=np.float64).reshape(len(series), spec.n_features)
    if not isinstance(series, list):
        problems.add(loc, f"must be a list, got {json_type(series)}")
        return None
    length = len(series)
    if not _length_ok(length, loc, spec, limits, problems):
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


def _is_flat(series: list[Any]) -> bool:
    """A non-empty list whose first item is no row: the univariate form of a series."""
    return bool(series) and type(series[0]) is not list


def _column(values: list[Any]) -> np.ndarray:
    """Numbers -> float64 [length, 1]."""
    return np.array(values, dtype=np.float64).reshape(len(values), 1)


def _length_ok(
    length: int, loc: tuple[str | int, ...], spec: ForecastSpec, limits: Limits, problems: Problems
) -> bool:
    if length == 0:
        problems.add(loc, "is empty")
    elif length > limits.max_series_length:
        problems.add(loc, f"has {length} points, more than the limit of {limits.max_series_length}")
    elif length < spec.min_length:
        problems.add(
            loc, f"has {length} points, fewer than the model's minimum of {spec.min_length}"
        )
    else:
        return True
    return False


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


def _report_outside(
    values: np.ndarray, index: int, codec: ForecastCodec, problems: Problems
) -> None:
    outside = (values < codec.lowest) | (values > codec.highest)
    for position in np.argwhere(outside):
        step, feature = int(position[0]), int(position[1])
        loc: tuple[str | int, ...] = ("series", index, step)
        if codec.spec.n_features > 1:
            loc = (*loc, feature)
        if abs(values[step, feature]) > _FLOAT32_MAX:
            problems.add(loc, "is not a finite number (outside the float32 range)")
        else:
            bounds = f"{codec.lowest:g} to {codec.highest:g}"
            problems.add(loc, f"is outside the range the model accepts ({bounds})")


def _report_large(values: np.ndarray, index: int, n_features: int, problems: Problems) -> None:
    for position in np.argwhere(np.abs(values) > _FLOAT32_MAX):
        step, feature = int(position[0]), int(position[1])
        loc: tuple[str | int, ...] = ("series", index, step)
        if n_features > 1:
            loc = (*loc, feature)
        problems.add(loc, "is too large for the model's input scaling")


def _show(value: Any) -> str:
    return repr(value) if type(value) in (int, float) else json_type(value)


class ForecastTask(Task):
    name = "forecast"
    route = "/forecast"
    graph = FORECAST
    summary = "Forecast the next steps of one or more series, in their original units"
    response_model = ForecastResponse

    def decode(self, body: Any, limits: Limits) -> ForecastQuery:
        fields = expect_object(body, ("series",), _FIELDS)
        series = item_list(fields, "series", "series", limits)
        horizon = fields.get("horizon")
        if horizon is not None:
            if type(horizon) is float and horizon.is_integer():  # JSON Schema: 2.0 is an integer
                horizon = int(horizon)
            if type(horizon) is not int or horizon < 1:
                raise invalid(("horizon",), f"must be a positive integer, got {_show(horizon)}")
        if (
            series
            and type(series[0]) in _NUMBER_TYPES
            and all(type(item) in _NUMBER_TYPES for item in series)
        ):
            raise invalid(
                ("series",),
                "is a flat list of numbers, but a list of series belongs here: "
                'wrap it: {"series": [[...]]}',
            )
        return ForecastQuery(
            series,
            horizon,
            optional_name(fields, "model"),
            optional_name(fields, "version"),
            _quantiles(fields.get("quantiles")),
            _last_timestamp(fields.get("last_timestamp")),
        )

    def load_codec(self, directory: Path, card: ModelCard) -> ForecastCodec:
        return ForecastCodec(card)

    def check_card(self, card: ModelCard) -> list[str]:
        spec = card.forecast
        if spec is None:
            return ["a forecast card needs its 'forecast' section"]
        problems = []
        if len(spec.input_scaler.mean) != spec.n_features:
            problems.append("forecast.input_scaler must have one entry per feature")
        if len(spec.target_scaler.mean) != len(spec.target_names):
            problems.append("forecast.target_scaler must have one entry per target")
        return problems

    def sample_rows(self, card: ModelCard, seed: int = 0) -> list[np.ndarray]:
        spec = _spec(card)
        rng = np.random.default_rng(seed)
        lengths = [spec.min_length, spec.min_length + 7, spec.min_length + 20]
        return [rng.standard_normal((n, spec.n_features)).astype(np.float32) for n in lengths]

    def output_shape(self, card: ModelCard, batch_size: int) -> tuple[int, ...]:
        spec = _spec(card)
        return (batch_size, spec.horizon, len(spec.target_names))

    def request_schema(self, limits: Limits, default: ModelCard | None) -> dict[str, Any]:
        spec = default.forecast if default is not None else None
        min_length = spec.min_length if spec is not None else 1
        width = spec.n_features if spec is not None else None
        number: dict[str, Any] = {"type": "number"}
        if default is not None:
            codec = ForecastCodec(default)
            number = {"type": "number", "minimum": codec.lowest, "maximum": codec.highest}
            if codec.positive_only:  # a model that forecasts in log space
                number = {"type": "number", "exclusiveMinimum": 0, "maximum": codec.highest}
        row: dict[str, Any] = {"type": "array", "items": number}
        if width is not None:
            row = {**row, "minItems": width, "maxItems": width}
        length = {"minItems": min_length, "maxItems": limits.max_series_length}
        rows_form = {"type": "array", "items": row, **length}
        forms = (
            [rows_form] if width != 1 else [{"type": "array", "items": number, **length}, rows_form]
        )
        horizon: dict[str, Any] = {"type": "integer", "minimum": 1}
        if spec is not None:
            horizon["maximum"] = spec.horizon
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["series"],
            "properties": {
                "series": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": limits.max_items,
                    "items": forms[0] if len(forms) == 1 else {"anyOf": forms},
                    "description": (
                        "One entry per series: a list of numbers (univariate model) or a list "
                        "of rows of the model's n_features numbers, oldest first. Series may "
                        "have different lengths. Bounds shown are the default model's; other "
                        "models state theirs in GET /models/{name}."
                    ),
                },
                "horizon": {
                    "anyOf": [horizon, {"type": "null"}],
                    "description": "Steps to forecast; default and maximum: the model's.",
                },
                "quantiles": self._quantiles_schema(spec),
                "last_timestamp": self._timestamp_schema(spec),
                "model": name_schema("Model name; default: the forecast model."),
                "version": name_schema("Pinned version; default: the newest."),
            },
        }

    @staticmethod
    def _quantiles_schema(spec: ForecastSpec | None) -> dict[str, Any]:
        description = (
            "Levels strictly between 0 and 1 (at most 20) for `quantile_forecasts`; only for "
            "models with calibrated intervals (`intervals` in their card)."
        )
        if spec is None or spec.intervals is None:
            return {"type": "null", "description": description}
        levels = {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_QUANTILES,
            "uniqueItems": True,
            "items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        }
        return {"anyOf": [levels, {"type": "null"}], "description": description}

    @staticmethod
    def _timestamp_schema(spec: ForecastSpec | None) -> dict[str, Any]:
        description = (
            "The ISO 8601 time of each series' last point (one for all, or one per series): "
            "the answer then has `timestamps`; only for models trained with a time column."
        )
        if spec is None or spec.frequency is None:
            return {"type": "null", "description": description}
        stamp = {"type": "string", "format": "date-time"}
        one_per_series = {"type": "array", "items": stamp}
        return {"anyOf": [stamp, one_per_series, {"type": "null"}], "description": description}

    def examples(self, cards: list[ModelCard]) -> dict[str, dict[str, Any]]:
        return forecast_examples(cards)


def _spec(card: ModelCard) -> ForecastSpec:
    assert card.forecast is not None, "the forecast task loads forecast cards only"
    return card.forecast


def _quantiles(value: Any) -> tuple[float, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise invalid(("quantiles",), "must be a non-empty list of levels, e.g. [0.1, 0.5, 0.9]")
    if len(value) > MAX_QUANTILES:
        raise invalid(("quantiles",), f"has {len(value)} levels, more than {MAX_QUANTILES}")
    problems = Problems()
    for index, level in enumerate(value):
        if type(level) not in _NUMBER_TYPES or not 0 < level < 1:
            problems.add(
                ("quantiles", index),
                f"must be a number strictly between 0 and 1, got {_show(level)}",
            )
    problems.raise_if_any()
    if len(set(value)) != len(value):
        raise invalid(("quantiles",), "lists a level twice")
    return tuple(float(level) for level in value)


def _last_timestamp(value: Any) -> str | list[Any] | None:
    if value is None or type(value) is str:
        return value
    if isinstance(value, list) and all(type(item) is str for item in value):
        return value
    raise invalid(
        ("last_timestamp",),
        "must be an ISO 8601 time stamp, or a list of them (one per series), "
        f"got {json_type(value)}",
    )
