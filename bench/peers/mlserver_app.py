"""MLServer peer: a custom runtime that runs the ONNX file with onnxruntime, MLServer's
adaptive batching (max_batch_size 32, max_batch_time 1 ms), 2 parallel inference workers,
KServe V2 over HTTP.

`python -m bench.peers.mlserver_app --model forecast --host 127.0.0.1 --port 8000` (inside the
MLServer virtualenv) writes settings.json and model-settings.json into a temporary model
repository and runs `mlserver start` on it. Its gRPC and metrics ports are free ports.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path

from mlserver import MLModel
from mlserver.codecs import NumpyCodec, StringCodec
from mlserver.types import InferenceRequest, InferenceResponse

from bench.peers.model import Classifier, Forecaster, app_arguments

WORKERS = 2
MAX_BATCH = 32
MAX_BATCH_TIME_S = 0.001


class ForecastRuntime(MLModel):
    async def load(self) -> bool:
        self.model = Forecaster()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        series = NumpyCodec.decode_input(payload.inputs[0])
        forecast = self.model(series)
        return InferenceResponse(
            model_name=self.name, outputs=[NumpyCodec.encode_output("forecast", forecast)]
        )


class SentimentRuntime(MLModel):
    async def load(self) -> bool:
        self.model = Classifier()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        texts = StringCodec.decode_input(payload.inputs[0])
        probability = self.model(texts)
        return InferenceResponse(
            model_name=self.name, outputs=[NumpyCodec.encode_output("probability", probability)]
        )


RUNTIMES = {"forecast": ForecastRuntime, "sentiment": SentimentRuntime}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_repository(root: Path, model: str, host: str, port: int) -> None:
    settings = {
        "debug": False,
        "host": host,
        "http_port": port,
        "grpc_port": _free_port(),
        "metrics_port": _free_port(),
        "metrics_dir": str(root / ".metrics"),
        "parallel_workers": WORKERS,
    }
    (root / "settings.json").write_text(json.dumps(settings, indent=1), encoding="utf-8")
    model_settings = {
        "name": model,
        # by name: run with -m, this module is __main__ here but not in the workers
        "implementation": f"bench.peers.mlserver_app.{RUNTIMES[model].__name__}",
        "max_batch_size": MAX_BATCH,
        "max_batch_time": MAX_BATCH_TIME_S,
    }
    directory = root / model
    directory.mkdir()
    (directory / "model-settings.json").write_text(json.dumps(model_settings), encoding="utf-8")


def main() -> None:
    args = app_arguments()
    root = Path(tempfile.mkdtemp(prefix="bench-mlserver-"))
    write_repository(root, args.model, args.host, args.port)
    mlserver = Path(sys.executable).with_name("mlserver")
    os.chdir(root)
    os.execv(mlserver, [str(mlserver), "start", str(root)])


if __name__ == "__main__":
    main()
