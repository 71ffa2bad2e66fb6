"""The sentiment models of the notes, as Keras Sequential models the native exporter accepts.

Every model starts with Embedding(mask_zero=True) (padding id 0 is masked) and ends with
Dense(1, sigmoid). `bigru_avg` is the served model: a bidirectional GRU whose outputs at the
real (unmasked) steps are averaged, so every word contributes, not only the last state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import keras
import numpy as np

ModelKind = Literal["gru", "lstm", "bigru", "bilstm", "conv_gru", "bigru_avg", "bigru_meanmax"]

DESCRIPTIONS: dict[str, str] = {
    "gru": "Embedding(mask_zero) + GRU + Dense(sigmoid)",
    "lstm": "Embedding(mask_zero) + LSTM + Dense(sigmoid)",
    "bigru": "Embedding(mask_zero) + Bidirectional(GRU) + Dense(sigmoid)",
    "bilstm": "Embedding(mask_zero) + Bidirectional(LSTM) + Dense(sigmoid)",
    "conv_gru": "Embedding + Conv1D(k=3, stride 2, valid) + GRU + Dense(sigmoid)",
    "bigru_avg": (
        "Embedding(mask_zero) + Bidirectional(GRU, all steps) + masked GlobalAveragePooling1D "
        "+ Dropout + Dense(sigmoid)"
    ),
    "bigru_meanmax": (
        "Embedding(mask_zero) + Bidirectional(GRU, all steps) + masked mean and max pooling "
        "+ Dropout + Dense(sigmoid)"
    ),
}


@keras.saving.register_keras_serializable(package="rnn_serving")
class MaskedMeanMaxPooling1D(keras.layers.Layer):
    """[batch, time, f] -> [batch, 2f]: the mean and the max over each row's unmasked steps.

    Keras' GlobalMaxPooling1D ignores the mask (padding steps would join the max, so a
    review's score would depend on its batch-mates); this one does not. The native exporter
    translates it by name.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        ops = keras.ops
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        valid = ops.expand_dims(mask, -1)
        weights = ops.cast(valid, inputs.dtype)
        count = ops.maximum(ops.sum(weights, axis=1), 1.0)
        mean = ops.sum(inputs * weights, axis=1) / count
        lowest = ops.full_like(inputs, np.finfo(np.float32).min)
        largest = ops.max(ops.where(valid, inputs, lowest), axis=1)
        return ops.concatenate([mean, largest], axis=-1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        width = input_shape[-1]
        return (input_shape[0], None if width is None else 2 * width)


@dataclass(frozen=True)
class ModelConfig:
    kind: ModelKind
    num_words: int
    embedding_dim: int
    units: int
    dropout: float  # before the output layer
    embedding_dropout: float = 0.0  # SpatialDropout1D: drops whole embedding channels

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(config: ModelConfig) -> keras.Sequential:
    """An uncompiled, built model for `config`."""
    layers: list[keras.layers.Layer] = [
        keras.Input(shape=(None,), dtype="int64", name="tokens"),
        keras.layers.Embedding(config.num_words, config.embedding_dim, mask_zero=True),
    ]
    if config.embedding_dropout > 0:
        layers.append(keras.layers.SpatialDropout1D(config.embedding_dropout))
    units = config.units
    if config.kind == "gru":
        layers.append(keras.layers.GRU(units))
    elif config.kind == "lstm":
        layers.append(keras.layers.LSTM(units))
    elif config.kind == "bigru":
        layers.append(keras.layers.Bidirectional(keras.layers.GRU(units)))
    elif config.kind == "bilstm":
        layers.append(keras.layers.Bidirectional(keras.layers.LSTM(units)))
    elif config.kind == "conv_gru":
        # Keras Conv1D drops the padding mask, so the GRU after it also reads padding steps.
        layers += [
            keras.layers.Conv1D(units, kernel_size=3, strides=2, activation="relu"),
            keras.layers.GRU(units),
        ]
    elif config.kind == "bigru_avg":
        layers += [
            keras.layers.Bidirectional(keras.layers.GRU(units, return_sequences=True)),
            keras.layers.GlobalAveragePooling1D(),
        ]
    elif config.kind == "bigru_meanmax":
        layers += [
            keras.layers.Bidirectional(keras.layers.GRU(units, return_sequences=True)),
            MaskedMeanMaxPooling1D(),
        ]
    else:
        raise ValueError(f"unknown model kind {config.kind!r}")
    if config.dropout > 0:
        layers.append(keras.layers.Dropout(config.dropout))
    layers.append(keras.layers.Dense(1, activation="sigmoid"))
    return keras.Sequential(layers, name=config.kind)
