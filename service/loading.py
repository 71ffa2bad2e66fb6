"""Finds `models/<name>/<version>/` and turns one directory into a verified, warmed-up model.

The same discovery and the same checks serve start-up and hot reload: the card parses and
sits in its own directory, the ONNX file's sha256 matches the card, onnxruntime loads it, the
graph's signature matches the card and the task's contract, the task's extras load (e.g. the
vocabulary, checked by its sha256), warm-up runs give the card's output shape, and a
self-test checks that outputs are plausible and that rows answer the same alone and padded
in one batch. Any failure raises `ModelLoadError` naming the file and the check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pydantic import ValidationError

from contract.card import CARD_FILE, ModelCard, TensorSpec
from contract.hashing import sha256_of
from contract.sessions import create_session
from service.calibration import calibrate
from service.config import Settings
from service.metrics import BatchObserver
from service.registry import LoadedModel
from service.runtime import DynamicBatcher, SequenceRunner
from service.tasks import TASKS, Task

logger = logging.getLogger(__name__)

SELF_TEST_TOLERANCE = 1e-5
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(int32)": "int32"}
_NP_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "int64": np.int64,
    "int32": np.int32,
}


class ModelLoadError(RuntimeError):
    """An artifact under the models directory cannot be served; the message names the file."""


@dataclass(frozen=True)
class LoadFailure:
    """A version directory that is not served, and why. `directory` is relative to the root."""

    name: str
    version: str
    directory: str
    error: str
    detected_at: float  # unix time


def version_dirs(root: Path) -> list[Path]:
    """Every `<name>/<version>/` directory under root, hidden ones (the exporter's staging
    folders `.name.*`) left out. The one discovery of start-up and hot reload."""
    if not root.is_dir():
        raise ModelLoadError(f"{root}: models directory not found")
    try:
        return sorted(
            version
            for name in root.iterdir()
            if name.is_dir() and not name.name.startswith(".")
            for version in name.iterdir()
            if version.is_dir() and not version.name.startswith(".")
        )
    except OSError as exc:
        raise ModelLoadError(f"{exc.filename}: cannot list it: {exc.strerror}") from exc


def load_model(directory: Path, settings: Settings) -> LoadedModel:
    """Every check, the warm-up and the self-test; blocking (reload runs it in a thread)."""
    card = _read_card(directory)
    task = TASKS.get(card.task)
    if task is None:
        raise ModelLoadError(f"{directory / CARD_FILE}: unknown task {card.task!r}")
    onnx_path = directory / card.onnx_file
    if not onnx_path.is_file():
        raise ModelLoadError(f"{onnx_path}: model file not found")
    digest = sha256_of(onnx_path)
    if digest != card.sha256:
        raise ModelLoadError(
            f"{onnx_path}: sha256 {digest} does not match the card's {card.sha256}"
        )
    try:
        session = create_session(
            onnx_path, settings.ort_intra_op_threads, settings.ort_inter_op_threads
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelLoadError(f"{onnx_path}: onnxruntime cannot load it: {exc}") from exc
    _check_signature(onnx_path, card, task, session)
    try:
        codec = task.load_codec(directory, card)
    except (ValueError, OSError) as exc:
        raise ModelLoadError(str(exc)) from exc
    graph = task.graph
    data_spec = next(spec for spec in card.inputs if spec.name == graph.data)
    runner = SequenceRunner(
        session, graph.data, graph.lengths, graph.output, _NP_DTYPES[data_spec.dtype]
    )
    _warm_up(onnx_path, card, task, runner, settings.max_batch_size)
    _self_test(directory, card, task, runner)
    runner = replace(runner, max_rows_per_run=_rows_per_run(card, task, runner, settings))
    batcher = DynamicBatcher(
        runner,
        max_batch_size=runner.max_rows_per_run,
        max_queue_delay_s=settings.max_queue_delay_ms / 1000.0,
        name=f"{card.name}/{card.version}",
        max_queue=settings.max_queue_requests,
        deadline_s=settings.request_timeout_ms / 1000.0,
        retry_after_s=settings.retry_after_s,
        observer=BatchObserver(card.name, card.version),
    )
    return LoadedModel(card, directory, task, session, runner, batcher, codec)


def _read_card(directory: Path) -> ModelCard:
    card_path = directory / CARD_FILE
    if not card_path.is_file():
        # A glob would skip it silently (e.g. a 0700 directory under another user).
        raise ModelLoadError(
            f"{card_path}: missing or unreadable "
            "(every models/<name>/<version>/ directory must hold a model)"
        )
    try:
        card = ModelCard.load(directory)
    except (ValidationError, ValueError, OSError) as exc:
        raise ModelLoadError(f"{card_path}: invalid model card: {exc}") from exc
    if (card.name, card.version) != (directory.parent.name, directory.name):
        raise ModelLoadError(
            f"{card_path}: card says {card.name}/{card.version} but lives in "
            f"{directory.parent.name}/{directory.name}"
        )
    return card


def _check_signature(
    path: Path, card: ModelCard, task: Task, session: ort.InferenceSession
) -> None:
    graph = task.graph
    expected_inputs = {graph.data, graph.lengths}
    problems: list[str] = []
    if {spec.name for spec in card.inputs} != expected_inputs:
        problems.append(f"card inputs must be {sorted(expected_inputs)} for a {card.task} model")
    if [spec.name for spec in card.outputs] != [graph.output]:
        problems.append(f"card outputs must be ['{graph.output}'] for a {card.task} model")
    problems += _compare(card.inputs, session.get_inputs(), "input")
    problems += _compare(card.outputs, session.get_outputs(), "output")
    problems += task.check_card(card)
    if problems:
        raise ModelLoadError(f"{path}: does not match its card: " + "; ".join(problems))


def _compare(specs: list[TensorSpec], nodes: list[ort.NodeArg], kind: str) -> list[str]:
    problems: list[str] = []
    by_name = {node.name: node for node in nodes}
    if set(by_name) != {spec.name for spec in specs}:
        return [f"graph {kind}s {sorted(by_name)} differ from the card's"]
    for spec in specs:
        node = by_name[spec.name]
        dtype = _ORT_DTYPES.get(node.type, node.type)
        if dtype != spec.dtype:
            problems.append(f"{kind} {spec.name!r} is {dtype}, card says {spec.dtype}")
        if len(node.shape) != len(spec.shape):
            problems.append(f"{kind} {spec.name!r} has shape {node.shape}, card says {spec.shape}")
            continue
        for axis, (actual, declared) in enumerate(zip(node.shape, spec.shape, strict=True)):
            if isinstance(actual, int) and actual != declared:
                problems.append(
                    f"{kind} {spec.name!r} axis {axis} is fixed to {actual}, card says {declared}"
                )
    return problems


def _warm_up(
    path: Path, card: ModelCard, task: Task, runner: SequenceRunner, max_batch_size: int
) -> None:
    """Run batch sizes 1 and max_batch_size once, and check the output shape against the card."""
    row = task.sample_rows(card)[0]
    for batch_size in sorted({1, max_batch_size}):
        try:
            output = runner([row] * batch_size)
        except Exception as exc:
            raise ModelLoadError(f"{path}: warm-up run failed: {exc}") from exc
        expected = task.output_shape(card, batch_size)
        if output.shape != expected:
            raise ModelLoadError(
                f"{path}: warm-up output has shape {list(output.shape)}, expected {list(expected)}"
            )


def _rows_per_run(card: ModelCard, task: Task, runner: SequenceRunner, settings: Settings) -> int:
    """The configured rows per run, or else the batch size found fastest per row here."""
    if settings.rows_per_run:
        return min(settings.rows_per_run, settings.max_batch_size)
    rows = sorted(task.sample_rows(card), key=len)
    calibration = calibrate(runner, rows[len(rows) // 2], settings.max_batch_size)
    logger.info("%s/%s: %s", card.name, card.version, calibration.describe())
    return calibration.rows_per_run


def _self_test(directory: Path, card: ModelCard, task: Task, runner: SequenceRunner) -> None:
    """Rows of different lengths must answer plausibly, and the same alone and padded."""
    rows = task.sample_rows(card)
    try:
        together = runner(rows)
        alone = [runner([row])[0] for row in rows]
    except Exception as exc:
        raise ModelLoadError(f"{directory}: self-test failed: {exc}") from exc
    problem = task.check_output(together)
    if problem is not None:
        raise ModelLoadError(f"{directory}: self-test {problem}")
    for index, row in enumerate(rows):
        difference = float(np.max(np.abs(alone[index] - together[index])))
        if difference > SELF_TEST_TOLERANCE:
            raise ModelLoadError(
                f"{directory}: self-test row {index} (length {len(row)}) differs by "
                f"{difference:.3g} between a batch and alone (padding is not exact)"
            )
