"""Several trained window forecasters as ONE Keras model: their average, optionally shrunk.

Members share the architecture ([strided Conv1D] + LSTM x2 + Dense) and differ in their seeds.
Side by side they are one wider network whose weights are block-diagonal: the Conv1D filters
and the recurrent units of member k only see member k's units, and the final Dense averages
the members' outputs. `shrink` scales that average (the output is a correction of the
window's seasonal base, so `shrink` < 1 pulls the forecast toward the base). The result is an
ordinary `keras.Sequential`, so the native ONNX export, the parity gate, the card and the
service are unchanged: the average is computed inside the exported graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from training.forecast import models

GATES = 4  # Keras LSTM kernels: input, forget, cell and output gate blocks, in that order


def _gate_blocks(parts: Sequence[np.ndarray], units: int) -> np.ndarray:
    """Member matrices [..., 4 * units] -> [..., 4 * K * units], gate by gate, member by member."""
    blocks = [part[..., g * units : (g + 1) * units] for g in range(GATES) for part in parts]
    return np.concatenate(blocks, axis=-1)


def _block_rows(parts: Sequence[np.ndarray], rows: int) -> list[np.ndarray]:
    """Place member k's rows at rows k*rows:(k+1)*rows of a zero matrix (one per member)."""
    placed = []
    for k, part in enumerate(parts):
        full = np.zeros((rows * len(parts), *part.shape[1:]), part.dtype)
        full[k * rows : (k + 1) * rows] = part
        placed.append(full)
    return placed


def _recurrent(
    layers: Sequence[keras.layers.Layer], units: int, shared_input: bool
) -> list[np.ndarray]:
    weights = [layer.get_weights() for layer in layers]
    kernels = [w[0] for w in weights]
    if not shared_input:
        kernels = _block_rows(kernels, kernels[0].shape[0])
    recurrent = _block_rows([w[1] for w in weights], units)
    return [
        _gate_blocks(kernels, units),
        _gate_blocks(recurrent, units),
        _gate_blocks([w[2] for w in weights], units),
    ]


def merge(
    members: Sequence[keras.Sequential], units: int, stride: int, shrink: float = 1.0
) -> keras.Sequential:
    """One model whose output is `shrink` x the mean of the members' outputs."""
    first = members[0]
    n_features = int(first.inputs[0].shape[-1])
    outputs = int(first.outputs[0].shape[-1])
    kind = type(first.layers[-2]).__name__.lower()
    if kind != "lstm":
        raise ValueError(f"ensembles are built for LSTM members, not {kind}")
    count = len(members)
    merged = models.window_forecaster(outputs, n_features, units * count, stride)
    layers = [list(m.layers) for m in members]
    position = 0
    if stride > 1:
        convs = [m[0].get_weights() for m in layers]
        merged.layers[0].set_weights(
            [np.concatenate([c[0] for c in convs], axis=2), np.concatenate([c[1] for c in convs])]
        )
        position = 1
    merged.layers[position].set_weights(
        _recurrent([m[position] for m in layers], units, shared_input=stride == 1)
    )
    merged.layers[position + 1].set_weights(
        _recurrent([m[position + 1] for m in layers], units, shared_input=False)
    )
    dense = [m[-1].get_weights() for m in layers]
    kernel = np.concatenate([d[0] for d in dense], axis=0) * (shrink / count)
    bias = np.mean([d[1] for d in dense], axis=0) * shrink
    merged.layers[-1].set_weights([kernel, bias])
    return merged
