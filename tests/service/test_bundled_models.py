"""Golden answers of the bundled artifacts (models/): the service must equal a direct
onnxruntime call on the same inputs. These tests fail, never skip, when the artifacts are gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from contract.card import ModelCard
from contract.text import Tokenizer
from loadtest.process import start_service, stop_service
from service.app import create_app
from service.config import Settings
from tests.service.helpers import direct_forecast, direct_sentiment

MODELS = Path(__file__).resolve().parents[2] / "models"
REVIEWS = [
    "One of the best films I have seen in years. The acting is superb and the story moved me.",
    "A complete waste of time. The plot makes no sense and the dialogue is painfully bad.",
    "It was okay, nothing special, but the soundtrack was nice.",
    "I expected more from this director... " * 60,  # longer than any max_length: truncated
    "<br /><br />Brilliant!!!",
]


@pytest.fixture(scope="module")
def bundled() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(models_dir=MODELS))) as client:
        yield client


def _served(client: TestClient, task: str) -> list[Path]:
    """Every bundled version of every model of `task`; fails if there is none."""
    models = [m for m in client.get("/models").json()["models"] if m["task"] == task]
    assert models, f"no bundled {task} model under {MODELS}"
    return [MODELS / m["name"] / v["version"] for m in models for v in m["versions"]]


def _series(card: ModelCard, lengths: list[int]) -> list[list[float]] | list[list[list[float]]]:
    """Noisy waves in the training data's units (the card's input scaler)."""
    assert card.forecast is not None
    spec = card.forecast
    mean = np.asarray(spec.input_scaler.mean)
    scale = np.asarray(spec.input_scaler.scale)
    rng = np.random.default_rng(0)
    series = []
    for length in lengths:
        steps = np.arange(length)[:, None]
        wave = np.sin(steps / 7.0 + rng.uniform(0, 6))
        values = mean + scale * (wave + 0.1 * rng.standard_normal((length, spec.n_features)))
        series.append(values[:, 0].tolist() if spec.n_features == 1 else values.tolist())
    return series


def test_bundled_forecasts_equal_direct_onnxruntime(bundled: TestClient) -> None:
    for directory in _served(bundled, "forecast"):
        card = ModelCard.load(directory)
        assert card.forecast is not None
        minimum = card.forecast.min_length
        series = _series(card, [max(minimum, 50), minimum, max(minimum, 120)])
        payload = {"series": series, "model": card.name, "version": card.version}
        response = bundled.post("/forecast", json=payload)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["horizon"] == card.forecast.horizon
        expected = np.asarray(direct_forecast(directory, series))
        answer = np.asarray(body["forecasts"]).reshape(expected.shape)
        scale = float(np.max(card.forecast.target_scaler.scale))
        np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=scale * 1e-5)


def test_bundled_sentiment_equals_direct_onnxruntime(bundled: TestClient) -> None:
    for directory in _served(bundled, "sentiment"):
        card = ModelCard.load(directory)
        assert card.sentiment is not None
        payload = {"texts": REVIEWS, "model": card.name, "version": card.version}
        response = bundled.post("/sentiment", json=payload)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        expected = direct_sentiment(directory, REVIEWS)
        negative, positive = card.sentiment.labels
        tokenizer = Tokenizer.load(directory, card.sentiment.tokenizer)
        for text, result, probability in zip(REVIEWS, results, expected, strict=True):
            assert abs(result["probabilities"][positive] - probability) < 1e-5
            label = positive if probability >= card.sentiment.threshold else negative
            assert result["label"] == label
            encoded = tokenizer.encode(text)
            assert (result["n_tokens"], result["truncated"]) == (
                encoded.n_tokens,
                encoded.truncated,
            )
        assert results[3]["truncated"] is True
        # A trained model tells a clear rave from a clear pan.
        assert [r["label"] for r in results[:2]] == [positive, negative]


@pytest.mark.slow
def test_make_serve_command_starts_on_the_bundled_models() -> None:
    """What `make serve` runs (default workers), from process start to ready."""
    service = start_service(MODELS, ready_within_s=30)
    process, url, seconds = service.process, service.url, service.ready_s
    try:
        models = httpx.get(f"{url}/models").json()["models"]
        tasks = {model["task"] for model in models}
        assert tasks == {"forecast", "sentiment"}, tasks
        review = httpx.post(f"{url}/sentiment", json={"texts": REVIEWS[:1]})
        assert review.status_code == 200, review.text
    finally:
        stop_service(process)
    print(f"bundled models: start to ready {seconds:.2f} s")
    # No bound on the time here: CI shares its cores. The README gives the measured value.


def test_documented_examples_work_on_the_bundled_models(bundled: TestClient) -> None:
    """Every documented example is answered by the model it names, as onnxruntime answers."""
    spec = bundled.get("/openapi.json").json()
    for path in ("/forecast", "/sentiment"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert content["examples"]
        for example in content["examples"].values():
            body = example["value"]
            response = bundled.post(path, json=body)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert (answer["model"], answer["version"]) == (body["model"], body["version"])
            directory = MODELS / body["model"] / body["version"]
            if path == "/forecast":
                expected = direct_forecast(directory, body["series"])
                got = np.asarray(answer["forecasts"])
                np.testing.assert_allclose(
                    got, np.asarray(expected)[:, : body["horizon"], 0], rtol=1e-5, atol=1e-5
                )
            else:
                probabilities = direct_sentiment(directory, body["texts"])
                positive = [r["probabilities"]["positive"] for r in answer["results"]]
                np.testing.assert_allclose(positive, probabilities, atol=1e-6)


def test_the_bundled_forecasters_80_percent_band_covers_80_percent_of_fresh_series(
    bundled: TestClient,
) -> None:
    """Fresh generator series (a seed neither calibration nor evaluation used), through the API."""
    from training.forecast.data import generate_time_series

    series = generate_time_series(400, 50 + 10, rng=123_457)[:, :, 0]
    history, future = series[:, :50], series[:, 50:]
    low_parts, high_parts, mid_parts = [], [], []
    for start in range(0, len(history), 100):
        chunk = history[start : start + 100].tolist()
        answer = bundled.post(
            "/forecast", json={"series": chunk, "quantiles": [0.1, 0.5, 0.9], "model": "forecast"}
        ).json()
        bands = answer["quantile_forecasts"]
        low_parts.append(bands["0.1"])
        mid_parts.append(bands["0.5"])
        high_parts.append(bands["0.9"])
    low, mid, high = (np.concatenate(parts) for parts in (low_parts, mid_parts, high_parts))
    assert np.all(low <= mid) and np.all(mid <= high)  # never crossing
    coverage = float(np.mean((future >= low) & (future <= high)))
    assert 0.75 <= coverage <= 0.85, coverage


def test_a_200_point_history_answers_like_its_last_50_points(bundled: TestClient) -> None:
    from training.forecast.data import generate_time_series

    history = generate_time_series(3, 200, rng=7)[:, :, 0]
    whole = bundled.post("/forecast", json={"series": history.tolist()}).json()
    recent = bundled.post("/forecast", json={"series": history[:, -50:].tolist()}).json()
    assert whole["points_used"] == [50, 50, 50]
    assert whole["forecasts"] == recent["forecasts"]
    assert "warnings" not in whole and "warnings" not in recent
    scaled = bundled.post("/forecast", json={"series": (history[:, -50:] * 1000).tolist()}).json()
    assert len(scaled["warnings"]) == 3 and "far outside" in scaled["warnings"][0]


def test_the_synthetic_forecaster_warns_about_a_series_unlike_its_generator(
    bundled: TestClient,
) -> None:
    from training.forecast.data import GENERATOR_BOUND, generate_time_series

    ramp = [float(i) for i in range(1, 21)]  # 1..20: at most 20 of the card's +-0.75
    answer = bundled.post("/forecast", json={"series": [ramp], "model": "forecast"}).json()
    assert any("far outside" in warning for warning in answer["warnings"]), answer
    typical = generate_time_series(4, 50, rng=11)[:, :, 0] * (2.0 / GENERATOR_BOUND)  # peaks at 2
    answer = bundled.post(
        "/forecast", json={"series": typical.tolist(), "model": "forecast"}
    ).json()
    assert "warnings" not in answer  # twice the generator's range is not "far outside"
