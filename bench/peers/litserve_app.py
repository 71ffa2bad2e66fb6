"""LitServe peer: a batched LitAPI per model (max_batch_size 32, batch_timeout 1 ms), 2 API
server processes and 2 inference worker processes (one device, 2 workers per device).

`python -m bench.peers.litserve_app --model forecast --host 127.0.0.1 --port 8000` inside the
LitServe virtualenv. Bodies are the service's native JSON, one item per request:
`{"series": [[...50 floats]]}` -> `{"forecast": [[...10 floats]]}`, `{"texts": ["..."]}` ->
`{"probability": [p]}`. LitServe's idle inference workers poll their queue (about half a core
each while no request comes).
"""

# No `from __future__ import annotations`: LitServe reads decode_request's annotation at run
# time as the endpoint's parameter type; unannotated, the endpoint reads the JSON body.
from typing import Any

import litserve as ls
import numpy as np

from bench.peers.model import Classifier, Forecaster, app_arguments

API_SERVERS = 2
WORKERS = 2
MAX_BATCH = 32
BATCH_TIMEOUT_S = 0.001


class ForecastAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = Forecaster()

    def decode_request(self, request) -> np.ndarray:  # type: ignore[no-untyped-def]
        return np.asarray(request["series"][0], dtype=np.float32)

    def batch(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)

    def predict(self, series: np.ndarray) -> np.ndarray:
        return self.model(series)[:, :, 0]

    def unbatch(self, output: np.ndarray) -> list[np.ndarray]:
        return list(output)

    def encode_response(self, output: np.ndarray) -> dict[str, Any]:
        return {"forecast": [output.tolist()]}


class SentimentAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = Classifier()

    def decode_request(self, request) -> str:  # type: ignore[no-untyped-def]
        return str(request["texts"][0])

    def batch(self, inputs: list[str]) -> list[str]:
        return inputs

    def predict(self, texts: list[str]) -> np.ndarray:
        return self.model(texts)

    def unbatch(self, output: np.ndarray) -> list[float]:
        return [float(p) for p in output]

    def encode_response(self, output: float) -> dict[str, Any]:
        return {"probability": [output]}


def main() -> None:
    args = app_arguments()
    api_class = ForecastAPI if args.model == "forecast" else SentimentAPI
    api = api_class(
        max_batch_size=MAX_BATCH, batch_timeout=BATCH_TIMEOUT_S, api_path=f"/{args.model}"
    )
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=WORKERS)
    server.run(
        host=args.host,
        port=args.port,
        num_api_servers=API_SERVERS,
        log_level="warning",
        generate_client_file=False,
    )


if __name__ == "__main__":
    main()
