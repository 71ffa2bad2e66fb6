"""Statistical baselines on the same origins as the model: statsforecast's models.

Each baseline is fitted at every origin on the whole history before it (what a user of that
library would do) and forecasts `horizon` steps. Naive and seasonal naive come from the same
library, so every baseline is computed one way.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

BASELINES = ("naive", "seasonal_naive", "auto_ets", "auto_theta")
# AutoETS and AutoTheta take seasons up to this length (a longer one: its largest divisor
# here is not meaningful, so they fall back to the longest season that is).
_MAX_ETS_SEASON = 60
_MAX_HISTORY_SEASONS = 20  # statistical fits see at most this many seasons of history


def _model(name: str, season: int) -> object:
    from statsforecast.models import AutoETS, AutoTheta, Naive, SeasonalNaive

    factories: dict[str, Callable[[], object]] = {
        "naive": Naive,
        "seasonal_naive": lambda: SeasonalNaive(season_length=max(season, 1)),
        "auto_ets": lambda: AutoETS(season_length=max(season, 1)),
        "auto_theta": lambda: AutoTheta(season_length=max(season, 1)),
    }
    return factories[name]()


def baseline_season(seasons: Sequence[int], name: str) -> int:
    if name in ("auto_ets", "auto_theta"):
        fitting = [m for m in seasons if m <= _MAX_ETS_SEASON]
        return max(fitting) if fitting else 1
    return max(seasons)


def forecast(name: str, history: np.ndarray, horizon: int, seasons: Sequence[int]) -> np.ndarray:
    """One baseline's forecast [horizon] from a 1-D history."""
    season = baseline_season(seasons, name)
    values = np.asarray(history, np.float64)
    if name in ("auto_ets", "auto_theta"):
        values = values[-max(_MAX_HISTORY_SEASONS * season, 200) :]
        if len(values) < 2 * season + 2:
            season = 1
    model = _model(name, season)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = model.forecast(y=values, h=horizon)  # type: ignore[attr-defined]
        except Exception:  # a failed fit: fall back to the seasonal naive forecast
            if name == "seasonal_naive":
                raise
            return forecast("seasonal_naive", history, horizon, seasons)
    return np.asarray(out["mean"], np.float64)


def at_origins(
    name: str,
    series: np.ndarray,
    origins: Sequence[int],
    horizon: int,
    seasons: Sequence[int],
) -> np.ndarray:
    """Forecasts [n_origins, horizon, targets] of `series` [time, targets] from each origin."""
    out = np.empty((len(origins), horizon, series.shape[1]))
    for i, origin in enumerate(origins):
        for j in range(series.shape[1]):
            out[i, :, j] = forecast(name, series[:origin, j], horizon, seasons)
    return out
