"""Seasonal periods (given, from the frequency, or detected) and the default window."""

from __future__ import annotations

import numpy as np

from training.forecast.csvdata import DataError

# The usual periods of a frequency (pandas offset alias, prefix before any "-").
_KNOWN_PERIODS: dict[str, tuple[int, ...]] = {
    "MS": (12,),
    "ME": (12,),
    "M": (12,),
    "QS": (4,),
    "QE": (4,),
    "Q": (4,),
    "W": (52,),
    "D": (7,),
    "B": (5,),
    "h": (24, 168),
    "H": (24, 168),
    "30min": (48, 336),
    "15min": (96, 672),
}
MIN_TRAIN_WINDOWS = 16  # the default window shrinks until training has this many windows
MIN_TRAIN_SEASONS = 2  # ... and its training origins span this many longest seasons


def parse_seasons(text: str) -> list[int]:
    """`--season 12` or `--season 48,336` -> sorted periods (1 = no seasonality)."""
    try:
        periods = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise DataError(f"--season takes whole numbers separated by commas, got {text!r}") from None
    if not periods or periods[0] < 1:
        raise DataError(f"--season periods must be at least 1, got {text!r}")
    return [p for p in periods if p > 1] or [1]


def from_frequency(frequency: str | None) -> list[int] | None:
    if frequency is None:
        return None
    key = frequency.split("-")[0]
    periods = _KNOWN_PERIODS.get(key)
    return list(periods) if periods else None


def detect(train: np.ndarray, max_period: int | None = None) -> list[int]:
    """The strongest autocorrelation peak of the differenced training part (or [1]).

    A lag counts when it is a local maximum of the autocorrelation, above the 95% noise band,
    and at most a third of the series long, so that at least three seasons are seen.
    """
    x = np.diff(np.asarray(train, dtype=np.float64))
    n = len(x)
    top = min(n // 3, max_period or n)
    if top < 2 or not np.std(x) > 0:
        return [1]
    x = x - x.mean()
    acf = np.correlate(x, x, mode="full")[n - 1 : n + top + 1] / (x @ x)
    band = 2.0 / np.sqrt(n)
    best, best_value = 1, band
    for lag in range(2, top):
        if acf[lag] > best_value and acf[lag] >= acf[lag - 1] and acf[lag] >= acf[lag + 1]:
            best, best_value = lag, acf[lag]
    return [best]


def window_options(seasons: list[int], horizon: int) -> list[int]:
    """Candidate windows, longest first: 6, 4, 3 and 2 seasons (at least 2 H and 8 points)."""
    m = max(seasons)
    wide = [max(k * m, 2 * horizon, 8) for k in (6, 4, 3, 2)]
    return sorted(set(wide), reverse=True)


def default_window(seasons: list[int], horizon: int, train_length: int) -> int:
    """The longest of `window_options` that leaves enough training windows: at least
    MIN_TRAIN_WINDOWS, with origins spanning MIN_TRAIN_SEASONS of the longest season, so that
    every phase of the season is seen more than once as a forecast origin.

    More seasons in the window give the seasonal base a steadier pattern and trend; a short
    training part falls back towards one season (m) plus the horizon, then one season.
    """
    m = max(seasons)
    needed = max(MIN_TRAIN_WINDOWS, MIN_TRAIN_SEASONS * m)
    options = [*window_options(seasons, horizon), max(m + horizon, 4), max(m, horizon, 4)]
    for window in options:
        if train_length - window - horizon + 1 >= needed:
            return window
    window = max(m, 2)
    if train_length - window - horizon + 1 < 1:
        raise DataError(
            f"the training part has {train_length} steps: too short for one season ({m}) "
            f"plus the horizon ({horizon}); use a shorter --horizon or --season"
        )
    return window
