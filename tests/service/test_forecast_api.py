from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from tests.service.helpers import direct_forecast

SERIES = [[50.0, 52.5, 49.0, 51.0, 55.5, 53.0], [40.0, 45.0, 47.5], [60.0, 58.0, 57.0, 59.0]]


def test_answers_equal_a_direct_onnxruntime_call_in_original_units(
    client: TestClient, zoo: Path
) -> None:
    response = client.post("/forecast", json={"series": SERIES})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"], body["horizon"]) == ("forecast", "10", 5)
    expected = direct_forecast(zoo / "forecast" / "10", SERIES)
    assert len(body["forecasts"]) == len(SERIES)
    for answer, reference in zip(body["forecasts"], expected, strict=True):
        # one target: a plain list of numbers per series
        assert all(isinstance(value, float) for value in answer)
        np.testing.assert_allclose(answer, reference[:, 0], rtol=1e-6, atol=1e-5)


def test_shorter_horizon_returns_the_first_steps(client: TestClient) -> None:
    full = client.post("/forecast", json={"series": SERIES}).json()["forecasts"]
    short = client.post("/forecast", json={"series": SERIES, "horizon": 2}).json()
    assert short["horizon"] == 2
    assert short["forecasts"] == [steps[:2] for steps in full]


def test_pinned_version_is_served(client: TestClient, zoo: Path) -> None:
    response = client.post("/forecast", json={"series": SERIES[:1], "version": "2"})
    assert response.json()["version"] == "2"
    expected = direct_forecast(zoo / "forecast" / "2", SERIES[:1])[0][:, 0]
    np.testing.assert_allclose(response.json()["forecasts"][0], expected, rtol=1e-6, atol=1e-5)
    newest = client.post("/forecast", json={"series": SERIES[:1]}).json()["forecasts"][0]
    assert not np.allclose(newest, expected)  # the versions are different models


def test_multivariate_model_takes_rows_and_returns_rows_of_targets(
    client: TestClient, zoo: Path
) -> None:
    series = [[[50.0, 1.0], [51.0, 2.5], [49.5, 0.5]], [[47.0, 3.0], [48.0, 2.0], [52.0, 1.0]]]
    response = client.post("/forecast", json={"series": series, "model": "weather"})
    assert response.status_code == 200, response.text
    forecasts = response.json()["forecasts"]
    assert np.asarray(forecasts).shape == (2, 4, 2)
    expected = direct_forecast(zoo / "weather" / "1", series)
    np.testing.assert_allclose(forecasts, expected, rtol=1e-6, atol=1e-5)


def test_univariate_series_may_be_given_as_rows_of_one(client: TestClient) -> None:
    flat = client.post("/forecast", json={"series": [SERIES[0]]}).json()["forecasts"]
    rows = client.post("/forecast", json={"series": [[[v] for v in SERIES[0]]]}).json()
    assert rows["forecasts"] == flat


def test_integers_are_numbers(client: TestClient) -> None:
    as_int = client.post("/forecast", json={"series": [[50, 52, 49]]}).json()["forecasts"]
    as_float = client.post("/forecast", json={"series": [[50.0, 52.0, 49.0]]}).json()
    assert as_int == as_float["forecasts"]


def test_answers_carry_a_content_length(client: TestClient) -> None:
    for response in (
        client.post("/forecast", json={"series": SERIES}),
        client.post("/forecast", json={"series": []}),
    ):
        assert response.headers["content-length"] == str(len(response.content))
        assert "transfer-encoding" not in response.headers
