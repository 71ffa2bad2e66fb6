"""The textbook app: FastAPI, a pydantic body model, one plain `session.run` per request.

Written the way the FastAPI and onnxruntime tutorials show it: default session options,
a `def` endpoint (FastAPI runs it in its thread pool), pydantic validation of the body and
FastAPI's default JSON response. Same models, same answers' shape as the service.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
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

app = FastAPI(title="textbook baseline")

_forecast_dir, _forecast_card = load_card("forecast")
_forecast_session = ort.InferenceSession(str(_forecast_dir / _forecast_card.onnx_file))
_sentiment_dir, _sentiment_card = load_card("sentiment")
_sentiment_session = ort.InferenceSession(str(_sentiment_dir / _sentiment_card.onnx_file))
_tokenizer = load_tokenizer(_sentiment_dir, _sentiment_card)


@app.post("/forecast")
def forecast(request: ForecastRequest) -> dict[str, Any]:
    series = forecast_inputs(_forecast_card, request.series)
    lengths = np.full(len(series), series.shape[1], dtype=np.int32)
    output = _forecast_session.run(None, {"series": series, "lengths": lengths})[0]
    return forecast_answer(_forecast_card, output)


@app.post("/sentiment")
def sentiment(request: SentimentRequest) -> dict[str, Any]:
    tokens, lengths, encoded = token_inputs(_tokenizer, request.texts)
    probabilities = _sentiment_session.run(None, {"tokens": tokens, "lengths": lengths})[0]
    return sentiment_answer(_sentiment_card, probabilities, encoded)
