"""Settings of a load-test run: the traffic mix, the request sizes and the load profiles."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["forecast", "sentiment", "bad"]
KINDS: tuple[Kind, ...] = ("forecast", "sentiment", "bad")
Profile = Literal["stepped", "soak", "smoke", "chaos"]
PROFILES: tuple[Profile, ...] = ("stepped", "soak", "smoke", "chaos")

DEFAULT_MIX = "forecast=60,sentiment=35,bad=5"


@dataclass(frozen=True)
class Mix:
    """Relative weights of the request kinds, e.g. `forecast=60,sentiment=35,bad=5`."""

    weights: dict[str, float]

    @classmethod
    def parse(cls, text: str) -> Mix:
        weights: dict[str, float] = dict.fromkeys(KINDS, 0.0)
        for part in text.split(","):
            if not part.strip():
                continue
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in KINDS:
                raise ValueError(f"mix entry {part!r}: expected KIND=WEIGHT with KIND in {KINDS}")
            try:
                weight = float(value)
            except ValueError:
                raise ValueError(f"mix entry {part!r}: {value!r} is not a number") from None
            if weight < 0:
                raise ValueError(f"mix entry {part!r}: weights cannot be negative")
            weights[name] = weight
        if sum(weights.values()) <= 0:
            raise ValueError(f"mix {text!r}: at least one weight must be positive")
        return cls(weights)

    def share(self, kind: str) -> float:
        return self.weights[kind] / sum(self.weights.values())

    def choose(self, rng: random.Random) -> Kind:
        kinds = [k for k in KINDS if self.weights[k] > 0]
        return rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]

    def __str__(self) -> str:
        return ",".join(f"{k}={self.weights[k]:g}" for k in KINDS)


@dataclass(frozen=True)
class Sizes:
    """Request sizes. Counts are drawn with P(n) proportional to 1/n: mostly small requests,
    with a long tail up to the maximum, as from many clients and a few batch jobs."""

    series_per_request: tuple[int, int] = (1, 32)
    points_per_series: tuple[int, int] = (50, 500)
    texts_per_request: tuple[int, int] = (1, 16)
    real_share: float = 0.5  # of forecast series cut from real data, the rest synthetic


def harmonic_count(bounds: tuple[int, int], rng: random.Random) -> int:
    """An integer in [low, high] with P(n) proportional to 1/n."""
    low, high = bounds
    values = list(range(low, high + 1))
    return rng.choices(values, weights=[1.0 / v for v in values])[0]


@dataclass(frozen=True)
class SteppedPlan:
    """Offered load grows geometrically step by step until the service saturates.

    Each user sends at most `per_user_rps` requests per second (locust's
    `constant_throughput`), so a step offers users x per_user_rps. A step whose achieved
    throughput stays below `saturation` x offered, `patience` times in a row, ends the run,
    as does a step with more than `max_error_rate` errors.
    """

    start_rps: float = 10.0
    factor: float = 1.5
    step_seconds: float = 20.0
    warmup_seconds: float = 5.0  # start of each step left out of its statistics
    max_steps: int = 14
    per_user_rps: float = 4.0
    saturation: float = 0.85
    patience: int = 2
    max_error_rate: float = 0.05
    max_users: int = 1000

    def offered(self, step: int) -> float:
        return self.start_rps * self.factor**step


@dataclass(frozen=True)
class ConstantPlan:
    """A constant offered load (soak and smoke): `target_rps` for `duration_s` seconds, after
    `ramp_s` to start the users and `warmup_s` at the full load that no criterion measures."""

    target_rps: float
    duration_s: float
    per_user_rps: float = 4.0
    ramp_s: float = 2.0
    max_users: int = 1000
    warmup_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.ramp_s + self.warmup_s + self.duration_s


@dataclass(frozen=True)
class RunSettings:
    host: str
    profile: Profile
    mix: Mix
    sizes: Sizes = field(default_factory=Sizes)
    seed: int = 1
