"""The committed request material: real series, real held-out reviews, synthetic series.

`loadtest/data/series.json` holds real series from statsmodels' datasets and
`loadtest/data/reviews.json` held-out IMDB test reviews; `python -m loadtest.build_data`
regenerates both. Reading them needs only the standard library, so the suite runs with no
TensorFlow, no statsmodels and no network.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
SERIES_FILE = DATA_DIR / "series.json"
REVIEWS_FILE = DATA_DIR / "reviews.json"


@dataclass(frozen=True)
class RealSeries:
    name: str
    values: list[float]


@dataclass(frozen=True)
class Review:
    text: str
    label: str


def load_series(path: Path = SERIES_FILE) -> list[RealSeries]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    series = [RealSeries(name=item["name"], values=item["values"]) for item in raw["series"]]
    if not series:
        raise ValueError(f"{path}: no series")
    return series


def load_reviews(path: Path = REVIEWS_FILE) -> list[Review]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    reviews = [Review(text=item["text"], label=item["label"]) for item in raw["reviews"]]
    if not reviews:
        raise ValueError(f"{path}: no reviews")
    return reviews


def real_window(series: list[RealSeries], length: int, rng: random.Random) -> list[float]:
    """A contiguous window of `length` points from a real series long enough to hold it.

    When no series is that long, the longest one is returned whole.
    """
    candidates = [s for s in series if len(s.values) >= length]
    if not candidates:
        return list(max(series, key=lambda s: len(s.values)).values)
    chosen = rng.choice(candidates)
    start = rng.randrange(len(chosen.values) - length + 1)
    return chosen.values[start : start + length]


def synthetic_series(length: int, rng: random.Random, noise: float = 0.1) -> list[float]:
    """Géron's generator (ch. 15): two sines with random frequencies and offsets, plus noise."""
    freq1, freq2, offset1, offset2 = (rng.random() for _ in range(4))
    noise_rng = np.random.default_rng(rng.getrandbits(32))
    t = np.linspace(0.0, 1.0, length)
    values = 0.5 * np.sin((t - offset1) * (freq1 * 10 + 10))
    values += 0.2 * np.sin((t - offset2) * (freq2 * 20 + 20))
    values += noise * (noise_rng.random(length) - 0.5)
    return [float(v) for v in np.round(values, 5)]
