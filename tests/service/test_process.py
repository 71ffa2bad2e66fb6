"""The service as a process: `python -m service` starts, answers, never imports TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.service.processes import (
    REPO,
    env_without_settings,
    free_port,
    start_service,
    stop_service,
)


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_python_m_service_starts_answers_and_reports_start_time(zoo: Path, workers: str) -> None:
    process, url, seconds = start_service(zoo, "--workers", workers)
    try:
        response = httpx.post(f"{url}/forecast", json={"series": [[50.0, 51.0, 52.0]]})
        assert response.status_code == 200, response.text
        assert response.json()["version"] == "10"
        sentiment = httpx.post(f"{url}/sentiment", json={"texts": ["a great film"]})
        assert sentiment.status_code == 200, sentiment.text
    finally:
        stop_service(process)
    print(f"workers={workers}: start to ready {seconds:.2f} s")
    # No bound on the time here: CI shares its cores. The README gives the measured value.


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
            str(free_port()),
            "--models-dir",
            str(tmp_path),
            "--workers",
            workers,
        ],
        cwd=REPO,
        env=env_without_settings(),
        capture_output=True,
        timeout=60,
    )
    assert process.returncode == 2
    stderr = process.stderr.decode()
    assert (
        f"cannot start: no model found that passes its checks: {directory / 'model.onnx'}: sha256"
        in stderr
    )
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_the_app_never_imports_tensorflow(zoo: Path) -> None:
    # A fresh interpreter: other tests of this pytest run may have imported TensorFlow.
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
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env_without_settings(),
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert "LEAKED []" in result.stdout.decode()
