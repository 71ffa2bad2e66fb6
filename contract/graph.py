"""The ONNX graph contract of each task: tensor names, dtypes and shapes.

The exporter writes graphs with exactly these inputs and outputs, and the service refuses a
graph whose signature differs. Dynamic axes are named, fixed ones are sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Task = Literal["forecast", "sentiment"]
TASKS: tuple[Task, ...] = ("forecast", "sentiment")

BATCH_AXIS = "batch"
TIME_AXIS = "time"
LENGTHS = "lengths"  # int32 [batch]: the true length of every right-padded row

# The exporter every bundled artifact was written by (the card's `exporter` field).
EXPORTER = "native-onnx-builder (training/onnx_native.py)"


@dataclass(frozen=True)
class GraphContract:
    """Names of one task's graph tensors; `data` is right-padded, `lengths` gives true sizes."""

    data: str
    data_dtype: Literal["float32", "int64"]
    output: str
    lengths: str = LENGTHS


FORECAST = GraphContract(data="series", data_dtype="float32", output="forecast")
SENTIMENT = GraphContract(data="tokens", data_dtype="int64", output="probability")
CONTRACTS: dict[Task, GraphContract] = {"forecast": FORECAST, "sentiment": SENTIMENT}
