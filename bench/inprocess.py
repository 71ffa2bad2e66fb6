"""(a) The in-process ceiling: onnxruntime alone, no HTTP, per model and batch size.

Sessions are made by the service's own `contract.sessions.create_session`, so they have its
options. `processes` sessions run side by side in separate processes (one per uvicorn worker
of the service) with `threads` intra-op threads each; throughput is rows per second summed
over them: what the machine's cores can do for that configuration.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any

import numpy as np

from bench.apps.common import load_card, load_tokenizer
from bench.payloads import forecast_series, review


@dataclass(frozen=True)
class InProcessResult:
    model: str
    batch_size: int
    processes: int
    threads: int
    rows_per_s: float
    calls_per_s: float
    call_p50_ms: float
    call_p99_ms: float
    time_steps: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def model_inputs(
    model: str, models_dir: Path, batch_size: int
) -> tuple[Path, dict[str, np.ndarray]]:
    """The benchmark's one request, preprocessed like the service does, `batch_size` times."""
    directory, card = load_card(model, models_dir)
    if model == "forecast":
        assert card.forecast is not None
        spec = card.forecast
        values = np.asarray(forecast_series(), dtype=np.float64).reshape(-1, spec.n_features)
        mean = np.asarray(spec.input_scaler.mean, dtype=np.float64)
        scale = np.asarray(spec.input_scaler.scale, dtype=np.float64)
        row = ((values - mean) / scale).astype(np.float32)
        data = np.repeat(row[np.newaxis], batch_size, axis=0)
        names = (card.inputs[0].name, card.inputs[1].name)
    else:
        ids = load_tokenizer(directory, card).encode(review()).ids
        data = np.repeat(np.asarray(ids, dtype=np.int64)[np.newaxis], batch_size, axis=0)
        names = (card.inputs[0].name, card.inputs[1].name)
    lengths = np.full(batch_size, data.shape[1], dtype=np.int32)
    return directory / card.onnx_file, {names[0]: data, names[1]: lengths}


_SESSIONS: dict[tuple[str, int], Any] = {}


def _worker(
    path: str, feeds: dict[str, np.ndarray], threads: int, seconds: float, barrier: Any
) -> tuple[list[float], float]:
    """Runs in a pool process: per-call seconds and the elapsed time of back-to-back runs."""
    from contract.sessions import create_session

    key = (path, threads)
    if key not in _SESSIONS:
        _SESSIONS[key] = create_session(Path(path), threads, 1)
    session = _SESSIONS[key]
    warm_until = time.perf_counter() + min(0.5, seconds / 4)
    while time.perf_counter() < warm_until:
        session.run(None, feeds)
    barrier.wait()
    times: list[float] = []
    begin = time.perf_counter()
    end = begin + seconds
    while True:
        start = time.perf_counter()
        if start >= end:
            break
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return times, time.perf_counter() - begin


class InProcessBench:
    """A pool of `processes` spawned workers, kept for every point of a run."""

    def __init__(self, models_dir: Path, processes: int, threads: int) -> None:
        self.models_dir = models_dir
        self.processes = processes
        self.threads = threads
        context = get_context("spawn")
        self._manager = SyncManager(ctx=context)
        self._manager.start()
        self._pool = ProcessPoolExecutor(max_workers=processes, mp_context=context)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._manager.shutdown()

    def __enter__(self) -> InProcessBench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def measure(self, model: str, batch_size: int, seconds: float) -> InProcessResult:
        path, feeds = model_inputs(model, self.models_dir, batch_size)
        barrier = self._manager.Barrier(self.processes)
        futures = [
            self._pool.submit(_worker, str(path), feeds, self.threads, seconds, barrier)
            for _ in range(self.processes)
        ]
        per_process = [future.result(timeout=seconds * 4 + 120) for future in futures]
        calls = sum(len(times) for times, _ in per_process)
        calls_per_s = sum(len(times) / elapsed for times, elapsed in per_process)
        every = np.asarray([t for times, _ in per_process for t in times]) * 1000
        return InProcessResult(
            model=model,
            batch_size=batch_size,
            processes=self.processes,
            threads=self.threads,
            rows_per_s=round(calls_per_s * batch_size, 1),
            calls_per_s=round(calls_per_s, 1),
            call_p50_ms=round(float(np.percentile(every, 50)), 4) if calls else 0.0,
            call_p99_ms=round(float(np.percentile(every, 99)), 4) if calls else 0.0,
            time_steps=int(next(iter(feeds.values())).shape[1]),
        )
