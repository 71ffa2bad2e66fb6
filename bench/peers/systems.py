"""The peer systems: how each is installed, started and spoken to, and what to say about it.

Every peer serves one model per server (started once per model), so that no idle model's
workers share the 2 cores with the measured one. Versions are pinned; each system lives in its
own virtualenv (`bench.peers.venvs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import orjson

from bench.payloads import Payload, forecast_series, reviews

BodyKind = Literal["native-json", "v2-json"]
ORT = "onnxruntime==1.32.0"  # the service's onnxruntime (requirements/constraints.txt)
MAX_BATCH = 32
OUTPUTS = {"forecast": "forecast", "sentiment": "probability"}
TOLERANCE = {"forecast": 1e-5, "sentiment": 1e-6}  # largest |peer - onnxruntime| accepted


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    requirements: tuple[str, ...]  # pip requirements of its virtualenv
    packages: tuple[str, ...]  # distributions whose installed versions are recorded
    body: BodyKind
    config: str  # workers, batching, wait: what the app sets
    layout: str  # processes, and what to know about them
    module: str = ""  # `python -m <module> --model M` in the venv (or `command` below)
    bentoml_service: bool = False  # `bentoml serve bench.peers.bentoml_app:<Model>` instead
    warmup_s: float = 3.0  # discarded load before the rounds of each model
    stop_grace_s: float = 15.0  # after SIGTERM to the leader, before the process group
    startup_timeout_s: float = 240.0
    needs_libpython: bool = False  # Triton's Python backend stub loads libpython
    v2_text_shape: tuple[int, ...] = (1,)  # shape of the BYTES `texts` tensor of one text
    # versions read from the server's log: name -> regex whose group 1 is the version
    log_versions: dict[str, str] = field(default_factory=dict)

    def command(self, python: Path, model: str) -> list[str]:
        if self.bentoml_service:
            return [str(python.with_name("bentoml")), "serve", _bento(model)]
        return [str(python), "-m", self.module, "--model", model]


def _bento(model: str) -> str:
    return f"bench.peers.bentoml_app:{model.capitalize()}"


PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        Peer(
            name="pytriton",
            label="PyTriton 0.7.0 (Triton 2.51, Python backend)",
            requirements=("nvidia-pytriton==0.7.0", ORT, "pydantic"),
            packages=("nvidia-pytriton", "onnxruntime", "numpy"),
            body="v2-json",
            module="bench.peers.pytriton_app",
            config="dynamic batcher, max batch 32, max_queue_delay 0 us; 2 model instances",
            layout="tritonserver (C++, HTTP) + one Python backend stub per instance, "
            "talking to the PyTriton process whose threads run the inference callables "
            "(onnxruntime, 1 intra-op thread each)",
            needs_libpython=True,
            v2_text_shape=(1, 1),  # PyTriton tensors have a non-batch dimension: [batch, 1]
            log_versions={"tritonserver": r"server_version\s*\|\s*([0-9][0-9.]*)"},
        ),
        Peer(
            name="mlserver",
            label="MLServer 1.7.1",
            requirements=("mlserver==1.7.1", "uvloop<0.22", ORT),
            packages=("mlserver", "onnxruntime", "numpy", "uvloop", "uvicorn", "fastapi"),
            body="v2-json",
            module="bench.peers.mlserver_app",
            config="custom onnxruntime runtime; adaptive batching max_batch_size 32, "
            "max_batch_time 1 ms; parallel_workers 2",
            layout="one HTTP process (uvicorn, batching) + 2 inference worker processes; "
            "uvloop pinned < 0.22 (with 0.22 the workers die at start: "
            "'There is no current event loop')",
        ),
        Peer(
            name="litserve",
            label="LitServe 0.2.19",
            requirements=("litserve==0.2.19", ORT, "pydantic"),
            packages=("litserve", "onnxruntime", "numpy", "fastapi", "uvicorn"),
            body="native-json",
            module="bench.peers.litserve_app",
            config="batched LitAPI, max_batch_size 32, batch_timeout 1 ms; "
            "2 API servers, 1 device x 2 workers",
            layout="2 API server processes + 2 inference worker processes (+ manager); "
            "idle inference workers poll their queue at about half a core each",
        ),
        Peer(
            name="bentoml",
            label="BentoML 1.4.40",
            requirements=("bentoml==1.4.40", ORT),
            packages=("bentoml", "onnxruntime", "numpy", "uvicorn", "starlette"),
            body="native-json",
            bentoml_service=True,
            config="batchable API, max_batch_size 32, max_latency_ms 1000 (adaptive "
            "dispatcher: it learns its wait from the first batches); 2 workers",
            layout="arbiter + 2 worker processes (each HTTP and its own dispatcher); "
            "access log on (BentoML's default); 20 s warm-up for the dispatcher",
            warmup_s=20.0,
        ),
        Peer(
            name="ray",
            label="Ray Serve 2.60.0",
            requirements=("ray[serve]==2.60.0", ORT, "pydantic"),
            packages=("ray", "onnxruntime", "numpy", "fastapi", "uvicorn", "starlette"),
            body="native-json",
            module="bench.peers.ray_app",
            config="@serve.batch max_batch_size 32, batch_wait_timeout_s 1 ms; 2 replicas "
            "(1 CPU each), max_ongoing_requests 32",
            layout="local Ray (GCS, raylet, agents), Serve controller, HTTP proxy actor, "
            "2 replica actors; the actors leave the process group: stopped by "
            "serve.shutdown() + ray.shutdown() on SIGTERM",
            stop_grace_s=40.0,
        ),
    )
}


# -- request bodies ------------------------------------------------------------------------


def forecast_input(index: int) -> np.ndarray:
    """float32 [50]: the benchmark's series (index 0), or it shifted by `index` steps."""
    return np.roll(np.asarray(forecast_series(), dtype=np.float32), index)


def sentiment_input(index: int) -> str:
    """The benchmark's review (index 0), the other reviews, one short text and one of about
    460 words, so that batches of the answer check mix lengths (and padding)."""
    texts = reviews()
    variants = [*texts, " ".join(texts[0].split()[:40]), texts[0] + " " + texts[1]]
    return variants[index % len(variants)]


def body(kind: BodyKind, model: str, index: int = 0, text_shape: tuple[int, ...] = (1,)) -> bytes:
    if kind == "native-json":
        if model == "forecast":
            return orjson.dumps({"series": [forecast_input(index).tolist()]})
        return orjson.dumps({"texts": [sentiment_input(index)]})
    if model == "forecast":
        series = forecast_input(index)
        tensor = {
            "name": "series",
            "datatype": "FP32",
            "shape": [1, len(series), 1],
            "data": series.tolist(),
        }
    else:
        tensor = {
            "name": "texts",
            "datatype": "BYTES",
            "shape": list(text_shape),
            "data": [sentiment_input(index)],
        }
    return orjson.dumps({"inputs": [tensor]})


def path(kind: BodyKind, model: str) -> str:
    return f"/v2/models/{model}/infer" if kind == "v2-json" else f"/{model}"


def payload(kind: BodyKind, model: str, text_shape: tuple[int, ...] = (1,)) -> Payload:
    """The body every request of the load sends (index 0: the benchmark's own request)."""
    return Payload(model, path(kind, model), body(kind, model, 0, text_shape), kind)


def answer(kind: BodyKind, model: str, data: object) -> np.ndarray:
    """The model's output values in an answer, flattened (float64)."""
    if kind == "v2-json":
        assert isinstance(data, dict)
        found = [o["data"] for o in data["outputs"] if o["name"] == OUTPUTS[model]]
        if len(found) != 1:
            raise ValueError(f"no single output {OUTPUTS[model]!r} in {str(data)[:300]}")
        return np.asarray(found[0], dtype=np.float64).reshape(-1)
    if isinstance(data, dict):
        if model == "forecast" and "forecasts" in data:  # the service's own native answer
            data = data["forecasts"]
        elif model == "sentiment" and "results" in data:
            # probabilities are {negative label: ..., positive label: ...}, in that order
            data = [list(r["probabilities"].values())[1] for r in data["results"]]
        else:
            data = data[OUTPUTS[model]]
    return np.asarray(data, dtype=np.float64).reshape(-1)
