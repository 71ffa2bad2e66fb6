"""The same requests as the native benchmark, over the Open Inference Protocol (KServe V2):
HTTP with JSON tensors, HTTP with binary tensors (Triton's extension, what tritonclient
sends by default) and gRPC, whose load `h2load` (nghttp2's C load generator) makes.

The gRPC body is one ModelInferRequest in the gRPC length-prefixed frame, sent as HTTP/2 POST
with `content-type: application/grpc`; h2load sees HTTP statuses only (gRPC reports errors in
trailers), so `check_grpc` makes one real call with the same request first.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import grpc
import numpy as np
import orjson

from bench.loadgen import LoadGeneratorError, LoadResult
from bench.payloads import Payload, forecast_series, review
from loadtest.process import ensure_debian_command
from service.v2.proto import grpc_predict_v2_pb2 as pb
from service.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc

GRPC_PATH = "/inference.GRPCInferenceService/ModelInfer"
PROTOCOLS = ("v2-json", "v2-binary", "v2-grpc")


def _input(task: str) -> tuple[str, str, list[int], np.ndarray]:
    """(tensor name, datatype, shape, array) of the native benchmark's request."""
    if task == "forecast":
        series = np.asarray(forecast_series(), dtype=np.float32)
        return "series", "FP32", [1, len(series), 1], series
    text = review().encode("utf-8")
    return "texts", "BYTES", [1], np.array([text], dtype=object)


def json_payload(task: str, model: str) -> Payload:
    name, datatype, shape, array = _input(task)
    data = [v.decode() for v in array] if datatype == "BYTES" else array.tolist()
    body = orjson.dumps(
        {"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]}
    )
    return Payload(task, f"/v2/models/{model}/infer", body, "V2 JSON tensors")


def binary_payload(task: str, model: str) -> Payload:
    """Binary inputs and outputs, as tritonclient's HTTP client sends them by default."""
    name, datatype, shape, array = _input(task)
    blob = _raw(datatype, array)
    header = {
        "inputs": [
            {
                "name": name,
                "datatype": datatype,
                "shape": shape,
                "parameters": {"binary_data_size": len(blob)},
            }
        ],
        "parameters": {"binary_data_output": True},
    }
    head = orjson.dumps(header)
    return Payload(
        task,
        f"/v2/models/{model}/infer",
        head + blob,
        "V2 binary tensors",
        content_type="application/octet-stream",
        headers=(("Inference-Header-Content-Length", str(len(head))),),
    )


def _raw(datatype: str, array: np.ndarray) -> bytes:
    if datatype == "BYTES":
        return b"".join(len(v).to_bytes(4, "little") + v for v in array)
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def grpc_request(task: str, model: str) -> pb.ModelInferRequest:
    name, datatype, shape, array = _input(task)
    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name=name, datatype=datatype, shape=shape)
    request.raw_input_contents.append(_raw(datatype, array))
    return request


def grpc_frame(request: pb.ModelInferRequest) -> bytes:
    message = request.SerializeToString()
    return b"\0" + len(message).to_bytes(4, "big") + message


def check_grpc(address: str, request: pb.ModelInferRequest) -> None:
    """One real ModelInfer call: the load that follows repeats exactly this request."""
    with grpc.insecure_channel(address) as channel:
        pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)


def ensure_h2load() -> str:
    """Path of `h2load`; installs Debian's nghttp2-client when missing (as root)."""
    try:
        return ensure_debian_command("h2load", "nghttp2-client")
    except RuntimeError as exc:
        raise LoadGeneratorError(str(exc)) from exc


def run_h2load(
    h2load: str, address: str, body: bytes, connections: int, seconds: float
) -> LoadResult:
    """Closed loop like wrk's: `connections` HTTP/2 connections, one call in flight on each."""
    with tempfile.TemporaryDirectory(prefix="bench-h2load-") as tmp:
        data = Path(tmp) / "body.bin"
        data.write_bytes(body)
        log = Path(tmp) / "requests.tsv"
        command = [h2load, "-t1", f"-c{connections}", "-m1", f"-D{max(1, round(seconds))}"]
        command += ["-d", str(data), f"--log-file={log}"]
        command += ["-H", "content-type: application/grpc", "-H", "te: trailers"]
        command.append(f"http://{address}{GRPC_PATH}")
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        rows = [line.split("\t") for line in log.read_text().splitlines() if line.strip()]
    if done.returncode != 0 or not rows:
        raise LoadGeneratorError(f"h2load failed ({done.returncode}): {done.stdout[-800:]}")
    # Columns: start (us since the epoch), HTTP status, microseconds to the end of the answer.
    starts = np.array([int(row[0]) for row in rows], dtype=np.int64)
    latency_ms = np.array([int(row[2]) for row in rows], dtype=np.float64) / 1000.0
    statuses = [row[1] for row in rows]
    window_s = max((starts.max() - starts.min()) / 1e6, 1e-9)
    finished = re.search(r"finished in ([0-9.]+)s, ([0-9.]+) req/s", done.stdout)
    if finished:  # h2load's own clock: from the first connection to the last answer
        window_s = float(finished.group(1))
    errors = sum(status != "200" for status in statuses)
    percentile = lambda q: round(float(np.percentile(latency_ms, q)), 3)  # noqa: E731
    return LoadResult(
        connections=connections,
        seconds=round(window_s, 3),
        requests=len(rows),
        throughput=round(len(rows) / window_s, 1),
        errors=errors,
        error_detail={"status": errors},
        p50_ms=percentile(50),
        p90_ms=percentile(90),
        p95_ms=percentile(95),
        p99_ms=percentile(99),
        max_ms=round(float(latency_ms.max()), 3),
        mean_ms=round(float(latency_ms.mean()), 3),
    )
