"""The Keras baseline: FastAPI + pydantic + Keras `model.predict` per request, as a reader of
the notes would serve the model they just trained (TensorFlow in the serving process).

The endpoints are `async def`, so each worker runs one `predict` at a time. That is the
stronger of the two obvious ways to write it: with `def` endpoints FastAPI's thread pool runs
dozens of `predict` calls at once and TensorFlow slows down far more than it parallelises
(on the development machine: 2.7 req/s at 1 client, 0.3 req/s at 8).

The Keras models come from `bench.apps.keras_models` (a saved `.keras` file when training
left one, else the same architecture rebuilt: `predict` costs the same whatever the weights).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import FastAPI

from bench.apps.common import (
    ForecastRequest,
    SentimentRequest,
    forecast_answer,
    forecast_inputs,
    load_card,
    load_tokenizer,
    sentiment_answer,
    token_inputs,
)
from bench.apps.keras_models import load_forecast_model, load_sentiment_model

app = FastAPI(title="keras baseline")

_forecast_dir, _forecast_card = load_card("forecast")
_forecast_model = load_forecast_model(_forecast_card)
_sentiment_dir, _sentiment_card = load_card("sentiment")
_sentiment_model = load_sentiment_model(_sentiment_card)
_tokenizer = load_tokenizer(_sentiment_dir, _sentiment_card)


@app.post("/forecast")
async def forecast(request: ForecastRequest) -> dict[str, Any]:
    assert _forecast_card.forecast is not None
    spec = _forecast_card.forecast
    series = forecast_inputs(_forecast_card, request.series)
    output = np.asarray(_forecast_model.predict(series, verbose=0))
    if output.ndim == 3:  # sequence-to-sequence: the forecast made at the last step
        output = output[:, -1, :]
    output = output.reshape(len(series), spec.horizon, len(spec.target_names))
    return forecast_answer(_forecast_card, output)


@app.post("/sentiment")
async def sentiment(request: SentimentRequest) -> dict[str, Any]:
    tokens, _, encoded = token_inputs(_tokenizer, request.texts)
    probabilities = np.asarray(_sentiment_model.predict(tokens, verbose=0)).reshape(-1)
    return sentiment_answer(_sentiment_card, probabilities, encoded)
