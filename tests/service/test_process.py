"""The service as a process: `python -m service` starts, answers, never imports TensorFlow."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNN_SERVE_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def start_service(models_dir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start `python -m service`; return (process, base url, seconds from spawn to ready)."""
    port = _free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "--port",
            str(port),
            "--models-dir",
            str(models_dir),
            *extra,
        ],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = started + 30
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"service exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/readyz", timeout=0.5).status_code == 200:
                return process, url, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    process.kill()
    raise AssertionError("service not ready within 30 s")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_python_m_service_starts_answers_and_reports_start_time(zoo: Path) -> None:
    process, url, seconds = start_service(zoo, "--workers", "1")
    try:
        response = httpx.post(f"{url}/forecast", json={"series": [[50.0, 51.0, 52.0]]})
        assert response.status_code == 200, response.text
        assert response.json()["version"] == "10"
        sentiment = httpx.post(f"{url}/sentiment", json={"texts": ["a great film"]})
        assert sentiment.status_code == 200, sentiment.text
    finally:
        stop_service(process)
    print(f"start to ready: {seconds:.2f} s")
    assert seconds < 10  # generous on a shared CI core; the README records the measured value


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_start_up_fails_loudly_naming_the_corrupted_file(tmp_path: Path, workers: str) -> None:
    from tests.service.fixtures import write_forecast_model

    directory = write_forecast_model(tmp_path)
    (directory / "model.onnx").write_bytes(b"corrupted")
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "service",
            "--port",
            str(_free_port()),
            "--models-dir",
            str(tmp_path),
            "--workers",
            workers,
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        timeout=60,
    )
    assert process.returncode != 0
    assert f"cannot start: {directory / 'model.onnx'}: sha256" in process.stderr.decode()


@pytest.mark.slow
def test_the_app_never_imports_tensorflow(zoo: Path) -> None:
    # A fresh interpreter: other tests of this session may have imported TensorFlow.
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from service.app import create_app\n"
        "from service.config import Settings\n"
        f"with TestClient(create_app(Settings(models_dir={str(zoo)!r}))) as client:\n"
        "    assert client.get('/readyz').status_code == 200\n"
        "    assert client.post('/forecast', json={'series': [[1.0, 2.0, 3.0]]}).is_success\n"
        "    assert client.post('/sentiment', json={'texts': ['fine']}).is_success\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print('LEAKED', leaked)\n"
        "sys.exit(1 if leaked else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=_env(), capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert "LEAKED []" in result.stdout.decode()
