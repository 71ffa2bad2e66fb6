"""Export gates and the artifact writer.

- `recurrent_op_types` / `assert_native_recurrence`: the recurrent ops of a graph; no Loop/Scan.
- `forecast_parity` / `sentiment_parity`: Keras vs onnxruntime on the same inputs, including
  right-padded mixed-length batches compared with each row run alone; raise `ExportError`.
- `write_artifact`: model.onnx + card.json (+ extra files) written atomically into place.
- `tf2onnx_op_types`: what tf2onnx would have produced (recorded in results tables only).

Typical use (forecast):

    onnx_model = keras_to_onnx(model, "forecast", horizon=h, n_targets=t)
    parity = forecast_parity(model, onnx_model, n_features=f, horizon=h, n_targets=t)
    card = write_artifact(onnx_model, {..., "parity": parity}, Path("models/name/1"))
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from contract.card import CARD_FILE, ONNX_FILE, ModelCard, ParityReport, TensorSpec
from contract.hashing import sha256_of
from contract.sessions import create_session

log = logging.getLogger(__name__)

RECURRENT_OPS = frozenset({"RNN", "GRU", "LSTM", "Loop", "Scan"})
LOOPING_OPS = frozenset({"Loop", "Scan"})
DERIVED_CARD_FIELDS = frozenset(
    {"sha256", "opset", "inputs", "outputs", "op_types", "recurrent_ops", "created_at"}
)
PADDING_INVARIANCE_TOLERANCE = 1e-6
_NO_FILES: Mapping[str, bytes] = MappingProxyType({})
_DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
}


class ExportError(Exception):
    """An export gate failed; the message says which and by how much."""


# --------------------------------------------------------------------------- graph inspection
def _all_nodes(graph: onnx.GraphProto) -> Iterable[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    yield from _all_nodes(subgraph)


def op_types(model: onnx.ModelProto) -> list[str]:
    """Every op type in the graph and its subgraphs, sorted, without duplicates."""
    return sorted({node.op_type for node in _all_nodes(model.graph)})


def recurrent_op_types(model: onnx.ModelProto) -> list[str]:
    """The RNN/GRU/LSTM/Loop/Scan op types in the graph (subgraphs included), sorted."""
    return [op for op in op_types(model) if op in RECURRENT_OPS]


def assert_native_recurrence(model: onnx.ModelProto) -> None:
    looping = [op for op in recurrent_op_types(model) if op in LOOPING_OPS]
    if looping:
        raise ExportError(
            f"graph uses {', '.join(looping)}: recurrence must use native RNN/GRU/LSTM ops"
        )


# --------------------------------------------------------------------------- runners
def ort_session(model: onnx.ModelProto, *, threads: int = 1) -> ort.InferenceSession:
    return create_session(model.SerializeToString(), threads, 1)


def _keras_runner(keras_model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Keras in inference mode, traced once with dynamic batch and time axes."""
    import tensorflow as tf

    shape = list(keras_model.input_shape)
    dtype = tf.float32 if len(shape) == 3 else tf.int64
    spec = tf.TensorSpec([None, None, *shape[2:]], dtype)
    traced = tf.function(lambda x: keras_model(x, training=False), input_signature=[spec])

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(traced(tf.convert_to_tensor(x, dtype=dtype)), dtype=np.float32)

    return run


def _max_abs_diff(a: np.ndarray, b: np.ndarray, what: str) -> float:
    if a.shape != b.shape:
        raise ExportError(f"{what}: shape {a.shape} (Keras) vs {b.shape} (ONNX)")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ExportError(f"{what}: non-finite values (Keras or ONNX)")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


# --------------------------------------------------------------------------- forecast parity
def _keras_forecast(
    run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, horizon: int, n_targets: int
) -> np.ndarray:
    y = run(x)
    if y.ndim == 3:  # sequence-to-sequence: the prediction made at the last step
        y = y[:, -1, :]
    if y.shape[-1] != horizon * n_targets:
        raise ExportError(
            f"Keras output has {y.shape[-1]} units, expected horizon * n_targets = "
            f"{horizon * n_targets}"
        )
    return y.reshape(len(x), horizon, n_targets)


def _windows(
    rng: np.random.Generator, inputs: np.ndarray | None, batch: int, length: int, n_features: int
) -> np.ndarray:
    """`batch` windows of `length` steps: random normal, or slices of the caller's series."""
    if inputs is None:
        return rng.standard_normal((batch, length, n_features)).astype(np.float32)
    series = inputs[None] if inputs.ndim == 2 else inputs  # [n, time, features]
    if series.shape[-1] != n_features:
        raise ValueError(f"inputs have {series.shape[-1]} features, expected {n_features}")
    if series.shape[1] < length:
        raise ValueError(f"inputs have {series.shape[1]} steps, a window needs {length}")
    rows = rng.integers(0, series.shape[0], batch)
    starts = rng.integers(0, series.shape[1] - length + 1, batch)
    return np.stack([series[r, s : s + length] for r, s in zip(rows, starts, strict=True)]).astype(
        np.float32
    )


def forecast_parity(
    keras_model: Any,
    onnx_model: onnx.ModelProto,
    *,
    n_features: int,
    horizon: int,
    n_targets: int = 1,
    lengths: Sequence[int] = (20, 50, 200),
    batch_sizes: Sequence[int] = (1, 7, 64),
    tolerance: float = 1e-4,
    seed: int = 0,
    inputs: np.ndarray | None = None,
) -> ParityReport:
    """Keras vs onnxruntime on every (length, batch size), plus one right-padded batch of
    mixed lengths whose rows are each compared with Keras run on that row alone (padding is
    filled with large noise, so any leak shows). Raises ExportError beyond `tolerance`."""
    rng = np.random.default_rng(seed)
    run = _keras_runner(keras_model)
    session = ort_session(onnx_model)
    worst, worst_case, cases = 0.0, "", 0

    for length in lengths:
        for batch in batch_sizes:
            x = _windows(rng, inputs, batch, length, n_features)
            expected = _keras_forecast(run, x, horizon, n_targets)
            (got,) = session.run(None, {"series": x, "lengths": np.full(batch, length, np.int32)})
            diff = _max_abs_diff(expected, got, f"length {length}, batch {batch}")
            cases += batch
            if diff >= worst:
                worst, worst_case = diff, f"length {length}, batch {batch}"

    # Mixed lengths, right-padded: each row must answer as if it ran alone.
    batch, shortest, longest = max(batch_sizes), min(lengths), max(lengths)
    row_lengths = rng.integers(shortest, longest + 1, batch)
    row_lengths[:2] = (shortest, longest)
    padded = (10.0 * rng.standard_normal((batch, longest, n_features))).astype(np.float32)
    for row, length in enumerate(row_lengths):
        padded[row, :length] = _windows(rng, inputs, 1, int(length), n_features)[0]
    (got,) = session.run(None, {"series": padded, "lengths": row_lengths.astype(np.int32)})
    for length in np.unique(row_lengths):
        rows = np.flatnonzero(row_lengths == length)  # rows are independent: run them together
        expected = _keras_forecast(run, padded[rows, :length], horizon, n_targets)
        diff = _max_abs_diff(expected, got[rows], f"mixed batch, rows of length {length}")
        cases += len(rows)
        if diff >= worst:
            worst, worst_case = diff, f"mixed-length padded batch, rows of length {length}"

    if worst > tolerance:
        raise ExportError(
            f"forecast parity failed: max |Keras - ONNX| = {worst:.3g} > tolerance {tolerance:g} "
            f"(worst case: {worst_case})"
        )
    return ParityReport(
        max_abs_diff=worst,
        tolerance=tolerance,
        lengths=[int(n) for n in lengths],
        batch_sizes=[int(n) for n in batch_sizes],
        cases=cases,
        notes=(
            f"{len(lengths)}x{len(batch_sizes)} full-length batches "
            f"({'caller series' if inputs is not None else 'random normal inputs'}, seed {seed}) "
            f"+ one right-padded batch of {batch} rows with lengths {shortest}..{longest} "
            "(noise in the padding), each row compared with Keras on that row alone; "
            "cases = sequences compared"
        ),
    )


# --------------------------------------------------------------------------- sentiment parity
def _pad(sequences: Sequence[Sequence[int]], width: int | None = None) -> np.ndarray:
    width = width if width is not None else max(len(s) for s in sequences)
    tokens = np.zeros((len(sequences), width), np.int64)
    for row, sequence in enumerate(sequences):
        tokens[row, : len(sequence)] = sequence
    return tokens


def _lengths(sequences: Sequence[Sequence[int]]) -> np.ndarray:
    return np.array([len(s) for s in sequences], np.int32)


def sentiment_parity(
    keras_model: Any,
    onnx_model: onnx.ModelProto,
    token_sequences: list[list[int]],
    *,
    tolerance: float = 1e-4,
    batch_size: int = 64,
    threshold: float = 0.5,
) -> ParityReport:
    """Keras (right-padded batches, masking) vs onnxruntime (same batches + lengths): probabilities
    within `tolerance` and identical labels at `threshold` on every sequence; plus padding
    invariance of the ONNX graph: each sequence alone scores the same (within 1e-6) as when
    padded inside a batch with the longest sequence. Raises ExportError on any failure."""
    sequences = [list(s) for s in token_sequences]
    if not sequences:
        raise ValueError("no token sequences given")
    for index, sequence in enumerate(sequences):
        if not sequence:
            raise ValueError(f"sequence {index} is empty (the graph needs at least one token)")
        if min(sequence) <= 0:
            raise ValueError(f"sequence {index} holds token id 0 (padding) or a negative id")
    run = _keras_runner(keras_model)
    session = ort_session(onnx_model)

    keras_p, onnx_p = [], []
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start : start + batch_size]
        tokens = _pad(chunk)
        keras_p.append(run(tokens).reshape(-1))
        onnx_p.append(session.run(None, {"tokens": tokens, "lengths": _lengths(chunk)})[0])
    expected, got = np.concatenate(keras_p), np.concatenate(onnx_p)
    worst = _max_abs_diff(expected, got, "sentiment probabilities")
    flipped = int(np.sum((expected >= threshold) != (got >= threshold)))

    # Padding invariance of the graph itself.
    longest = max(sequences, key=len)
    alone = np.array(
        [
            session.run(None, {"tokens": _pad([s]), "lengths": _lengths([s])})[0][0]
            for s in sequences
        ]
    )
    padded_p = []
    for start in range(0, len(sequences), max(batch_size - 1, 1)):
        chunk = [*sequences[start : start + max(batch_size - 1, 1)], longest]
        padded_p.append(
            session.run(None, {"tokens": _pad(chunk), "lengths": _lengths(chunk)})[0][:-1]
        )
    padding_diff = _max_abs_diff(alone, np.concatenate(padded_p), "padding invariance")

    failures = []
    if worst > tolerance:
        failures.append(f"max |Keras - ONNX| = {worst:.3g} > tolerance {tolerance:g}")
    if flipped:
        failures.append(f"{flipped} of {len(sequences)} labels differ at threshold {threshold}")
    if padding_diff > PADDING_INVARIANCE_TOLERANCE:
        failures.append(
            f"padding changes ONNX scores by {padding_diff:.3g} > {PADDING_INVARIANCE_TOLERANCE:g}"
        )
    if failures:
        raise ExportError("sentiment parity failed: " + "; ".join(failures))
    sizes = sorted(len(s) for s in sequences)
    return ParityReport(
        max_abs_diff=worst,
        tolerance=tolerance,
        lengths=[sizes[0], sizes[len(sizes) // 2], sizes[-1]],
        batch_sizes=[batch_size, 1],
        cases=len(sequences),
        notes=(
            f"{len(sequences)} sequences, right-padded batches of {batch_size}: Keras (masking) vs "
            f"ONNX (lengths); labels identical at {threshold}; lengths = [min, median, max]; "
            f"padding invariance (alone vs padded with the longest, {len(longest)} tokens): "
            f"max diff {padding_diff:.3g}"
        ),
    )


# --------------------------------------------------------------------------- artifact writer
def _tensor_specs(values: Iterable[onnx.ValueInfoProto]) -> list[TensorSpec]:
    specs = []
    for value in values:
        tensor_type = value.type.tensor_type
        if tensor_type.elem_type not in _DTYPES:
            raise ExportError(f"graph tensor {value.name!r} has an unsupported element type")
        shape: list[int | str] = [
            dim.dim_param if dim.HasField("dim_param") else int(dim.dim_value)
            for dim in tensor_type.shape.dim
        ]
        specs.append(TensorSpec(name=value.name, dtype=_DTYPES[tensor_type.elem_type], shape=shape))
    return specs


def _opset(model: onnx.ModelProto) -> int:
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            return int(opset.version)
    raise ExportError("graph declares no default-domain opset")


def framework_versions() -> dict[str, str]:
    """Versions of the libraries that trained and exported a model (for `ModelCard.framework`)."""
    import keras
    import tensorflow as tf

    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
    }


def _check_file_name(name: str) -> None:
    if not name or Path(name).name != name or name in (ONNX_FILE, CARD_FILE, ".", ".."):
        raise ExportError(f"extra file name {name!r} is not a plain file name of its own")


def write_artifact(
    onnx_model: onnx.ModelProto,
    card_fields: dict[str, Any],
    target_dir: Path,
    *,
    extra_files: Mapping[str, bytes] = _NO_FILES,
    overwrite: bool = False,
) -> ModelCard:
    """Write model.onnx + card.json + `extra_files` into `target_dir`, atomically.

    Everything is written into a temporary directory beside `target_dir`, the card is validated,
    the model is loaded once in onnxruntime and checked for native recurrence, then the directory
    is renamed into place. On any failure nothing is left behind.
    """
    target_dir = Path(target_dir)
    derived = DERIVED_CARD_FIELDS & card_fields.keys()
    if derived:
        raise ExportError(f"card_fields must not set derived fields: {sorted(derived)}")
    if card_fields.get("onnx_file", ONNX_FILE) != ONNX_FILE:
        raise ExportError(f"the graph is always written as {ONNX_FILE}; drop card 'onnx_file'")
    for name in extra_files:
        _check_file_name(name)
    if target_dir.exists() and not overwrite:
        raise ExportError(f"{target_dir} already exists (pass overwrite=True to replace it)")

    created = [p for p in [target_dir.parent, *target_dir.parent.parents] if not p.exists()]
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.", dir=target_dir.parent))
    staging.chmod(0o755)  # mkdtemp gives 0700: a server running as another user could not read it
    try:
        onnx_path = staging / ONNX_FILE
        onnx.save_model(onnx_model, onnx_path)
        for name, content in extra_files.items():
            (staging / name).write_bytes(content)
        card = ModelCard.model_validate(
            {
                **card_fields,
                "sha256": sha256_of(onnx_path),
                "opset": _opset(onnx_model),
                "inputs": _tensor_specs(onnx_model.graph.input),
                "outputs": _tensor_specs(onnx_model.graph.output),
                "op_types": op_types(onnx_model),
                "recurrent_ops": recurrent_op_types(onnx_model),
                "created_at": datetime.now(UTC),
            }
        )
        card.dump(staging)
        if ModelCard.load(staging) != card:
            raise ExportError("card.json does not read back to the same card")
        onnx.checker.check_model(str(onnx_path), full_check=True)
        create_session(onnx_path)
        assert_native_recurrence(onnx_model)
        _move_into_place(staging, target_dir, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for directory in created:  # innermost first; only the ones we made, and only if empty
            try:
                directory.rmdir()
            except OSError:
                break
        raise
    return card


def _move_into_place(staging: Path, target_dir: Path, *, overwrite: bool) -> None:
    if not target_dir.exists():
        os.rename(staging, target_dir)  # fails if someone created target_dir meanwhile
        return
    if not overwrite:
        raise ExportError(f"{target_dir} already exists (pass overwrite=True to replace it)")
    retired = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.old.", dir=target_dir.parent))
    os.rename(target_dir, retired / target_dir.name)
    try:
        os.rename(staging, target_dir)
    except BaseException:
        os.rename(retired / target_dir.name, target_dir)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


# --------------------------------------------------------------------------- tf2onnx probe
def tf2onnx_op_types(
    keras_model: Any, input_signature: Sequence[Any], *, opset: int = 15
) -> list[str]:
    """Export through tf2onnx into memory and list its op types (subgraphs included).

    Only used to record what tf2onnx would give (Loop vs native ops). Never raises: a failed
    export is reported as ["tf2onnx-failed: <error type>"] and logged.
    """
    try:
        import tensorflow as tf
        import tf2onnx

        traced = tf.function(lambda *x: keras_model(*x, training=False))
        proto, _ = tf2onnx.convert.from_function(
            traced, input_signature=list(input_signature), opset=opset
        )
        return op_types(proto)
    except Exception as error:  # a probe: report, never break the pipeline
        log.warning("tf2onnx export failed: %s: %s", type(error).__name__, error)
        return [f"tf2onnx-failed: {type(error).__name__}"]
