"""Keras Sequential -> ONNX graph with native recurrent ops (RNN / GRU / LSTM + `sequence_lens`).

tf2onnx turns Keras 3 GRU/SimpleRNN and every masked RNN into an ONNX `Loop` (about 25x slower)
and cannot take per-sequence lengths. This module writes the graph itself from the Keras weights.

Every graph takes right-padded batches plus the true `lengths` and answers for each row exactly as
Keras answers for that row alone: recurrent ops get `sequence_lens`, causal/valid convolutions
update the lengths, pooling is masked, and sequence-to-sequence forecasters return the prediction
made at each row's last valid step.

Graph contract (README.md):
- forecast: `series` float32 [batch, time, features], `lengths` int32 [batch]
  -> `forecast` float32 [batch, horizon, targets]
- sentiment: `tokens` int64 [batch, time] (0 = padding), `lengths` int32 [batch]
  -> `probability` float32 [batch]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import keras
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EXPORTER = "native-onnx-builder"  # for ModelCard.exporter
OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17
BATCH_AXIS = "batch"
TIME_AXIS = "time"

Task = Literal["forecast", "sentiment"]
Layout = Literal["btf", "tbf", "bft"]  # axis order of a 3-D tensor: batch, time, features

# Keras activation name -> ONNX op (element-wise) / ONNX recurrent activation name.
_ACTIVATION_OPS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}
# Elements of a row that must never win a masked max (float32 lowest).
_FLOAT32_LOWEST = float(np.finfo(np.float32).min)


_HINTS = {
    "TimeDistributed": " (use a plain Dense on the 3-D tensor: it is the same computation)",
    "Flatten": " (it needs a fixed sequence length; served graphs take any length)",
    "Reshape": " (it needs a fixed sequence length; served graphs take any length)",
    "Masking": " (graphs take the true lengths instead; right-pad and pass `lengths`)",
}


class UnsupportedLayerError(ValueError):
    """The model holds a layer (or layer setting) that this converter cannot translate exactly."""


@dataclass(frozen=True)
class _Tensor:
    name: str
    rank: int  # 2 ([batch, features]) or 3
    width: int  # size of the feature axis
    layout: Layout = "btf"  # meaningful for rank 3 only


class _GraphBuilder:
    """Collects nodes and initializers, and hands out unique tensor names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._used: set[str] = set()
        self._small_constants: dict[tuple[str, tuple[int, ...], bytes], str] = {}

    def fresh(self, hint: str) -> str:
        base = hint.replace("/", "_")
        name, i = base, 1
        while name in self._used:
            name, i = f"{base}_{i}", i + 1
        self._used.add(name)
        return name

    def reserve(self, name: str) -> str:
        if name in self._used:
            raise ValueError(f"tensor name {name!r} already used")
        self._used.add(name)
        return name

    def const(
        self, value: np.ndarray | np.generic | Sequence[Any], hint: str, dtype: Any = None
    ) -> str:
        array = np.asarray(value, dtype=dtype)
        # Share small integer constants (shapes, axes) and scalars; never weights.
        shared = array.ndim == 0 or (array.dtype.kind in "iu" and array.size <= 4)
        key = (array.dtype.str, array.shape, array.tobytes())
        if shared and key in self._small_constants:
            return self._small_constants[key]
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        if shared:
            self._small_constants[key] = name
        return name

    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        hint: str,
        *,
        outputs: Sequence[str] | None = None,
        **attrs: Any,
    ) -> str:
        """Add one node; return the name of its first output."""
        out = list(outputs) if outputs is not None else [self.fresh(f"{hint}_{op_type}")]
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), out, name=self.fresh(f"{hint}/{op_type}"), **attrs
            )
        )
        return out[0]

    def transpose(self, tensor: _Tensor, layout: Layout, hint: str) -> _Tensor:
        if tensor.rank != 3 or tensor.layout == layout:
            return tensor
        perm = [tensor.layout.index(axis) for axis in layout]
        name = self.op("Transpose", [tensor.name], hint, perm=perm)
        return _Tensor(name, 3, tensor.width, layout)


def _numpy(variable: Any) -> np.ndarray:
    return np.asarray(variable.numpy(), dtype=np.float32)


def _activation_name(layer: keras.layers.Layer, attribute: str = "activation") -> str:
    function = getattr(layer, attribute)
    name = getattr(function, "__name__", None)
    if name is None:
        name = str(keras.activations.serialize(function))
    return str(name)


def _checked_activation(layer: keras.layers.Layer, attribute: str, allowed: set[str]) -> str:
    name = _activation_name(layer, attribute)
    if name not in allowed:
        raise UnsupportedLayerError(
            f"layer {layer.name!r} ({type(layer).__name__}): {attribute}={name!r} is not supported "
            f"(supported: {sorted(allowed)})"
        )
    return name


class _Converter:
    def __init__(self, task: Task, builder: _GraphBuilder, lengths: str) -> None:
        self.task = task
        self.g = builder
        self.lengths = lengths  # int32 [batch]: valid steps of every row at the current layer

    # ----------------------------------------------------------------- dispatch
    def convert(self, layer: keras.layers.Layer, x: _Tensor) -> _Tensor:
        kind = type(layer).__name__
        handler = {
            "InputLayer": lambda: x,
            "Dropout": lambda: x,
            "SpatialDropout1D": lambda: x,
            "GaussianNoise": lambda: x,
            "GaussianDropout": lambda: x,
            "AlphaDropout": lambda: x,
            "Dense": lambda: self.dense(layer, x),
            "Activation": lambda: self.activation(layer, x),
            "Conv1D": lambda: self.conv1d(layer, x),
            "SimpleRNN": lambda: self.recurrent(layer, x),
            "GRU": lambda: self.recurrent(layer, x),
            "LSTM": lambda: self.recurrent(layer, x),
            "Bidirectional": lambda: self.recurrent(layer, x),
            "GlobalAveragePooling1D": lambda: self.global_pool(layer, x, "avg"),
            "GlobalMaxPooling1D": lambda: self.global_pool(layer, x, "max"),
            "MaskedMeanMaxPooling1D": lambda: self.mean_max_pool(layer, x),
        }.get(kind)
        if handler is None:
            raise UnsupportedLayerError(
                f"layer {layer.name!r} of type {kind} is not supported by the native ONNX converter"
                + _HINTS.get(kind, "")
            )
        if self.task == "sentiment" and x.rank == 3 and not layer.supports_masking:
            raise UnsupportedLayerError(
                f"layer {layer.name!r}: Keras {kind} drops the padding mask, so the Keras model's "
                "answer depends on padding and no exact padded-batch graph exists"
            )
        return handler()

    # ------------------------------------------------------------ element-wise
    def apply_activation(self, name: str, x: _Tensor, hint: str) -> _Tensor:
        if name == "linear":
            return x
        out = self.g.op(_ACTIVATION_OPS[name], [x.name], hint)
        return _Tensor(out, x.rank, x.width, x.layout)

    def activation(self, layer: keras.layers.Layer, x: _Tensor) -> _Tensor:
        name = _checked_activation(layer, "activation", {"linear", *_ACTIVATION_OPS})
        return self.apply_activation(name, x, layer.name)

    def dense(self, layer: keras.layers.Layer, x: _Tensor) -> _Tensor:
        activation = _checked_activation(layer, "activation", {"linear", *_ACTIVATION_OPS})
        if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
            raise UnsupportedLayerError(f"layer {layer.name!r}: LoRA/quantized Dense not supported")
        if x.layout == "bft":  # MatMul needs the features last
            x = self.g.transpose(x, "btf", layer.name)
        kernel = _numpy(layer.kernel)
        if kernel.shape[0] != x.width:
            raise UnsupportedLayerError(
                f"layer {layer.name!r}: kernel expects {kernel.shape[0]} inputs, got {x.width}"
            )
        out = self.g.op(
            "MatMul", [x.name, self.g.const(kernel, f"{layer.name}_kernel")], layer.name
        )
        if layer.use_bias:
            bias = self.g.const(_numpy(layer.bias), f"{layer.name}_bias")
            out = self.g.op("Add", [out, bias], layer.name)
        y = _Tensor(out, x.rank, int(kernel.shape[1]), x.layout)
        return self.apply_activation(activation, y, layer.name)

    # -------------------------------------------------------------- embedding
    def embedding(self, layer: keras.layers.Layer, tokens: str) -> _Tensor:
        if type(layer).__name__ != "Embedding":
            raise UnsupportedLayerError(
                f"a sentiment model must start with Embedding, got {type(layer).__name__} "
                f"({layer.name!r})"
            )
        if not layer.mask_zero:
            raise UnsupportedLayerError(
                f"layer {layer.name!r}: sentiment graphs take right-padded batches, so the Keras "
                "model must mask padding (Embedding(mask_zero=True))"
            )
        if getattr(layer, "quantization_mode", None) or getattr(layer, "lora_enabled", False):
            raise UnsupportedLayerError(f"layer {layer.name!r}: quantized/LoRA Embedding")
        table = _numpy(layer.embeddings)
        # Transposing the int tokens (not the floats) gives the time-major layout for free.
        time_major = self.g.op("Transpose", [tokens], layer.name, perm=[1, 0])
        out = self.g.op(
            "Gather", [self.g.const(table, f"{layer.name}_table"), time_major], layer.name
        )
        return _Tensor(out, 3, int(table.shape[1]), "tbf")

    # ------------------------------------------------------------ convolution
    def conv1d(self, layer: keras.layers.Layer, x: _Tensor) -> _Tensor:
        name = layer.name
        if x.rank != 3:
            raise UnsupportedLayerError(f"layer {name!r}: Conv1D needs a 3-D input")
        if layer.data_format != "channels_last":
            raise UnsupportedLayerError(f"layer {name!r}: only data_format='channels_last'")
        kernel = _numpy(layer.kernel)  # [k, in / groups, out]
        size = int(kernel.shape[0])
        (stride,) = (int(s) for s in layer.strides)
        (dilation,) = (int(d) for d in layer.dilation_rate)
        padding = layer.padding
        if padding == "same" and size == 1:
            padding = "valid"  # identical for a 1-wide kernel
        if padding not in ("valid", "causal"):
            raise UnsupportedLayerError(
                f"layer {name!r}: Conv1D padding={padding!r} reads the right padding of shorter "
                "rows; only 'valid' and 'causal' are exact on right-padded batches"
            )
        activation = _checked_activation(layer, "activation", {"linear", *_ACTIVATION_OPS})
        span = dilation * (size - 1)
        channels_first = self.g.transpose(x, "bft", name)
        inputs = [channels_first.name, self.g.const(kernel.transpose(2, 1, 0), f"{name}_kernel")]
        if layer.use_bias:
            inputs.append(self.g.const(_numpy(layer.bias), f"{name}_bias"))
        out = self.g.op(
            "Conv",
            inputs,
            name,
            kernel_shape=[size],
            strides=[stride],
            dilations=[dilation],
            pads=[span if padding == "causal" else 0, 0],
            group=int(layer.groups),
        )
        self.lengths = self._conv_lengths(span if padding == "valid" else 0, stride, name)
        y = _Tensor(out, 3, int(kernel.shape[2]), "bft")
        return self.apply_activation(activation, y, name)

    def _conv_lengths(self, span: int, stride: int, hint: str) -> str:
        """Valid output steps: floor((L - span - 1) / stride) + 1, at least 1.

        `span` is dilation * (kernel - 1) for 'valid' and 0 for 'causal' (which pads on the left).
        Rows shorter than the receptive field have no valid output in Keras; they are clamped
        to 1 step (the card's `min_length` keeps such rows out).
        """
        if span == 0 and stride == 1:
            return self.lengths
        lengths = self.lengths
        if span:
            lengths = self.g.op("Sub", [lengths, self.g.const(np.int32(span), "span")], hint)
        if stride > 1:
            minus_one = self.g.op("Sub", [lengths, self.g.const(np.int32(1), "one")], hint)
            clamped = self.g.op("Max", [minus_one, self.g.const(np.int32(0), "zero")], hint)
            divided = self.g.op("Div", [clamped, self.g.const(np.int32(stride), "stride")], hint)
            lengths = self.g.op("Add", [divided, self.g.const(np.int32(1), "one")], hint)
        return self.g.op("Max", [lengths, self.g.const(np.int32(1), "one")], f"{hint}_lengths")

    # -------------------------------------------------------------- recurrent
    def recurrent(self, layer: keras.layers.Layer, x: _Tensor) -> _Tensor:
        if x.rank != 3:
            raise UnsupportedLayerError(f"layer {layer.name!r}: recurrent layers need 3-D input")
        if type(layer).__name__ == "Bidirectional":
            if layer.merge_mode != "concat":
                raise UnsupportedLayerError(
                    f"layer {layer.name!r}: Bidirectional merge_mode={layer.merge_mode!r} "
                    "(only 'concat')"
                )
            forward, backward = layer.forward_layer, layer.backward_layer
            _check_rnn(forward, go_backwards=False)
            _check_rnn(backward, go_backwards=True)
            if type(forward) is not type(backward) or forward.units != backward.units:
                raise UnsupportedLayerError(
                    f"layer {layer.name!r}: forward and backward layers differ in type or units"
                )
            if _rnn_signature(forward) != _rnn_signature(backward):
                raise UnsupportedLayerError(
                    f"layer {layer.name!r}: forward and backward layers have different settings"
                )
            cells = [forward, backward]
        else:
            _check_rnn(layer, go_backwards=False)
            cells = [layer]
        core = cells[0]
        kind = type(core).__name__
        units = int(core.units)
        weights = [_onnx_rnn_weights(cell, x.width) for cell in cells]
        w = self.g.const(np.stack([wt[0] for wt in weights]), f"{layer.name}_W")
        r = self.g.const(np.stack([wt[1] for wt in weights]), f"{layer.name}_R")
        b = self.g.const(np.stack([wt[2] for wt in weights]), f"{layer.name}_B")
        activations = _onnx_rnn_activations(core) * len(cells)
        attrs: dict[str, Any] = {
            "hidden_size": units,
            "direction": "bidirectional" if len(cells) == 2 else "forward",
            "activations": activations,
        }
        if kind == "GRU":
            attrs["linear_before_reset"] = 1 if core.cell.reset_after else 0
        op_type = {"SimpleRNN": "RNN", "GRU": "GRU", "LSTM": "LSTM"}[kind]
        time_major = self.g.transpose(x, "tbf", layer.name)
        sequences = bool(core.return_sequences)
        y = self.g.fresh(f"{layer.name}_Y") if sequences else ""
        y_h = "" if sequences else self.g.fresh(f"{layer.name}_Y_h")
        self.g.op(
            op_type,
            [time_major.name, w, r, b, self.lengths],
            layer.name,
            outputs=[y, y_h],
            **attrs,
        )
        width = units * len(cells)
        if sequences:  # Y: [time, directions, batch, units]
            if len(cells) == 1:
                axes = self.g.const(np.array([1], np.int64), "axes")
                out = self.g.op("Squeeze", [y, axes], layer.name)
            else:
                swapped = self.g.op("Transpose", [y], layer.name, perm=[0, 2, 1, 3])
                shape = self.g.const(np.array([0, 0, -1], np.int64), "shape")
                out = self.g.op("Reshape", [swapped, shape], layer.name)
            return _Tensor(out, 3, width, "tbf")
        # Y_h: [directions, batch, units]; Keras concatenates [forward, backward].
        if len(cells) == 1:
            axes = self.g.const(np.array([0], np.int64), "axes")
            out = self.g.op("Squeeze", [y_h, axes], layer.name)
        else:
            swapped = self.g.op("Transpose", [y_h], layer.name, perm=[1, 0, 2])
            shape = self.g.const(np.array([0, -1], np.int64), "shape")
            out = self.g.op("Reshape", [swapped, shape], layer.name)
        return _Tensor(out, 2, width)

    # ---------------------------------------------------------------- pooling
    def step_mask(self, x: _Tensor, hint: str) -> str:
        """Float mask shaped like `x` but with a feature axis of 1: 1 at valid steps, else 0."""
        time_axis = x.layout.index("t")
        shape = self.g.op("Shape", [x.name], hint)
        steps = self.g.op(
            "Gather", [shape, self.g.const(np.int64(time_axis), "time_axis")], hint, axis=0
        )
        steps32 = self.g.op("Cast", [steps], hint, to=TensorProto.INT32)
        positions = self.g.op(
            "Range",
            [self.g.const(np.int32(0), "zero"), steps32, self.g.const(np.int32(1), "one")],
            hint,
        )
        # positions along the time axis, lengths along the batch axis, compared by broadcasting
        position_axes = [1] if x.layout == "tbf" else [0]
        length_axes = [0] if x.layout == "tbf" else [1]
        p = self.g.op(
            "Unsqueeze", [positions, self.g.const(np.array(position_axes, np.int64), "axes")], hint
        )
        n = self.g.op(
            "Unsqueeze", [self.lengths, self.g.const(np.array(length_axes, np.int64), "axes")], hint
        )
        valid = self.g.op("Less", [p, n], hint)
        mask = self.g.op("Cast", [valid], hint, to=TensorProto.FLOAT)
        return self.g.op("Unsqueeze", [mask, self.g.const(np.array([2], np.int64), "axes")], hint)

    def global_pool(self, layer: keras.layers.Layer, x: _Tensor, kind: str) -> _Tensor:
        if x.rank != 3:
            raise UnsupportedLayerError(f"layer {layer.name!r}: pooling needs a 3-D input")
        if layer.data_format != "channels_last" or layer.keepdims:
            raise UnsupportedLayerError(f"layer {layer.name!r}: only channels_last, keepdims=False")
        return self.masked_pool(x, kind, layer.name)

    def mean_max_pool(self, layer: keras.layers.Layer, x: _Tensor) -> _Tensor:
        """training.sentiment.models.MaskedMeanMaxPooling1D: [mean, max] of the valid steps."""
        if x.rank != 3:
            raise UnsupportedLayerError(f"layer {layer.name!r}: pooling needs a 3-D input")
        mean = self.masked_pool(x, "avg", layer.name)
        largest = self.masked_pool(x, "max", layer.name)
        out = self.g.op("Concat", [mean.name, largest.name], layer.name, axis=1)
        return _Tensor(out, 2, 2 * x.width)

    def masked_pool(self, x: _Tensor, kind: str, name: str) -> _Tensor:
        """[batch, time, f] -> [batch, f]: mean or max over each row's valid steps."""
        if x.layout == "bft":
            x = self.g.transpose(x, "btf", name)
        mask = self.step_mask(x, name)
        time_axis = np.array([x.layout.index("t")], np.int64)
        if kind == "avg":
            masked = self.g.op("Mul", [x.name, mask], name)
            total = self.g.op(
                "ReduceSum", [masked, self.g.const(time_axis, "axes")], name, keepdims=0
            )
            count = self.g.op("Cast", [self.lengths], name, to=TensorProto.FLOAT)
            count = self.g.op(
                "Unsqueeze", [count, self.g.const(np.array([1], np.int64), "axes")], name
            )
            out = self.g.op("Div", [total, count], name)
        else:
            valid = self.g.op("Cast", [mask], name, to=TensorProto.BOOL)
            lowest = self.g.const(np.float32(_FLOAT32_LOWEST), "lowest")
            masked = self.g.op("Where", [valid, x.name, lowest], name)
            out = self.g.op("ReduceMax", [masked], name, axes=[int(time_axis[0])], keepdims=0)
        return _Tensor(out, 2, x.width)

    def last_valid_step(self, x: _Tensor, hint: str) -> _Tensor:
        """[batch, time, f] -> [batch, f]: each row's output at its step lengths - 1."""
        x = self.g.transpose(x, "btf", hint)
        last = self.g.op("Sub", [self.lengths, self.g.const(np.int32(1), "one")], hint)
        last64 = self.g.op("Cast", [last], hint, to=TensorProto.INT64)
        index = self.g.op(
            "Unsqueeze", [last64, self.g.const(np.array([1], np.int64), "axes")], hint
        )
        out = self.g.op("GatherND", [x.name, index], hint, batch_dims=1)
        return _Tensor(out, 2, x.width)


_RNN_KINDS = ("SimpleRNN", "GRU", "LSTM")


def _rnn_signature(layer: keras.layers.Layer) -> tuple[Any, ...]:
    return (
        type(layer).__name__,
        layer.units,
        layer.return_sequences,
        _activation_name(layer.cell),
        _activation_name(layer.cell, "recurrent_activation")
        if hasattr(layer.cell, "recurrent_activation")
        else None,
        getattr(layer.cell, "reset_after", None),
    )


def _check_rnn(layer: keras.layers.Layer, *, go_backwards: bool) -> None:
    kind = type(layer).__name__
    if kind not in _RNN_KINDS:
        raise UnsupportedLayerError(
            f"layer {layer.name!r} of type {kind} is not a supported recurrent layer "
            f"(supported: {', '.join(_RNN_KINDS)})"
        )
    if bool(layer.go_backwards) != go_backwards:
        raise UnsupportedLayerError(
            f"layer {layer.name!r}: go_backwards={layer.go_backwards} outside Bidirectional"
        )
    for flag in ("stateful", "return_state"):
        if getattr(layer, flag, False):
            raise UnsupportedLayerError(f"layer {layer.name!r}: {flag}=True is not supported")
    allowed = set(_ACTIVATION_OPS)
    _checked_activation(layer.cell, "activation", allowed)
    if hasattr(layer.cell, "recurrent_activation"):
        _checked_activation(layer.cell, "recurrent_activation", allowed)


def _onnx_rnn_activations(layer: keras.layers.Layer) -> list[str]:
    act = _ACTIVATION_OPS[_activation_name(layer.cell)]
    kind = type(layer).__name__
    if kind == "SimpleRNN":
        return [act]
    rec = _ACTIVATION_OPS[_activation_name(layer.cell, "recurrent_activation")]
    if kind == "GRU":
        return [rec, act]  # f (gates), g (candidate)
    return [rec, act, act]  # f (gates), g (cell input), h (cell output)


def _reorder_gates(matrix: np.ndarray, units: int, order: Sequence[int]) -> np.ndarray:
    """Reorder gate blocks along the last axis (Keras gate k is the columns k*units..)."""
    blocks = [matrix[..., k * units : (k + 1) * units] for k in range(matrix.shape[-1] // units)]
    return np.concatenate([blocks[k] for k in order], axis=-1)


def _onnx_rnn_weights(layer: keras.layers.Layer, input_width: int) -> tuple[np.ndarray, ...]:
    """(W [gates*units, in], R [gates*units, units], B [2*gates*units]) for one direction."""
    cell = layer.cell
    kind = type(layer).__name__
    units = int(layer.units)
    kernel = _numpy(cell.kernel)  # [in, gates*units]
    recurrent = _numpy(cell.recurrent_kernel)  # [units, gates*units]
    if kernel.shape[0] != input_width:
        raise UnsupportedLayerError(
            f"layer {layer.name!r}: kernel expects {kernel.shape[0]} inputs, got {input_width}"
        )
    gates = kernel.shape[1] // units
    input_bias = np.zeros(gates * units, np.float32)
    recurrent_bias = np.zeros(gates * units, np.float32)
    if cell.use_bias:
        bias = _numpy(cell.bias)
        if kind == "GRU" and cell.reset_after:  # [2, 3*units]: input bias, recurrent bias
            input_bias, recurrent_bias = bias[0], bias[1]
        else:  # one bias: it all goes into Wb
            input_bias = bias
    if kind == "LSTM":  # Keras [i, f, c, o] -> ONNX [i, o, f, c]
        order = (0, 3, 1, 2)
        kernel, recurrent = (
            _reorder_gates(kernel, units, order),
            _reorder_gates(recurrent, units, order),
        )
        input_bias = _reorder_gates(input_bias, units, order)
        recurrent_bias = _reorder_gates(recurrent_bias, units, order)
    # GRU: Keras [z, r, h] is ONNX's order too. SimpleRNN: one gate.
    return (
        np.ascontiguousarray(kernel.T),
        np.ascontiguousarray(recurrent.T),
        np.concatenate([input_bias, recurrent_bias]).astype(np.float32),
    )


def _per_step_tail_start(layers: Sequence[keras.layers.Layer]) -> int:
    """Index of the first layer of the trailing run of per-step layers (Dense, Dropout, ...)."""
    per_step = {
        "Dense",
        "Dropout",
        "Activation",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
    }
    start = len(layers)
    while start > 0 and type(layers[start - 1]).__name__ in per_step:
        start -= 1
    return start


def _model_layers(model: keras.Model) -> list[keras.layers.Layer]:
    if not isinstance(model, keras.Sequential):
        raise UnsupportedLayerError(
            f"only keras.Sequential models are supported, got {type(model).__name__}"
        )
    if not model.built:
        raise UnsupportedLayerError("the model is not built: give it an Input or call it once")
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def keras_to_onnx(
    model: keras.Model,
    task: Task,
    *,
    horizon: int | None = None,
    n_targets: int = 1,
    graph_name: str = "model",
) -> onnx.ModelProto:
    """Translate a Keras Sequential model into an ONNX graph with native recurrent ops.

    forecast: the Keras output is [batch, horizon * n_targets] (sequence-to-vector) or
    [batch, time, horizon * n_targets] (sequence-to-sequence; the graph returns the prediction
    made at each row's last valid step), units in row-major (horizon, targets) order.
    `horizon` defaults to output units // n_targets.
    sentiment: Embedding(mask_zero=True) first, Dense(1, sigmoid) last.
    Raises UnsupportedLayerError for anything it cannot convert exactly.
    """
    if task not in ("forecast", "sentiment"):
        raise ValueError(f"unknown task {task!r}")
    layers = _model_layers(model)
    if not layers:
        raise UnsupportedLayerError("the model has no layers")
    g = _GraphBuilder()
    lengths = g.reserve("lengths")
    lengths_info = helper.make_tensor_value_info("lengths", TensorProto.INT32, [BATCH_AXIS])

    if task == "forecast":
        n_features = int(model.input_shape[-1])
        if len(model.input_shape) != 3:
            raise UnsupportedLayerError(
                f"a forecast model takes [batch, time, features], got input {model.input_shape}"
            )
        g.reserve("series")
        main_input = helper.make_tensor_value_info(
            "series", TensorProto.FLOAT, [BATCH_AXIS, TIME_AXIS, n_features]
        )
        converter = _Converter(task, g, lengths)
        x = _Tensor("series", 3, n_features, "btf")
    else:
        if len(model.input_shape) != 2:
            raise UnsupportedLayerError(
                f"a sentiment model takes [batch, time] token ids, got input {model.input_shape}"
            )
        g.reserve("tokens")
        main_input = helper.make_tensor_value_info(
            "tokens", TensorProto.INT64, [BATCH_AXIS, TIME_AXIS]
        )
        converter = _Converter(task, g, lengths)
        x = converter.embedding(layers[0], "tokens")
        layers = layers[1:]

    tail = _per_step_tail_start(layers)
    for index, layer in enumerate(layers):
        if index == tail and x.rank == 3 and task == "forecast":
            # Per-step layers commute with picking the last valid step: pick first, compute less.
            x = converter.last_valid_step(x, "last_step")
        x = converter.convert(layer, x)
    if x.rank == 3 and task == "forecast":
        x = converter.last_valid_step(x, "last_step")
    if x.rank != 2:
        raise UnsupportedLayerError(
            f"the model ends with a {x.rank}-D tensor; expected [batch, units]"
        )

    if task == "forecast":
        if x.width % n_targets:
            raise UnsupportedLayerError(
                f"output has {x.width} units, not a multiple of n_targets={n_targets}"
            )
        horizon = horizon if horizon is not None else x.width // n_targets
        if horizon * n_targets != x.width:
            raise UnsupportedLayerError(
                f"output has {x.width} units but horizon * n_targets = {horizon * n_targets}"
            )
        shape = g.const(np.array([-1, horizon, n_targets], np.int64), "forecast_shape")
        g.reserve("forecast")
        g.op("Reshape", [x.name, shape], "forecast", outputs=["forecast"])
        output = helper.make_tensor_value_info(
            "forecast", TensorProto.FLOAT, [BATCH_AXIS, horizon, n_targets]
        )
    else:
        last = layers[-1] if layers else None
        if (
            last is None
            or type(last).__name__ != "Dense"
            or x.width != 1
            or _activation_name(last) != "sigmoid"
        ):
            raise UnsupportedLayerError("a sentiment model must end with Dense(1, 'sigmoid')")
        shape = g.const(np.array([-1], np.int64), "probability_shape")
        g.reserve("probability")
        g.op("Reshape", [x.name, shape], "probability", outputs=["probability"])
        output = helper.make_tensor_value_info("probability", TensorProto.FLOAT, [BATCH_AXIS])

    graph = helper.make_graph(
        g.nodes, graph_name, [main_input, lengths_info], [output], initializer=g.initializers
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=f"rnn-serving {EXPORTER}",
        ir_version=IR_VERSION,
    )
    onnx.helper.set_model_props(
        onnx_model,
        {
            "task": task,
            "keras_layers": ", ".join(type(layer).__name__ for layer in _model_layers(model)),
            "keras_version": keras.__version__,
        },
    )
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model
