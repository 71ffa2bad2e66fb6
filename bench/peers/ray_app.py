"""Ray Serve peer: one deployment per model, 2 replicas (1 CPU each), `@serve.batch`
(max_batch_size 32, batch_wait_timeout_s 1 ms), up to 32 requests in flight per replica so
that a batch can fill; Ray's HTTP proxy in front.

`python -m bench.peers.ray_app --model forecast --host 127.0.0.1 --port 8000` inside the Ray
virtualenv starts a local Ray (2 CPUs, no dashboard), runs the application and blocks; on
SIGTERM or SIGINT it calls `serve.shutdown()` and `ray.shutdown()`, since Ray's actors leave
this process group. Bodies are the service's native JSON: `{"series": [[...]]}` ->
`{"forecast": [[...]]}`, `{"texts": ["..."]}` -> `{"probability": [p]}`.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import numpy as np
import ray
from ray import serve
from starlette.requests import Request

from bench.peers.model import Classifier, Forecaster, app_arguments

REPLICAS = 2
MAX_BATCH = 32
BATCH_WAIT_S = 0.001
OPTIONS: dict[str, Any] = {
    "num_replicas": REPLICAS,
    "ray_actor_options": {"num_cpus": 1},
    "max_ongoing_requests": MAX_BATCH,
}


@serve.deployment(**OPTIONS)
class ForecastDeployment:
    def __init__(self) -> None:
        self.model = Forecaster()

    @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=BATCH_WAIT_S)
    async def forecast(self, series: list[np.ndarray]) -> list[list[float]]:
        output: list[list[float]] = self.model(np.stack(series))[:, :, 0].tolist()
        return output

    async def __call__(self, request: Request) -> dict[str, Any]:
        body = await request.json()
        row = await self.forecast(np.asarray(body["series"][0], dtype=np.float32))
        return {"forecast": [row]}


@serve.deployment(**OPTIONS)
class SentimentDeployment:
    def __init__(self) -> None:
        self.model = Classifier()

    @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=BATCH_WAIT_S)
    async def sentiment(self, texts: list[str]) -> list[float]:
        return [float(p) for p in self.model(texts)]

    async def __call__(self, request: Request) -> dict[str, Any]:
        body = await request.json()
        return {"probability": [await self.sentiment(str(body["texts"][0]))]}


def main() -> None:
    args = app_arguments()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which installs its own
        signal.signal(signum, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        deployment: Any = ForecastDeployment if args.model == "forecast" else SentimentDeployment
        serve.run(deployment.bind(), name=args.model, route_prefix=f"/{args.model}")
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
