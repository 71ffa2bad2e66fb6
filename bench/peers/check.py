"""Before any load: a peer must answer what onnxruntime answers on the same inputs.

The reference is `bench.peers.model` run here, one input at a time (batch 1). The check sends
`CHECK_INPUTS` different inputs at once, twice, so that the peer batches them (sentiment:
texts of different lengths, so padded batches), and compares every answer with its own
reference: forecast within 1e-5, sentiment within 1e-6 (`systems.TOLERANCE`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import httpx
import numpy as np

from bench.peers.model import Classifier, Forecaster
from bench.peers.systems import TOLERANCE, BodyKind, body, forecast_input, path, sentiment_input

CHECK_INPUTS = 8


class AnswerMismatch(AssertionError):
    """A peer's answer is not onnxruntime's (or is no answer at all)."""


@cache
def _forecaster(models_dir: Path) -> Forecaster:
    return Forecaster(models_dir)


@cache
def _classifier(models_dir: Path) -> Classifier:
    return Classifier(models_dir)


def reference(model: str, index: int, models_dir: Path) -> np.ndarray:
    """onnxruntime's output for input `index`, alone in its batch, flattened."""
    if model == "forecast":
        output = _forecaster(models_dir)(forecast_input(index)[None, :, None])
    else:
        output = _classifier(models_dir)([sentiment_input(index)])
    return np.asarray(output, dtype=np.float64).reshape(-1)


def compare(model: str, got: np.ndarray, want: np.ndarray, what: str) -> float:
    """The largest |got - want|; AnswerMismatch when shapes differ or it exceeds the tolerance."""
    if got.shape != want.shape:
        raise AnswerMismatch(f"{what}: {got.size} values, onnxruntime gives {want.size}")
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    if not diff <= TOLERANCE[model]:  # also catches NaN
        raise AnswerMismatch(
            f"{what}: differs from onnxruntime by {diff:.3g} (> {TOLERANCE[model]:g}); "
            f"got {got[:4].tolist()}, want {want[:4].tolist()}"
        )
    return diff


def check_answers(
    url: str,
    kind: BodyKind,
    model: str,
    parse: Callable[[object], np.ndarray],
    models_dir: Path,
    text_shape: tuple[int, ...] = (1,),
    indices: Sequence[int] = tuple(range(CHECK_INPUTS)),
) -> float:
    """Largest difference over every input (sent concurrently, twice); raises AnswerMismatch."""
    route = url.rstrip("/") + path(kind, model)

    def ask(index: int) -> np.ndarray:
        with httpx.Client(timeout=60.0) as client:
            answer = client.post(
                route,
                content=body(kind, model, index, text_shape),
                headers={"content-type": "application/json"},
            )
        if answer.status_code != 200:
            raise AnswerMismatch(f"input {index}: HTTP {answer.status_code}: {answer.text[:300]}")
        return parse(answer.json())

    worst = 0.0
    with ThreadPoolExecutor(max_workers=len(indices)) as pool:
        for _ in range(2):
            for index, got in zip(indices, pool.map(ask, indices), strict=True):
                want = reference(model, index, models_dir)
                worst = max(worst, compare(model, got, want, f"{model} input {index}"))
    return worst
