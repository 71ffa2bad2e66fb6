"""Rows per onnxruntime run: timed at load, the largest batch near the best time per row."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from service.calibration import batch_sizes, calibrate
from service.config import Settings
from service.loading import load_model


class FakeClock:
    """A clock that only the fake model moves: `seconds_per_row[size]` per row of a run."""

    def __init__(self, seconds_per_row: dict[int, float]) -> None:
        self.now = 0.0
        self.seconds_per_row = seconds_per_row
        self.runs: list[int] = []

    def __call__(self) -> float:
        return self.now

    def run(self, rows: list[np.ndarray]) -> None:
        self.runs.append(len(rows))
        self.now += self.seconds_per_row[len(rows)] * len(rows)


def test_batch_sizes_double_up_to_the_maximum() -> None:
    assert batch_sizes(1) == [1]
    assert batch_sizes(8) == [1, 2, 4, 8]
    assert batch_sizes(20) == [1, 2, 4, 8, 16, 20]


def test_the_largest_size_within_the_tolerance_of_the_best_is_chosen() -> None:
    costs = {1: 10.0, 2: 6.0, 4: 5.0, 8: 5.1, 16: 7.0, 32: 9.0}
    clock = FakeClock(costs)
    result = calibrate(clock.run, np.zeros(3), 32, tolerance=0.03, budget_s=1e9, clock=clock)
    assert result.rows_per_run == 8  # 5.1 is within 3% of 5.0; 16 rows cost 40% more
    assert result.seconds_per_row == pytest.approx(costs)
    assert "runs of up to 8 rows" in result.describe()
    # Per size: one untimed run, then the timed repeats.
    assert clock.runs[:4] == [1, 1, 1, 1]


def test_a_cost_that_keeps_falling_gives_the_maximum() -> None:
    clock = FakeClock({1: 9.0, 2: 5.0, 4: 3.0, 8: 2.0, 16: 1.5, 24: 1.4})
    result = calibrate(clock.run, np.zeros(3), 24, budget_s=1e9, clock=clock)
    assert result.rows_per_run == 24


def test_larger_sizes_are_not_tried_past_the_budget() -> None:
    clock = FakeClock({1: 1.0, 2: 1.0, 4: 0.5, 8: 0.1, 16: 0.1, 32: 0.1})
    # Size 1 takes 4 s (four runs of 1 s), size 2 another 8 s: the budget of 10 s ends there.
    result = calibrate(clock.run, np.zeros(3), 32, budget_s=10.0, clock=clock)
    assert sorted(result.seconds_per_row) == [1, 2]
    assert result.rows_per_run == 2
    assert max(clock.runs) == 2


@pytest.mark.parametrize("model", ["forecast/10", "sentiment/1"])
def test_loading_times_the_model_unless_rows_per_run_is_set(
    zoo: Path, model: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service.loading"):
        measured = load_model(zoo / model, Settings(models_dir=zoo, max_batch_size=16))
    assert 1 <= measured.runner.max_rows_per_run <= 16
    assert measured.batcher.max_batch_size == measured.runner.max_rows_per_run
    assert any("runs of up to" in record.getMessage() for record in caplog.records)

    fixed = load_model(zoo / model, Settings(models_dir=zoo, rows_per_run=3))
    assert fixed.runner.max_rows_per_run == 3
    assert fixed.batcher.max_batch_size == 3
    capped = load_model(zoo / model, Settings(models_dir=zoo, rows_per_run=100))
    assert capped.runner.max_rows_per_run == Settings().max_batch_size
