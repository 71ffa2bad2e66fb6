"""PyTriton peer: Triton Inference Server 2.51 (bundled in the nvidia-pytriton wheel) with its
dynamic batcher (max batch 32, no queue delay, like the service's batcher), two model
instances whose inference callables run onnxruntime in this process, KServe V2 over HTTP.

Run inside the PyTriton virtualenv: `python -m bench.peers.pytriton_app --model forecast
--host 127.0.0.1 --port 8000`. Triton's own gRPC and metrics ports are free ports.
"""

from __future__ import annotations

import socket
from typing import Any

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

from bench.peers.model import Classifier, Forecaster, app_arguments

MAX_BATCH = 32
INSTANCES = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _forecast_callable() -> Any:
    model = Forecaster()

    @batch
    def infer(series: np.ndarray) -> dict[str, np.ndarray]:
        return {"forecast": model(series)}

    return infer


def _sentiment_callable() -> Any:
    model = Classifier()

    @batch
    def infer(texts: np.ndarray) -> dict[str, np.ndarray]:
        probability = model([row[0].decode("utf-8") for row in texts])
        return {"probability": probability.reshape(-1, 1)}

    return infer


def main() -> None:
    args = app_arguments()
    config = TritonConfig(
        http_address=args.host,
        http_port=args.port,
        grpc_address="127.0.0.1",
        grpc_port=_free_port(),
        metrics_port=_free_port(),
        allow_metrics=False,
        log_verbose=0,
    )
    batching = ModelConfig(
        max_batch_size=MAX_BATCH,
        batcher=DynamicBatcher(max_queue_delay_microseconds=0),
    )
    with Triton(config=config) as triton:
        if args.model == "forecast":
            triton.bind(
                model_name="forecast",
                infer_func=[_forecast_callable() for _ in range(INSTANCES)],
                inputs=[Tensor(name="series", dtype=np.float32, shape=(-1, 1))],
                outputs=[Tensor(name="forecast", dtype=np.float32, shape=(-1, 1))],
                config=batching,
                strict=True,
            )
        else:
            triton.bind(
                model_name="sentiment",
                infer_func=[_sentiment_callable() for _ in range(INSTANCES)],
                inputs=[Tensor(name="texts", dtype=np.bytes_, shape=(1,))],
                outputs=[Tensor(name="probability", dtype=np.float32, shape=(1,))],
                config=batching,
                strict=True,
            )
        triton.serve()


if __name__ == "__main__":
    main()
