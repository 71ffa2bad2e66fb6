"""Settings of one benchmark run (all from `python -m bench` flags)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

APPS = ("service", "ceiling", "textbook", "keras")
MODELS = ("forecast", "sentiment")
TARGET_CONNECTIONS = 32  # the targets are read at 32 clients
ERROR_CONNECTIONS = 128  # ... and "no errors" at 128
# The slow reference apps stop here: at more clients they only queue (seconds per answer).
REFERENCE_MAX_CONNECTIONS = 128


@dataclass(frozen=True)
class BenchConfig:
    models_dir: Path = Path("models")
    out_dir: Path = Path("results/bench")
    benchmarks_md: Path | None = Path("BENCHMARKS.md")
    duration_s: int = 10  # per measured load point
    warmup_s: int = 2  # discarded load before every point
    inprocess_s: float = 3.0  # per in-process point
    connections: tuple[int, ...] = (1, 8, 32, 128, 512)
    batch_sizes: tuple[int, ...] = (1, 8, 32, 128)
    workers: int = 2  # uvicorn workers of every server (and in-process sessions side by side)
    ort_threads: int = 1  # onnxruntime intra-op threads of the service and the in-process runs
    wrk_threads: int = 1
    apps: tuple[str, ...] = APPS
    models: tuple[str, ...] = MODELS
    selection_workers: tuple[int, ...] = (1, 2)
    selection_threads: tuple[int, ...] = (1, 2)
    service_env: dict[str, str] = field(default_factory=dict)  # extra RNN_SERVE_* settings
    v2: bool = True  # the service over the Open Inference Protocol too (HTTP JSON, binary, gRPC)
    v2_rounds: int = 5  # native and V2 points alternated this many times at the target's clients
    quick: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        return data


def quick(config: BenchConfig) -> BenchConfig:
    """A smoke run of every part in about a minute (for the test): 1 s points, 1 worker."""
    return replace(
        config,
        duration_s=1,
        warmup_s=1,
        inprocess_s=0.3,
        connections=(1, 8),
        batch_sizes=(1, 8),
        workers=1,
        selection_workers=(1,),
        selection_threads=(1,),
        benchmarks_md=None,
        quick=True,
    )
