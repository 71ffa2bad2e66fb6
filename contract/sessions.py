"""The one way an onnxruntime session is made, for serving, for export checks and for tests."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def create_session(
    model: Path | bytes, intra_op_threads: int = 1, inter_op_threads: int = 1
) -> ort.InferenceSession:
    """A CPU session; `model` is a file or a serialized ModelProto."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Several sessions with spinning intra-op threads on 2 shared cores slowed each other
    # down (batch 64: 18.8 ms alone, ~40 ms with 4 interleaved sessions); no spinning.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
