"""Candidate configurations for a real series, trained one by one and compared on validation."""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np

from contract.card import ForecastSpec, Scaler, Smoothing, WindowNormalisation
from contract.forecast_transform import ForecastTransform
from training.forecast import models, samples
from training.forecast.scoring import mae
from training.forecast.setup import Candidate, SeriesSetup
from training.forecast.train import FitConfig, FitHistory, Log, fit

MAX_RECURRENT_STEPS = 128  # longer windows go through a strided Conv1D first
WINDOWS_PER_EPOCH = 1024  # at most; a short series' epoch is one pass, at least MIN_EPOCH
MIN_EPOCH_WINDOWS = 128


@dataclass
class Trained:
    candidate: Candidate
    model: keras.Sequential
    spec: ForecastSpec
    transform: ForecastTransform
    history: FitHistory
    train: samples.Windows
    valid: samples.Windows
    valid_forecast: np.ndarray  # raw [n, horizon, targets]
    valid_mae: float
    seconds: float


def stride_for(window: int) -> int:
    return max(1, -(-window // MAX_RECURRENT_STEPS))


def spec_for(setup: SeriesSetup, candidate: Candidate) -> ForecastSpec:
    width, n_targets = len(setup.names), len(setup.target_idx)
    base = max((m for m in setup.seasons if m <= candidate.window), default=1)
    identity = Scaler(mean=[0.0] * width, scale=[1.0] * width)
    return ForecastSpec(
        n_features=width,
        feature_names=setup.names,
        target_names=setup.targets,
        horizon=setup.horizon,
        min_length=candidate.window,
        input_scaler=identity,
        target_scaler=Scaler(mean=[0.0] * n_targets, scale=[1.0] * n_targets),
        window=candidate.window,
        seasons=setup.seasons,
        normalisation=WindowNormalisation(
            transform="log" if candidate.transform == "log" else "none",
            level_points=min(base, candidate.window),
            base_season=base,
            base=candidate.base,
            drift=candidate.drift,
            smoothing=Smoothing.of(candidate.smoothing) if candidate.smoothing else None,
        ),
    )


def graph_output(model: keras.Sequential, windows: samples.Windows) -> np.ndarray:
    """Keras output for `windows` in graph units: [n, horizon, targets]."""
    out = np.asarray(model.predict(windows.x, batch_size=512, verbose=0), np.float64)
    return out.reshape(len(out), -1, windows.truth.shape[2])


def predict_raw(
    model: keras.Sequential, transform: ForecastTransform, windows: samples.Windows
) -> np.ndarray:
    """Keras forecast of `windows` in raw units, through the transform."""
    return transform.from_graph_batch(graph_output(model, windows), windows.batch)


def base_mae(setup: SeriesSetup, candidate: Candidate, first: int = 0) -> float:
    """MAE of the candidate's base forecast alone (an untrained model's answer) on every
    origin from `first` whose targets end before the test part. Nothing in the base is fitted,
    so the training part's windows are out of sample for it too: many more windows than the
    validation part alone to rank the bases on."""
    transform = ForecastTransform(spec_for(setup, candidate))
    cut, h = setup.cut, setup.horizon
    at = samples.origins(first, cut.valid_end, candidate.window, h)
    valid = samples.build(setup.values, setup.target_idx, transform, at, h)
    zeros = np.zeros((len(at), h, len(setup.target_idx)))
    return mae(transform.from_graph_batch(zeros, valid.batch), valid.truth)


def train_candidate(
    setup: SeriesSetup, candidate: Candidate, fit_config: FitConfig, log: Log
) -> Trained:
    start = time.perf_counter()
    spec = spec_for(setup, candidate)
    transform = ForecastTransform(spec)
    cut, h, w = setup.cut, setup.horizon, candidate.window
    train = samples.build(
        setup.values,
        setup.target_idx,
        transform,
        samples.origins(w, cut.train_end, w, h),
        h,
    )
    valid = samples.build(
        setup.values,
        setup.target_idx,
        transform,
        samples.origins(cut.train_end, cut.valid_end, w, h),
        h,
    )
    keras.utils.set_random_seed(setup.seed)
    model = models.window_forecaster(
        h * len(setup.target_idx), len(setup.names), candidate.units, stride_for(w)
    )
    rng = np.random.default_rng(setup.seed)

    per_epoch = min(WINDOWS_PER_EPOCH, max(len(train.x), MIN_EPOCH_WINDOWS))

    def next_batch(_epoch: int) -> tuple[np.ndarray, np.ndarray]:
        # Between two validation checks: one pass over a short series' windows (a few steps,
        # so the best epoch is not the untrained model), a sample of a long one's.
        many = len(train.x) >= per_epoch
        rows = rng.choice(len(train.x), per_epoch, replace=not many)
        return train.x[rows], train.y[rows]

    def score(m: keras.Model) -> float:
        return mae(predict_raw(m, transform, valid), valid.truth)

    history = fit(model, next_batch, score, fit_config, log)
    forecast = predict_raw(model, transform, valid)
    return Trained(
        candidate=candidate,
        model=model,
        spec=spec,
        transform=transform,
        history=history,
        train=train,
        valid=valid,
        valid_forecast=forecast,
        valid_mae=mae(forecast, valid.truth),
        seconds=time.perf_counter() - start,
    )
