"""Discovers `models/<name>/<version>/`, validates every artifact against its card, warms it up.

Anything wrong with an artifact (unreadable card, sha256 mismatch, a graph that does not match
the card or the task's contract, a vocabulary whose sha256 differs) raises `ModelLoadError`
naming the file, so the service refuses to start instead of serving a broken model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pydantic import ValidationError

from contract.card import CARD_FILE, ModelCard, TensorSpec
from contract.hashing import sha256_of
from contract.sessions import create_session
from contract.text import Tokenizer
from service.config import Settings
from service.errors import ServiceError
from service.forecasting import ForecastCodec
from service.metrics import BatchObserver
from service.runtime import DynamicBatcher, SequenceRunner

# The graph contract of each task (README, "ONNX graph contract"): data input, output.
CONTRACT: dict[str, tuple[str, str, str]] = {
    "forecast": ("series", "lengths", "forecast"),
    "sentiment": ("tokens", "lengths", "probability"),
}
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(int32)": "int32"}
_NP_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "int64": np.int64,
    "int32": np.int32,
}


class ModelLoadError(RuntimeError):
    """An artifact under the models directory cannot be served; the message names the file."""


@dataclass
class LoadedModel:
    card: ModelCard
    directory: Path
    session: ort.InferenceSession
    runner: SequenceRunner
    batcher: DynamicBatcher
    tokenizer: Tokenizer | None = None  # sentiment models
    forecast_codec: ForecastCodec | None = None  # forecast models

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version


def version_key(version: str) -> list[tuple[int, int, str]]:
    """Numeric-aware order: "2" < "10", "1.9" < "1.10"."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", version)
        if part
    ]


class Registry:
    def __init__(self, models: dict[str, dict[str, LoadedModel]]) -> None:
        # name -> versions, oldest first; the last one is the default.
        self.models = {
            name: dict(sorted(versions.items(), key=lambda item: version_key(item[0])))
            for name, versions in sorted(models.items())
        }
        self._task_defaults: dict[str, LoadedModel] = {}  # resolve(task, None, None), cached

    @classmethod
    def load(cls, settings: Settings) -> Registry:
        root = settings.models_dir
        if not root.is_dir():
            raise ModelLoadError(f"{root}: models directory not found")
        models: dict[str, dict[str, LoadedModel]] = {}
        for directory in version_dirs(root):
            if not (directory / CARD_FILE).is_file():
                # A glob would skip it silently (e.g. a 0700 directory under another user).
                raise ModelLoadError(
                    f"{directory / CARD_FILE}: missing or unreadable "
                    "(every models/<name>/<version>/ directory must hold a model)"
                )
            model = load_model(directory, settings)
            models.setdefault(model.name, {})[model.version] = model
        if not models:
            raise ModelLoadError(f"{root}: no model found (expected <name>/<version>/{CARD_FILE})")
        return cls(models)

    def all(self) -> list[LoadedModel]:
        return [model for versions in self.models.values() for model in versions.values()]

    def default_version(self, name: str) -> str:
        return next(reversed(self.models[name]))

    def versions(self, name: str) -> dict[str, LoadedModel]:
        if name not in self.models:
            known = ", ".join(self.models) or "none"
            raise ServiceError(404, "unknown_model", f"unknown model {name!r} (served: {known})")
        return self.models[name]

    def resolve(self, task: str, name: str | None, version: str | None) -> LoadedModel:
        """The model a request asks for; without a name, the one model of that task."""
        wants_default = name is None and version is None
        if wants_default and task in self._task_defaults:
            return self._task_defaults[task]
        if name is None:
            name = self._default_name(task)
        versions = self.versions(name)
        if version is None:
            model = versions[self.default_version(name)]
        elif version in versions:
            model = versions[version]
        else:
            known = ", ".join(versions)
            raise ServiceError(
                404,
                "unknown_version",
                f"model {name!r} has no version {version!r} (served: {known})",
            )
        if model.card.task != task:
            raise ServiceError(
                422,
                "wrong_task",
                f"model {name!r} is a {model.card.task} model, not a {task} model",
            )
        if wants_default:
            self._task_defaults[task] = model
        return model

    def _default_name(self, task: str) -> str:
        names = [
            name
            for name, versions in self.models.items()
            if next(iter(versions.values())).card.task == task
        ]
        if task in names:
            return task
        if len(names) == 1:
            return names[0]
        if not names:
            raise ServiceError(404, "unknown_model", f"no {task} model is served")
        raise ServiceError(
            422,
            "ambiguous_model",
            f"several {task} models are served, name one in 'model': {', '.join(names)}",
        )


def version_dirs(root: Path) -> list[Path]:
    """Every `<name>/<version>/` directory under root, hidden ones (the exporter's staging
    folders `.name.*`) left out."""
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


def is_hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def load_model(directory: Path, settings: Settings) -> LoadedModel:
    card_path = directory / CARD_FILE
    try:
        card = ModelCard.load(directory)
    except (ValidationError, ValueError, OSError) as exc:
        raise ModelLoadError(f"{card_path}: invalid model card: {exc}") from exc
    if (card.name, card.version) != (directory.parent.name, directory.name):
        raise ModelLoadError(
            f"{card_path}: card says {card.name}/{card.version} but lives in "
            f"{directory.parent.name}/{directory.name}"
        )
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
    _check_signature(onnx_path, card, session)

    tokenizer = None
    if card.sentiment is not None:
        spec = card.sentiment.tokenizer
        try:
            tokenizer = Tokenizer.load(directory, spec)
        except (ValueError, OSError) as exc:
            raise ModelLoadError(f"{directory / spec.vocabulary_file}: {exc}") from exc

    data_name, lengths_name, output_name = CONTRACT[card.task]
    data_spec = next(spec for spec in card.inputs if spec.name == data_name)
    runner = SequenceRunner(
        session, data_name, lengths_name, output_name, _NP_DTYPES[data_spec.dtype]
    )
    _warm_up(onnx_path, card, runner, settings.max_batch_size)
    batcher = DynamicBatcher(
        runner,
        max_batch_size=settings.max_batch_size,
        max_queue_delay_s=settings.max_queue_delay_ms / 1000.0,
        name=f"{card.name}/{card.version}",
        max_queue=settings.max_queue_requests,
        deadline_s=settings.request_timeout_ms / 1000.0,
        retry_after_s=settings.retry_after_s,
        observer=BatchObserver(card.name, card.version),
    )
    codec = ForecastCodec(card) if card.forecast is not None else None
    return LoadedModel(card, directory, session, runner, batcher, tokenizer, codec)


def _check_signature(path: Path, card: ModelCard, session: ort.InferenceSession) -> None:
    data_name, lengths_name, output_name = CONTRACT[card.task]
    expected_inputs = {data_name, lengths_name}
    problems: list[str] = []
    if {spec.name for spec in card.inputs} != expected_inputs:
        problems.append(f"card inputs must be {sorted(expected_inputs)} for a {card.task} model")
    if [spec.name for spec in card.outputs] != [output_name]:
        problems.append(f"card outputs must be ['{output_name}'] for a {card.task} model")
    problems += _compare(card.inputs, session.get_inputs(), "input")
    problems += _compare(card.outputs, session.get_outputs(), "output")
    if card.forecast is not None:
        spec = card.forecast
        if len(spec.input_scaler.mean) != spec.n_features:
            problems.append("forecast.input_scaler must have one entry per feature")
        if len(spec.target_scaler.mean) != len(spec.target_names):
            problems.append("forecast.target_scaler must have one entry per target")
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


def _warm_up(path: Path, card: ModelCard, runner: SequenceRunner, max_batch_size: int) -> None:
    """Run batch sizes 1 and max_batch_size once, and check the output shape against the card."""
    for batch_size in sorted({1, max_batch_size}):
        if card.forecast is not None:
            spec = card.forecast
            row: np.ndarray = np.zeros((spec.min_length, spec.n_features), dtype=np.float32)
            expected: tuple[int, ...] = (batch_size, spec.horizon, len(spec.target_names))
        else:
            row = np.full(8, 1, dtype=np.int64)  # 8 out-of-vocabulary tokens
            expected = (batch_size,)
        try:
            output = runner([row] * batch_size)
        except Exception as exc:
            raise ModelLoadError(f"{path}: warm-up run failed: {exc}") from exc
        if output.shape != expected:
            raise ModelLoadError(
                f"{path}: warm-up output has shape {list(output.shape)}, expected {list(expected)}"
            )
