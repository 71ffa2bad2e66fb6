"""Open Inference Protocol tensors <-> numpy: JSON data, binary data and gRPC contents.

Decoding checks what a client can get wrong (datatype names, shapes, the amount of data,
element types, UTF-8 of BYTES elements given as JSON strings) and names the tensor, and the
flat element index, in every message. Encoding turns numpy outputs back into JSON values or
the little-endian bytes of the binary tensor data extension and of `raw_output_contents`.
BYTES tensors are numpy object arrays of `bytes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np

from service.errors import ServiceError

# Little-endian numpy dtypes of the protocol's fixed-size datatypes (BF16 has none).
DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
BYTES = "BYTES"
DATATYPES = (*DTYPES, BYTES)
_DATATYPE_OF_KIND = {dtype.kind + str(dtype.itemsize): name for name, dtype in DTYPES.items()}
MAX_RANK = 8
_FLOAT_MAX = {"FP16": float(np.finfo(np.float16).max), "FP32": float(np.finfo(np.float32).max)}
_NUMBER_TYPES = frozenset({int, float})
_INTEGER_TYPES = frozenset({int})
_BOOL_TYPES = frozenset({bool})


def invalid_tensor(message: str) -> ServiceError:
    return ServiceError(400, "invalid_tensor", message)


def check_datatype(tensor: str, datatype: Any) -> str:
    if not isinstance(datatype, str):
        raise invalid_tensor(f"{tensor}: 'datatype' must be a string")
    if datatype not in DTYPES and datatype != BYTES:
        raise invalid_tensor(
            f"{tensor}: datatype {datatype!r} is not supported (supported: {', '.join(DATATYPES)})"
        )
    return datatype


def check_shape(tensor: str, shape: Any) -> tuple[int, ...]:
    """A list of non-negative integers: the shape as given, before any data is read."""
    if not isinstance(shape, list | tuple) or len(shape) > MAX_RANK:
        raise invalid_tensor(f"{tensor}: 'shape' must be a list of at most {MAX_RANK} integers")
    for axis, size in enumerate(shape):
        if type(size) is not int or size < 0:
            raise invalid_tensor(
                f"{tensor}: shape[{axis}] must be a non-negative integer, got {size!r}"
            )
    return tuple(shape)


def element_count(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def from_json(tensor: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray:
    """`data` of a JSON tensor (flat, or nested in row-major order) -> an array of `shape`."""
    if not isinstance(data, list):
        raise invalid_tensor(f"{tensor}: 'data' must be a list")
    flat: Sequence[Any] = _flatten(tensor, data) if data and type(data[0]) is list else data
    expected = element_count(shape)
    if len(flat) != expected:
        raise invalid_tensor(
            f"{tensor}: shape {list(shape)} holds {expected} elements, 'data' has {len(flat)}"
        )
    if datatype == BYTES:
        return _bytes_from_json(tensor, flat).reshape(shape)
    dtype = DTYPES[datatype]
    allowed = _BOOL_TYPES if dtype.kind == "b" else _NUMBER_TYPES
    if dtype.kind in "iu":
        allowed = _INTEGER_TYPES
    if not set(map(type, flat)) <= allowed:
        _raise_bad_element(tensor, datatype, flat, allowed)
    # Checked on the Python floats: cheaper than numpy's errstate, and no overflow warning.
    limit = _FLOAT_MAX.get(datatype)
    if limit is not None and flat and (max(flat) > limit or min(flat) < -limit):
        index = next(i for i, value in enumerate(flat) if abs(value) > limit)
        raise invalid_tensor(f"{tensor}: data[{index}] is outside the {datatype} range")
    try:
        array = np.array(flat, dtype=dtype)
    except OverflowError as exc:
        raise invalid_tensor(f"{tensor}: an element is outside the {datatype} range") from exc
    return array.reshape(shape)


def _flatten(tensor: str, data: list[Any]) -> list[Any]:
    """Nested lists -> one flat list; every level must be a list of the same depth."""
    depth = 0
    probe: Any = data
    while type(probe) is list and probe:
        depth += 1
        probe = probe[0]
    flat: list[Any] = data
    for _ in range(depth - 1):
        if not all(type(item) is list for item in flat):
            raise invalid_tensor(f"{tensor}: nested 'data' must have the same depth everywhere")
        flat = list(chain.from_iterable(flat))
    return flat


def _raise_bad_element(
    tensor: str, datatype: str, flat: Sequence[Any], allowed: frozenset[type]
) -> None:
    for index, value in enumerate(flat):
        if type(value) not in allowed:
            shown = "a list" if isinstance(value, list) else f"{value!r:.40}"
            raise invalid_tensor(f"{tensor}: data[{index}] is {shown}, not a {datatype} value")


def _bytes_from_json(tensor: str, flat: Sequence[Any]) -> np.ndarray:
    array = np.empty(len(flat), dtype=object)
    for index, value in enumerate(flat):
        if type(value) is not str:
            raise invalid_tensor(f"{tensor}: data[{index}] must be a string for BYTES")
        array[index] = value.encode("utf-8")
    return array


def from_bytes(
    tensor: str, datatype: str, shape: tuple[int, ...], raw: bytes | memoryview
) -> np.ndarray:
    """Binary tensor data (HTTP extension, gRPC raw contents) -> an array of `shape`."""
    expected = element_count(shape)
    if datatype == BYTES:
        return _bytes_from_raw(tensor, raw, expected).reshape(shape)
    dtype = DTYPES[datatype]
    if len(raw) != expected * dtype.itemsize:
        raise invalid_tensor(
            f"{tensor}: shape {list(shape)} of {datatype} needs {expected * dtype.itemsize} "
            f"bytes, the binary data has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _bytes_from_raw(tensor: str, raw: bytes | memoryview, expected: int) -> np.ndarray:
    """Elements of a BYTES tensor, each a 4-byte little-endian length and its bytes."""
    array = np.empty(expected, dtype=object)
    view = memoryview(raw)
    offset = 0
    for index in range(expected):
        if offset + 4 > len(view):
            raise invalid_tensor(
                f"{tensor}: the binary data ends before element {index} of {expected}"
            )
        size = int.from_bytes(view[offset : offset + 4], "little")
        offset += 4
        if offset + size > len(view):
            raise invalid_tensor(
                f"{tensor}: element {index} declares {size} bytes, only {len(view) - offset} remain"
            )
        array[index] = bytes(view[offset : offset + size])
        offset += size
    if offset != len(view):
        raise invalid_tensor(
            f"{tensor}: {len(view) - offset} bytes left after the {expected} elements of its shape"
        )
    return array


def from_contents(tensor: str, datatype: str, shape: tuple[int, ...], contents: Any) -> np.ndarray:
    """gRPC `InferTensorContents` (the repeated field of the datatype) -> an array."""
    field = _CONTENTS_FIELD.get(datatype)
    if field is None:
        raise invalid_tensor(f"{tensor}: {datatype} data must be sent in raw_input_contents")
    values = getattr(contents, field)
    expected = element_count(shape)
    if len(values) != expected:
        raise invalid_tensor(
            f"{tensor}: shape {list(shape)} holds {expected} elements, "
            f"contents.{field} has {len(values)}"
        )
    if datatype == BYTES:
        array = np.empty(expected, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    return np.asarray(values, dtype=DTYPES[datatype]).reshape(shape)


_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    BYTES: "bytes_contents",
}


def datatype_of(array: np.ndarray) -> str:
    if array.dtype.kind == "O":
        return BYTES
    name = _DATATYPE_OF_KIND.get(array.dtype.kind + str(array.dtype.itemsize))
    if name is None:
        raise ValueError(f"no protocol datatype for numpy dtype {array.dtype}")
    return name


def to_json_data(array: np.ndarray) -> Any:
    """The flat `data` of a JSON output: orjson writes numeric arrays itself."""
    if array.dtype.kind == "O":
        return [_text(value) for value in array.ravel()]
    return np.ascontiguousarray(array.ravel())


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def to_bytes(array: np.ndarray) -> bytes:
    """Binary tensor data: little-endian, row-major; BYTES elements length-prefixed."""
    if array.dtype.kind == "O":
        parts: list[bytes] = []
        for value in array.ravel():
            item = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(len(item).to_bytes(4, "little"))
            parts.append(item)
        return b"".join(parts)
    dtype = DTYPES[datatype_of(array)]
    return np.ascontiguousarray(array, dtype=dtype).tobytes()
