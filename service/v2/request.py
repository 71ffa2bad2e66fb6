"""One inference request of the protocol, decoded and checked against the model's metadata.

HTTP (JSON, with or without binary tensor data) and gRPC decode into the same
`InferRequest`; both check input names, datatypes and the requested outputs here, before
any tensor data is read, so a wrong name is reported as such and not as bad data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.v2 import tensors
from service.v2.backend import ModelMetadata, Parameter
from service.v2.tensors import invalid_tensor

BINARY_DATA_SIZE = "binary_data_size"
BINARY_DATA = "binary_data"
BINARY_DATA_OUTPUT = "binary_data_output"
MAX_ID_CHARS = 256


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool | None = None  # HTTP: the binary_data parameter, None if not given


@dataclass
class InferRequest:
    inputs: dict[str, np.ndarray]
    outputs: list[RequestedOutput] | None = None  # None: every output of the model
    parameters: dict[str, Parameter] = field(default_factory=dict)
    id: str | None = None
    binary_output: bool = False  # HTTP: the binary_data_output parameter

    def output_names(self) -> list[str] | None:
        return None if self.outputs is None else [output.name for output in self.outputs]


def check_input(
    model: ModelMetadata, name: Any, datatype: Any, index: int, seen: set[str]
) -> tuple[str, str]:
    """(name, datatype) of inputs[index] once it is known to belong to the model."""
    if not isinstance(name, str) or not name:
        raise invalid_tensor(f"inputs[{index}]: 'name' must be a non-empty string")
    label = f"input {name!r}"
    expected = model.input(name)
    if expected is None:
        known = ", ".join(repr(tensor.name) for tensor in model.inputs)
        raise invalid_tensor(
            f"{label}: model {model.name!r} version {model.version!r} has no such input "
            f"(inputs: {known})"
        )
    if name in seen:
        raise invalid_tensor(f"{label} is given twice")
    seen.add(name)
    datatype = tensors.check_datatype(label, datatype)
    if datatype != expected.datatype:
        raise invalid_tensor(
            f"{label} has datatype {datatype}, model {model.name!r} takes {expected.datatype}"
        )
    return name, datatype


def check_all_inputs(model: ModelMetadata, seen: set[str]) -> None:
    missing = [tensor.name for tensor in model.inputs if tensor.name not in seen]
    if missing:
        raise invalid_tensor(
            f"model {model.name!r} needs input {', '.join(repr(name) for name in missing)}"
        )


def check_output(model: ModelMetadata, name: Any, index: int) -> str:
    if not isinstance(name, str) or not name:
        raise invalid_tensor(f"outputs[{index}]: 'name' must be a non-empty string")
    if name not in model.output_names():
        known = ", ".join(repr(output) for output in model.output_names())
        raise invalid_tensor(
            f"output {name!r}: model {model.name!r} has no such output (outputs: {known})"
        )
    return name


def decode_http(model: ModelMetadata, header: Any, binary: memoryview) -> InferRequest:
    """The parsed JSON inference header and the binary data that followed it."""
    if not isinstance(header, dict):
        raise invalid_tensor("the inference request must be a JSON object")
    request_id = header.get("id")
    if request_id is not None and (
        not isinstance(request_id, str) or len(request_id) > MAX_ID_CHARS
    ):
        raise invalid_tensor(f"'id' must be a string of at most {MAX_ID_CHARS} characters")
    raw_parameters = header.get("parameters")
    parameters = {} if raw_parameters is None else _parameters(raw_parameters, "parameters")
    binary_output = parameters.pop(BINARY_DATA_OUTPUT, False)
    if not isinstance(binary_output, bool):
        raise invalid_tensor(f"parameters.{BINARY_DATA_OUTPUT} must be a boolean")
    items = header.get("inputs")
    if not isinstance(items, list) or not items:
        raise invalid_tensor("'inputs' must be a non-empty list of input tensors")
    inputs: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    offset = 0
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid_tensor(f"inputs[{index}] must be a JSON object")
        name, datatype = check_input(model, item.get("name"), item.get("datatype"), index, seen)
        label = f"input {name!r}"
        shape = tensors.check_shape(label, item.get("shape"))
        raw_parameters = item.get("parameters")  # formatted names only when there are some
        size = (
            None
            if raw_parameters is None
            else _parameters(raw_parameters, f"{label} parameters").get(BINARY_DATA_SIZE)
        )
        if size is None:
            if "data" not in item:
                raise invalid_tensor(f"{label}: needs 'data' or a {BINARY_DATA_SIZE} parameter")
            inputs[name] = tensors.from_json(label, datatype, shape, item["data"])
            continue
        if type(size) is not int or size < 0:
            raise invalid_tensor(f"{label}: {BINARY_DATA_SIZE} must be a non-negative integer")
        if offset + size > len(binary):
            raise invalid_tensor(
                f"{label}: {BINARY_DATA_SIZE} is {size}, but only {len(binary) - offset} bytes "
                "of binary data remain after the JSON header"
            )
        inputs[name] = tensors.from_bytes(label, datatype, shape, binary[offset : offset + size])
        offset += size
    if offset != len(binary):
        raise invalid_tensor(
            f"{len(binary) - offset} bytes of binary data follow the JSON header beyond what "
            f"the inputs' {BINARY_DATA_SIZE} parameters declare"
        )
    check_all_inputs(model, seen)
    return InferRequest(
        inputs, _outputs(model, header.get("outputs")), parameters, request_id, binary_output
    )


def _outputs(model: ModelMetadata, items: Any) -> list[RequestedOutput] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise invalid_tensor("'outputs' must be a list of requested outputs")
    outputs: list[RequestedOutput] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid_tensor(f"outputs[{index}] must be a JSON object")
        name = check_output(model, item.get("name"), index)
        binary = _parameters(item.get("parameters"), f"output {name!r} parameters").get(BINARY_DATA)
        if binary is not None and not isinstance(binary, bool):
            raise invalid_tensor(f"output {name!r}: {BINARY_DATA} must be a boolean")
        outputs.append(RequestedOutput(name, binary))
    return outputs


def _parameters(value: Any, where: str) -> dict[str, Parameter]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_tensor(f"{where} must be a JSON object")
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise invalid_tensor(f"{where}.{key} must be a string, number or boolean")
    return dict(value)
