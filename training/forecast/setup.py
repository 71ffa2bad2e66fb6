"""The shape of a real-series run shared by planning (no TensorFlow) and training."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from training.forecast import samples


@dataclass(frozen=True)
class Candidate:
    window: int
    units: int
    transform: str  # "none" | "log"
    drift: bool = False  # the base forecast follows the window's trend
    base: str = "seasonal_mean"  # "seasonal_mean" | "seasonal_naive" | "blend" | ...
    # Holt-Winters (alpha, beta, gamma, phi) for base "holt_winters_blend", fitted before
    # training (see `training.forecast.smoothing`)
    smoothing: tuple[float, float, float, float] | None = None

    def record(self) -> dict[str, object]:
        """The fields as JSON values (a card must read back to itself: no tuples)."""
        fields = asdict(self)
        if self.smoothing is not None:
            fields["smoothing"] = list(self.smoothing)
        return fields

    def describe(self) -> str:
        base = self.base.replace("_", " ") + (" + drift" if self.drift else "")
        if self.smoothing is not None:
            base += " (alpha {}, beta {}, gamma {}, phi {})".format(*self.smoothing)
        return f"window {self.window}, units {self.units}, transform {self.transform}, base {base}"


@dataclass(frozen=True)
class SeriesSetup:
    """What every candidate shares: the data, its split and the forecast task."""

    values: np.ndarray  # [time, features], float64, no gaps
    names: list[str]
    target_idx: list[int]
    seasons: list[int]
    horizon: int
    cut: samples.Cut
    seed: int

    @property
    def targets(self) -> list[str]:
        return [self.names[i] for i in self.target_idx]
