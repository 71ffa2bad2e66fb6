"""The forecast codec's two ways to a graph row: a flat list of numbers (the common request,
checked on Python floats) and rows of one number (the general path). Both must give the same
rows, states, warnings and problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.card import ModelCard
from service.errors import ServiceError
from service.tasks.base import Prepared
from service.tasks.checks import Limits
from service.tasks.forecast import ForecastCodec, ForecastQuery
from tests.service.fixtures import write_forecast_model

LIMITS = Limits(max_items=64, max_series_length=100, max_text_chars=1000)


def _codec(root: Path, window: int | None) -> ForecastCodec:
    directory = write_forecast_model(root, horizon=3, min_length=3)
    card = ModelCard.load(directory)
    assert card.forecast is not None
    spec = card.forecast.model_copy(update={"window": window})
    return ForecastCodec(card.model_copy(update={"forecast": spec}))


@pytest.fixture(scope="module", params=[None, 8], ids=["no window", "window 8"])
def codec(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _codec(tmp_path_factory.mktemp("prepare"), request.param)


def _prepare(codec: ForecastCodec, series: list[Any]) -> Prepared | ServiceError:
    try:
        return codec.prepare(ForecastQuery(series, None, None, None), LIMITS)
    except ServiceError as exc:
        return exc


def _assert_same(flat: Prepared | ServiceError, rows: Prepared | ServiceError) -> None:
    if isinstance(rows, ServiceError):
        assert isinstance(flat, ServiceError), "the flat form passed where rows failed"
        assert flat.status == rows.status
        # A flat value's place is (series, i, step); a row's value the same.
        assert [d["message"] for d in flat.details] == [d["message"] for d in rows.details]
        return
    assert isinstance(flat, Prepared), getattr(flat, "message", flat)
    assert len(flat.rows) == len(rows.rows)
    for a, b in zip(flat.rows, rows.rows, strict=True):
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
        assert np.array_equal(a, b)
    assert flat.context.states == rows.context.states
    assert flat.context.warnings == rows.context.warnings


# The fixture's scaler is mean 50, scale 5 and it has no input range: the default range of
# +-10 scaled units gives warnings below -100 and above 200 (raw).
numbers = st.one_of(
    st.floats(-150, 250, allow_nan=False),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-(10**6), 10**6),
    st.sampled_from([50.0, 49.999, 1e30, -1e30, 3.0e39, 1e300]),
)


@settings(max_examples=150, deadline=None)
@given(series=st.lists(st.lists(numbers, min_size=0, max_size=20), min_size=1, max_size=4))
def test_a_flat_series_is_prepared_as_its_rows_of_one_value(
    codec: ForecastCodec, series: list[list[float]]
) -> None:
    flat = _prepare(codec, series)
    rows = _prepare(codec, [[[value] for value in one] for one in series])
    _assert_same(flat, rows)


def test_both_forms_warn_alike_for_short_and_far_out_series(codec: ForecastCodec) -> None:
    near = [50.0 + t % 3 for t in range(12)]
    far = [50.0] * 11 + [5_000.0]
    just_over = [50.0] * 11 + [200.5]
    short = [50.0, 51.0, 52.0, 53.0]
    for series in (near, far, just_over, short):
        flat = _prepare(codec, [series])
        _assert_same(flat, _prepare(codec, [[[v] for v in series]]))
    for series in (far, just_over):
        answer = _prepare(codec, [series])
        assert isinstance(answer, Prepared) and answer.context.warnings
