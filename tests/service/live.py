"""Real servers for load tests: uvicorn (httptools + uvloop, real sockets) in a thread when the
test must reach into the app, `python -m service` as a process when it must signal it; and a
runner wrapper that makes inference slow and counts it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from service.app import ServiceApp
from service.runtime import BatchFunction
from tests.service.processes import REPO, env_without_settings, free_port


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


def start_process(
    models_dir: Path, log_dir: Path, flags: list[str]
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m service` on a free port, stdout/stderr to files in `log_dir`; waits for
    /readyz. The caller stops it (and kills it if the test fails first)."""
    port = free_port()
    env = env_without_settings()
    command = [sys.executable, "-m", "service", "--port", str(port)]
    command += ["--models-dir", str(models_dir), *flags]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=(log_dir / "stdout").open("wb"),
        stderr=(log_dir / "stderr").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, (log_dir / "stderr").read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=0.5).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise AssertionError("service not ready within 30 s")
