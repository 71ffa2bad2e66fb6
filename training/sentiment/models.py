"""The sentiment models of the notes, as Keras Sequential models the native exporter accepts.

Every model starts with Embedding(mask_zero=True) (padding id 0 is masked) and ends with
Dense(1, sigmoid). `bigru_avg` is the served model: a bidirectional GRU whose outputs at the
real (unmasked) steps are averaged, so every word contributes, not only the last state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import keras

ModelKind = Literal["gru", "lstm", "bigru", "bilstm", "conv_gru", "bigru_avg"]

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
}


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
    else:
        raise ValueError(f"unknown model kind {config.kind!r}")
    if config.dropout > 0:
        layers.append(keras.layers.Dropout(config.dropout))
    layers.append(keras.layers.Dense(1, activation="sigmoid"))
    return keras.Sequential(layers, name=config.kind)
