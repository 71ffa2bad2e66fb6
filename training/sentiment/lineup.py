"""Train and score the notes' models side by side (cheap settings), then write the table."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contract.card import ModelCard
from training.sentiment.pipeline import DataOptions, TokenizerOptions, prepare

Log = Callable[[str], None]
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"


@dataclass(frozen=True)
class LineupOptions:
    data: DataOptions
    tokens: TokenizerOptions
    kinds: Sequence[str]
    embedding_dim: int
    units: int
    epochs: int
    batch_size: int
    learning_rate: float
    threads: int
    parity_reviews: int
    results_dir: Path
    served_model: Path  # its card is added to the table when it exists
    command: str


@dataclass(frozen=True)
class LineupRow:
    kind: str
    layers: str
    parameters: int
    epochs: int
    best_epoch: int
    train_s: float  # wall time (the machine may be shared)
    cpu_s: float  # CPU time of the training process during fit
    test_accuracy: float
    test_f1: float
    onnx_bytes: int | None
    recurrent_ops: list[str]
    onnx_parity: str  # "ok (max diff ...)" or why the graph is not exact


def run_lineup(options: LineupOptions, log: Log) -> list[LineupRow]:
    prepared = prepare(options.data, options.tokens, log)  # bad input fails here, before TF
    from training.sentiment.train import limit_threads

    limit_threads(options.threads)
    rows = []
    for kind in options.kinds:
        rows.append(_train_one(kind, options, prepared, log))
        log(f"{kind}: test accuracy {rows[-1].test_accuracy:.4f} in {rows[-1].train_s:.0f} s")
    write_results(options, rows, prepared.data_info)
    return rows


def _train_one(kind: str, options: LineupOptions, prepared: Any, log: Log) -> LineupRow:
    from training.export import ExportError, recurrent_op_types
    from training.onnx_native import UnsupportedLayerError
    from training.sentiment import artifact
    from training.sentiment.models import DESCRIPTIONS, ModelConfig, build_model
    from training.sentiment.train import FitSettings, binary_metrics, fit, predict

    config = ModelConfig(
        kind=kind,  # type: ignore[arg-type]
        num_words=options.tokens.num_words,
        embedding_dim=options.embedding_dim,
        units=options.units,
        dropout=0.0,
    )
    model = build_model(config)
    log(f"{kind}: {DESCRIPTIONS[kind]} ({model.count_params()} parameters)")
    settings = FitSettings(
        epochs=options.epochs,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        patience=options.epochs,
        time_budget_s=float("inf"),
        seed=options.data.seed,
    )
    result = fit(model, prepared.train, prepared.validation, settings, log)
    scores = binary_metrics(prepared.test.labels, predict(model, prepared.test), 0.5)
    onnx_bytes: int | None = None
    recurrent: list[str] = []
    try:
        onnx_model = artifact.to_onnx(model)
        onnx_bytes = len(onnx_model.SerializeToString())
        recurrent = recurrent_op_types(onnx_model)
        parity = artifact.check_parity(
            model, onnx_model, prepared.test, reviews=options.parity_reviews, threshold=0.5
        )
        verdict = f"ok on {parity.cases} reviews (max diff {parity.max_abs_diff:.1e})"
    except (ExportError, UnsupportedLayerError) as error:
        verdict = f"not exact: {error}"
    return LineupRow(
        kind=kind,
        layers=DESCRIPTIONS[kind],
        parameters=int(model.count_params()),
        epochs=result.epochs_run,
        best_epoch=result.best_epoch,
        train_s=round(result.duration_s, 1),
        cpu_s=round(result.cpu_s, 1),
        test_accuracy=round(scores["accuracy"], 5),
        test_f1=round(scores["f1"], 5),
        onnx_bytes=onnx_bytes,
        recurrent_ops=recurrent,
        onnx_parity=verdict,
    )


def _served_row(model_dir: Path) -> dict[str, Any] | None:
    if not (model_dir / "card.json").exists():
        return None
    card = ModelCard.load(model_dir)
    return {
        "path": str(model_dir),
        "description": card.description,
        "test_accuracy": card.metrics.get("test_accuracy"),
        "test_f1": card.metrics.get("test_f1"),
        "train_s": card.training.get("duration_s"),
        "cpu_s": card.training.get("cpu_s"),
        "epochs": card.training.get("epochs"),
        "best_epoch": card.training.get("best_epoch"),
        "validation_accuracy": card.metrics.get("validation_accuracy"),
        "embedding_init": card.training.get("embedding_init", {}).get("method", "random"),
        "total_s": card.training.get("total_duration_s"),
        "threads": card.training.get("threads"),
        "onnx_bytes": (model_dir / card.onnx_file).stat().st_size,
        "recurrent_ops": card.recurrent_ops,
        "parity_max_abs_diff": card.parity.max_abs_diff,
        "parity_cases": card.parity.cases,
    }


def write_results(options: LineupOptions, rows: list[LineupRow], data_info: dict[str, Any]) -> None:
    settings = {
        "num_words": options.tokens.num_words,
        "max_length": options.tokens.max_length,
        "truncation": options.tokens.truncation,
        "embedding_dim": options.embedding_dim,
        "units": options.units,
        "epochs": options.epochs,
        "batch_size": options.batch_size,
        "learning_rate": options.learning_rate,
        "threads": options.threads,
        "parity_reviews": options.parity_reviews,
        "command": options.command,
    }
    report = {
        "settings": settings,
        "data": data_info,
        "rows": [asdict(row) for row in rows],
        "served_model": _served_row(options.served_model),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _save(options.results_dir, report)


def refresh_served_model(results_dir: Path, served_model: Path) -> None:
    """Rewrite the table with the served model's current card (no training)."""
    path = results_dir / RESULTS_JSON
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the comparison first")
    report = json.loads(path.read_text("utf-8"))
    report["served_model"] = _served_row(served_model)
    _save(results_dir, report)


def _save(results_dir: Path, report: dict[str, Any]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / RESULTS_JSON).write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    (results_dir / RESULTS_MD).write_text(_markdown(report), "utf-8")


def _cpu(row: dict[str, Any]) -> str:
    return "-" if row.get("cpu_s") is None else f"{row['cpu_s']:.0f} s"


def _kib(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:.0f} KiB"


def _markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    split = report["data"]["split"]
    lines = [
        "# Sentiment models of the notes on IMDB",
        "",
        f"Data: {split['train']}/{split['validation']}/{split['test']} reviews "
        f"(train/validation/test, deduplicated, stratified, seed {split['seed']}). "
        "Accuracy and F1 (positive class) on the test split, threshold 0.5.",
        "",
        f"Comparison settings (kept cheap: CPU only, {s['threads']} thread(s)): "
        f"{s['num_words']} words, last {s['max_length']} tokens ({s['truncation']}-truncation), "
        f"embedding {s['embedding_dim']}, {s['units']} units, at most {s['epochs']} epochs "
        f"(best validation epoch kept), batch {s['batch_size']}, Adam {s['learning_rate']}. "
        f"Size = ONNX graph from the native exporter; parity = Keras vs onnxruntime on "
        f"{s['parity_reviews']} test reviews, right-padded batches + padding invariance.",
        "",
        "| model | layers | params | epochs (best) | train time: wall (CPU) | test acc | test F1 "
        "| ONNX size | ONNX recurrence | ONNX parity |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['kind']} | {row['layers']} | {row['parameters']:,} | "
            f"{row['epochs']} ({row['best_epoch']}) | {row['train_s']:.0f} s ({_cpu(row)}) | "
            f"{row['test_accuracy']:.4f} | {row['test_f1']:.4f} | {_kib(row['onnx_bytes'])} | "
            f"{', '.join(row['recurrent_ops']) or '-'} | {row['onnx_parity']} |"
        )
    lines += [
        "",
        "Wall times come from a 2-core machine shared with other jobs; CPU time is the training "
        "process's own (on an idle machine, with 1 thread, wall time is about the CPU time).",
    ]
    served = report["served_model"]
    if served:
        lines += [
            "",
            f"## Served model (`{served['path']}`)",
            "",
            f"{served['description']}.",
            "",
            f"Test accuracy **{served['test_accuracy']:.4f}**, F1 {served['test_f1']:.4f} "
            f"(onnxruntime on the exported graph; validation accuracy "
            f"{served['validation_accuracy']:.4f}, which chose the epoch); embedding start: "
            f"{served['embedding_init']}; trained {served['epochs']} epochs (best "
            f"{served['best_epoch']}) in {served['train_s']:.0f} s wall ({_cpu(served)} CPU), "
            f"{served['total_s']:.0f} s for the whole command, on {served['threads']} "
            f"thread(s) of a machine shared with other jobs; ONNX "
            f"{_kib(served['onnx_bytes'])}, recurrence {', '.join(served['recurrent_ops'])}; "
            f"parity max diff {served['parity_max_abs_diff']:.1e} on "
            f"{served['parity_cases']} test reviews. Full settings in its `card.json`.",
        ]
    lines += ["", f"Command: `{s['command']}`", ""]
    return "\n".join(lines)
