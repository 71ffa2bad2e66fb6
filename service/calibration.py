"""How many rows one onnxruntime run should take, measured on this machine when a model loads.

The cost per row of a recurrent graph falls with the batch only up to a point: past it, the
batch's activations leave the CPU caches and every row costs more. Measured on a 2-core Xeon
for the bundled sentiment model (BiGRU, 253-token rows): 376 us per row at 4 rows, 395 at 8,
412 at 16 and 476 at 32, while the forecast model stays within 5% from 6 rows to 32. Where
that point lies depends on the model, the row length and the CPU, so it is timed, not set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# A larger batch within this share of the best time per row is preferred: fewer runs, and
# the timings of neighbouring sizes differ by about this much from one load to the next.
TOLERANCE = 0.03
REPEATS = 3
BUDGET_S = 2.0  # larger batch sizes are not tried once the measurement has taken this long


@dataclass(frozen=True)
class Calibration:
    rows_per_run: int
    seconds_per_row: dict[int, float]  # batch size -> best time per row

    def describe(self) -> str:
        timings = ", ".join(f"{size}: {s * 1e6:.0f}" for size, s in self.seconds_per_row.items())
        return f"runs of up to {self.rows_per_run} rows (us per row by batch size: {timings})"


def batch_sizes(max_rows: int) -> list[int]:
    """1, 2, 4, ... up to and including `max_rows`."""
    sizes: list[int] = []
    size = 1
    while size < max_rows:
        sizes.append(size)
        size *= 2
    sizes.append(max_rows)
    return sizes


def calibrate(
    run: Callable[[list[np.ndarray]], object],
    row: np.ndarray,
    max_rows: int,
    *,
    repeats: int = REPEATS,
    tolerance: float = TOLERANCE,
    budget_s: float = BUDGET_S,
    clock: Callable[[], float] = time.perf_counter,
) -> Calibration:
    """Time `run` on batches of `row` and pick the largest size near the best time per row."""
    started = clock()
    seconds_per_row: dict[int, float] = {}
    for size in batch_sizes(max_rows):
        if seconds_per_row and clock() - started > budget_s:
            break
        batch = [row] * size
        run(batch)  # the first run of a new shape allocates
        best = float("inf")
        for _ in range(repeats):
            begin = clock()
            run(batch)
            best = min(best, clock() - begin)
        seconds_per_row[size] = best / size
    fastest = min(seconds_per_row.values())
    rows = max(s for s, t in seconds_per_row.items() if t <= fastest * (1 + tolerance))
    return Calibration(rows, seconds_per_row)
