"""What a forecast answer says besides the point forecast: quantiles, the points used,
warnings, time stamps; and errors that say what to do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from contract.card import Intervals, ModelCard
from service.app import create_app
from service.config import Settings
from tests.service.fixtures import write_forecast_model

LEVELS = [0.05, 0.1, 0.5, 0.9, 0.95]


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A forecast model with intervals, a window of 8 and a monthly frequency."""
    root = tmp_path_factory.mktemp("calibrated")
    directory = write_forecast_model(root, horizon=3)
    card = ModelCard.load(directory)
    assert card.forecast is not None
    residuals = [[[-2.0 - h, -1.0 - h, 0.0, 1.0 + h, 2.0 + h]] for h in range(3)]
    intervals = Intervals(
        levels=LEVELS,
        residuals=residuals,
        calibration="fixture",
        calibration_windows=1,
        evaluation="fixture",
        evaluation_windows=0,
    )
    spec = card.forecast.model_copy(update={"window": 8, "intervals": intervals, "frequency": "MS"})
    card.model_copy(update={"forecast": spec}).dump(directory)
    with TestClient(create_app(Settings(models_dir=root))) as client:
        yield client


def _post(client: TestClient, body: dict[str, object]) -> dict[str, object]:
    answer = client.post("/forecast", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def test_quantiles_are_keyed_by_their_repr_ordered_and_around_the_median(
    calibrated: TestClient,
) -> None:
    series = [50.0 + np.sin(t) for t in range(12)]
    answer = _post(calibrated, {"series": [series], "quantiles": [0.1, 0.5, 0.9, 0.25]})
    bands = answer["quantile_forecasts"]
    assert isinstance(bands, dict) and list(bands) == ["0.1", "0.5", "0.9", "0.25"]
    low, mid, high = (np.asarray(bands[k]) for k in ("0.1", "0.5", "0.9"))
    quarter = np.asarray(bands["0.25"])
    assert np.all(low < quarter) and np.all(quarter < mid) and np.all(mid < high)
    # Residual offsets of the card, in graph units, times the target scale (10).
    np.testing.assert_allclose(high - low, [[20.0, 40.0, 60.0]], rtol=1e-5)
    np.testing.assert_allclose(mid, np.asarray(answer["forecasts"]), rtol=1e-6)


def test_a_long_history_is_answered_from_its_most_recent_window(calibrated: TestClient) -> None:
    rng = np.random.default_rng(1)
    history = (50 + rng.standard_normal(40)).tolist()
    whole = _post(calibrated, {"series": [history]})
    recent = _post(calibrated, {"series": [history[-8:]]})
    assert whole["points_used"] == [8] and recent["points_used"] == [8]
    assert whole["forecasts"] == recent["forecasts"]
    assert "warnings" not in whole


def test_short_and_far_out_series_carry_warnings_that_name_them(calibrated: TestClient) -> None:
    before = calibrated.get("/metrics").text
    answer = _post(
        calibrated, {"series": [[50.0, 51.0, 52.0, 50.0] * 3, [50.0, 51.0, 49.0], [5e4] * 10]}
    )
    warnings = answer["warnings"]
    assert isinstance(warnings, list) and len(warnings) == 2
    assert warnings[0].startswith("series[1] has 3 points, fewer than the model's window of 8")
    assert warnings[1].startswith("series[2]:") and "far outside" in warnings[1]
    after = calibrated.get("/metrics").text
    assert after.count('kind="out_of_range"') >= 1 and after != before


def test_timestamps_step_from_the_last_one_by_the_card_frequency(calibrated: TestClient) -> None:
    body = {"series": [[50.0] * 8, [51.0] * 8], "last_timestamp": ["2024-11-01", "1999-01-01"]}
    answer = _post(calibrated, body)
    assert answer["timestamps"] == [
        ["2024-12-01T00:00:00", "2025-01-01T00:00:00", "2025-02-01T00:00:00"],
        ["1999-02-01T00:00:00", "1999-03-01T00:00:00", "1999-04-01T00:00:00"],
    ]
    one = _post(calibrated, {"series": [[50.0] * 8], "last_timestamp": "2024-11-01", "horizon": 1})
    assert one["timestamps"] == [["2024-12-01T00:00:00"]]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"quantiles": [0.5, 1.0]}, "quantiles[1] must be a number strictly between 0 and 1"),
        ({"quantiles": [0.5, 0.5]}, "quantiles lists a level twice"),
        ({"quantiles": [0.01] * 21}, "more than 20"),
        ({"last_timestamp": ["2024-01-01"] * 2}, "2 time stamps for 1 series"),
        ({"last_timestamp": "yesterday-ish"}, "last_timestamp is not a time stamp"),
    ],
)
def test_bad_quantiles_and_time_stamps_are_422(
    calibrated: TestClient, body: dict[str, object], fragment: str
) -> None:
    answer = calibrated.post("/forecast", json={"series": [[50.0] * 8], **body})
    assert answer.status_code == 422, answer.text
    assert fragment in answer.json()["error"]["message"]


def test_models_without_intervals_or_frequency_say_so(zoo: Path) -> None:
    with TestClient(create_app(Settings(models_dir=zoo))) as client:
        answer = client.post("/forecast", json={"series": [[1.0] * 5], "quantiles": [0.5]})
        assert answer.status_code == 422
        assert "has no calibrated prediction intervals" in answer.json()["error"]["message"]
        answer = client.post("/forecast", json={"series": [[1.0] * 5], "last_timestamp": "2020"})
        assert "trained without a time column" in answer.json()["error"]["message"]


def test_a_flat_list_gets_one_problem_with_a_hint(zoo: Path) -> None:
    with TestClient(create_app(Settings(models_dir=zoo))) as client:
        answer = client.post("/forecast", json={"series": [1.0, 2.0, 3.0, 4.0]})
    error = answer.json()["error"]
    assert answer.status_code == 422 and len(error["details"]) == 1
    assert 'wrap it: {"series": [[...]]}' in error["message"]


def test_the_same_problem_at_many_places_is_one_detail_with_a_count(zoo: Path) -> None:
    with TestClient(create_app(Settings(models_dir=zoo))) as client:
        answer = client.post("/forecast", json={"series": [["x"] * 500, [1.0, "y", 3.0]]})
    error = answer.json()["error"]
    assert len(error["details"]) == 1
    detail = error["details"][0]
    assert detail["count"] == 501 and len(detail["locs"]) == 5
    assert detail["message"] == (
        "series[0][0] must be a number, got a string (and the same at 500 more places)"
    )
    assert "more problem" not in error["message"]


def test_v2_quantiles_equal_the_native_ones(calibrated: TestClient) -> None:
    series = [[50.0 + np.sin(t) for t in range(12)], [52.0 - np.cos(t) for t in range(9)]]
    native = _post(calibrated, {"series": series[:1], "quantiles": [0.9, 0.1]})
    metadata = calibrated.get("/v2/models/forecast").json()
    assert [output["name"] for output in metadata["outputs"]] == ["forecast"]  # always there
    for levels in ("0.9,0.1", "0.9, 0.1"):  # protocol parameters are scalars: one string
        body = {
            "inputs": [{"name": "series", "datatype": "FP32", "shape": [1, 12], "data": series[0]}],
            "parameters": {"quantiles": levels},
        }
        answer = calibrated.post("/v2/models/forecast/infer", json=body)
        assert answer.status_code == 200, answer.text
        outputs = {output["name"]: output for output in answer.json()["outputs"]}
        assert list(outputs) == ["forecast", "quantiles"]
        output = outputs["quantiles"]
        assert output["name"] == "quantiles" and output["shape"] == [1, 2, 3, 1]
        bands = np.asarray(output["data"]).reshape(1, 2, 3)
        expected = native["quantile_forecasts"]
        assert isinstance(expected, dict)
        np.testing.assert_allclose(bands[0, 0], np.asarray(expected["0.9"][0]), rtol=1e-6)
        np.testing.assert_allclose(bands[0, 1], np.asarray(expected["0.1"][0]), rtol=1e-6)
    asked = {
        "inputs": [{"name": "series", "datatype": "FP32", "shape": [1, 12], "data": series[0]}],
        "outputs": [{"name": "quantiles"}],
    }
    refused = calibrated.post("/v2/models/forecast/infer", json=asked)
    assert refused.status_code == 400 and "no such output" in refused.json()["error"]
