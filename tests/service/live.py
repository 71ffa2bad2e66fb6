"""Real servers for load tests: uvicorn (httptools + uvloop, real sockets) in a thread when the
test must reach into the app (`python -m service` as a process: `loadtest.process`); and a
runner wrapper that makes inference slow and counts it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import uvicorn

from loadtest.process import free_port
from service.app import ServiceApp
from service.runtime import BatchFunction


@contextmanager
def serve_in_thread(app: ServiceApp) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 until the block ends; yields the base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        assert not thread.is_alive(), "the test server did not stop"


@dataclass
class SlowRunner:
    """Wraps a batcher's run function: sleeps `delay_s` per run and counts rows it computed."""

    run: BatchFunction
    delay_s: float
    runs: int = 0
    rows: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, rows: list[np.ndarray]) -> np.ndarray:
        time.sleep(self.delay_s)
        with self._lock:
            self.runs += 1
            self.rows += len(rows)
        return self.run(rows)


def slow_down(app: ServiceApp, name: str, version: str, delay_s: float) -> SlowRunner:
    """Make one loaded model version slow (call once the app is serving)."""
    model = app.service_state.serving().get(name, version)
    runner = SlowRunner(model.batcher.run_batch, delay_s)
    model.batcher.run_batch = runner
    return runner
