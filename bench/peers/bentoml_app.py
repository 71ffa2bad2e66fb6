"""BentoML peer: one service per model, 2 workers, a batchable API (max batch 32; BentoML's
adaptive dispatcher chooses its wait, learning it from the first batches: warm it up long).

Serve it from the BentoML virtualenv, e.g.
`bentoml serve bench.peers.bentoml_app:Forecast --host 127.0.0.1 --port 8000`.
Bodies are BentoML's natural JSON, the argument names: `{"series": [[...50 floats]]}` ->
`[[...10 floats]]`, `{"texts": ["..."]}` -> `[probability]` (the service's native bodies).
"""

from __future__ import annotations

import bentoml
import numpy as np

from bench.peers.model import Classifier, Forecaster

WORKERS = 2
MAX_BATCH = 32
MAX_LATENCY_MS = 1000


@bentoml.service(workers=WORKERS, traffic={"timeout": 30})
class Forecast:
    def __init__(self) -> None:
        self.model = Forecaster()

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=MAX_LATENCY_MS)
    def forecast(self, series: np.ndarray) -> np.ndarray:
        return self.model(series)[:, :, 0]


@bentoml.service(workers=WORKERS, traffic={"timeout": 30})
class Sentiment:
    def __init__(self) -> None:
        self.model = Classifier()

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=MAX_LATENCY_MS)
    def sentiment(self, texts: list[str]) -> list[float]:
        return [float(p) for p in self.model(texts)]
