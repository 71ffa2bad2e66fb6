from __future__ import annotations

import numpy as np
import pytest

from service.errors import ServiceError
from service.v2 import tensors


def test_json_flat_and_nested_give_the_same_array() -> None:
    flat = tensors.from_json("input 'x'", "FP32", (2, 3), [1, 2, 3, 4, 5, 6.5])
    nested = tensors.from_json("input 'x'", "FP32", (2, 3), [[1, 2, 3], [4, 5, 6.5]])
    assert flat.dtype == np.float32 and flat.shape == (2, 3)
    np.testing.assert_array_equal(flat, nested)


@pytest.mark.parametrize(
    ("datatype", "shape", "data", "message"),
    [
        ("FP32", (2,), [1.0, "2"], "input 'x': data[1] is '2', not a FP32 value"),
        ("FP32", (3,), [1.0, 2.0], "shape [3] holds 3 elements, 'data' has 2"),
        ("INT64", (2,), [1, 2.5], "data[1] is 2.5, not a INT64 value"),
        ("BOOL", (1,), [1], "data[0] is 1, not a BOOL value"),
        ("FP32", (1,), [1e39], "data[0] is outside the FP32 range"),
        ("INT8", (1,), [300], "outside the INT8 range"),
        ("BYTES", (2,), ["a", 3], "data[1] must be a string for BYTES"),
        ("FP32", (2, 2), [[1, 2], 3, 4], "same depth everywhere"),
    ],
)
def test_json_errors_name_the_tensor_and_index(
    datatype: str, shape: tuple[int, ...], data: list[object], message: str
) -> None:
    with pytest.raises(ServiceError) as caught:
        tensors.from_json("input 'x'", datatype, shape, data)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_shape_and_datatype_checks() -> None:
    with pytest.raises(ServiceError, match=r"shape\[1\] must be a non-negative integer"):
        tensors.check_shape("input 'x'", [1, -1])
    with pytest.raises(ServiceError, match="datatype 'FLOAT' is not supported"):
        tensors.check_datatype("input 'x'", "FLOAT")


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([True, False]),
        np.arange(4, dtype=np.int64),
        np.array([b"ab", "caf\u00e9".encode(), b""], dtype=object),
    ],
)
def test_binary_round_trip(array: np.ndarray) -> None:
    datatype = tensors.datatype_of(array)
    back = tensors.from_bytes("output", datatype, array.shape, tensors.to_bytes(array))
    np.testing.assert_array_equal(back, array)


def test_binary_size_errors() -> None:
    with pytest.raises(ServiceError, match="needs 8 bytes, the binary data has 7"):
        tensors.from_bytes("input 'x'", "FP32", (2,), b"\0" * 7)
    with pytest.raises(ServiceError, match="element 1 declares 9 bytes, only 2 remain"):
        tensors.from_bytes("input 't'", "BYTES", (2,), b"\1\0\0\0a\x09\0\0\0bc")
    with pytest.raises(ServiceError, match="3 bytes left after the 1 elements"):
        tensors.from_bytes("input 't'", "BYTES", (1,), b"\0\0\0\0abc")


def test_json_output_of_bytes_is_text() -> None:
    assert tensors.to_json_data(np.array([b"pos", b"neg"], dtype=object)) == ["pos", "neg"]
