"""What the protocol front ends (HTTP and gRPC) need from the service, and nothing more.

The front ends decode and encode tensors and speak the protocol; a `Backend` knows the models
and runs them. Errors are `ServiceError`s: their status decides the HTTP status and the gRPC
code (service.v2.status).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# A request or output parameter value: the protocol allows strings, numbers and booleans.
Parameter = str | int | float | bool


@dataclass(frozen=True)
class TensorMetadata:
    name: str
    datatype: str
    shape: tuple[int, ...]  # -1 for a variable-size axis


@dataclass(frozen=True)
class ModelMetadata:
    """One served model version, as the protocol describes it."""

    name: str
    version: str
    platform: str
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]

    def input(self, name: str) -> TensorMetadata | None:
        return next((tensor for tensor in self.inputs if tensor.name == name), None)

    def output_names(self) -> tuple[str, ...]:
        return tuple(tensor.name for tensor in self.outputs)


@dataclass(frozen=True)
class InferResult:
    model_name: str
    model_version: str
    outputs: dict[str, np.ndarray]  # in the order to answer them


class Backend(Protocol):
    def live(self) -> bool: ...

    def ready(self) -> bool: ...

    def models(self) -> Sequence[ModelMetadata]:
        """Every served version, oldest version of each model first."""
        ...

    def model(self, name: str, version: str | None) -> ModelMetadata:
        """The version a request names, or the default one; 404 ServiceError if unknown."""
        ...

    def model_ready(self, name: str, version: str | None) -> bool: ...

    async def infer(
        self,
        model_name: str,
        version: str | None,
        inputs: Mapping[str, np.ndarray],
        requested_outputs: Sequence[str] | None,
        parameters: Mapping[str, Any],
    ) -> InferResult:
        """Run one request; `inputs` are checked against the metadata's names and datatypes."""
        ...
