"""The service as a process: `python -m service` starts, answers, never imports TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loadtest.process import REPO, env_without_settings, free_port, start_service, stop_service


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_python_m_service_starts_answers_and_reports_start_time(zoo: Path, workers: str) -> None:
    service = start_service(zoo, "--workers", workers, ready_within_s=30)
    process, url, seconds = service.process, service.url, service.ready_s
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


def failed_start(*flags: str) -> str:
    """Run `python -m service` with `flags` on a free port; it must fail to start with exit
    status 2 and no traceback. Its stderr."""
    process = subprocess.run(
        [sys.executable, "-m", "service", "--port", str(free_port()), *flags],
        cwd=REPO,
        env=env_without_settings(),
        capture_output=True,
        timeout=60,
    )
    stderr = process.stderr.decode()
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    return stderr


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_start_up_fails_loudly_naming_the_corrupted_file(tmp_path: Path, workers: str) -> None:
    from tests.service.fixtures import write_forecast_model

    directory = write_forecast_model(tmp_path)
    (directory / "model.onnx").write_bytes(b"corrupted")
    stderr = failed_start("--models-dir", str(tmp_path), "--workers", workers)
    assert (
        f"cannot start: no model found that passes its checks: {directory / 'model.onnx'}: sha256"
        in stderr
    )


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_taken_grpc_port_is_one_line_and_exit_status_2(zoo: Path, workers: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        grpc_port = taken.getsockname()[1]
        flags = ["--grpc-port", str(grpc_port), "--models-dir", str(zoo), "--workers", workers]
        stderr = failed_start(*flags)
    assert f"cannot start: cannot listen for gRPC on 127.0.0.1:{grpc_port}" in stderr


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


@pytest.mark.slow
def test_api_key_file_keeps_the_key_out_of_ps_and_the_environment(
    zoo: Path, tmp_path: Path
) -> None:
    import psutil

    key = "k3y-from-a-file-0123456789"
    key_file = tmp_path / "api-key"
    key_file.write_text(key + "\n")
    service = start_service(zoo, "--workers", "2", "--api-key-file", str(key_file))
    process, url = service.process, service.url
    try:
        assert httpx.post(f"{url}/forecast", json={"series": [[1.0, 2.0, 3.0]]}).status_code == 401
        answer = httpx.post(
            f"{url}/forecast", json={"series": [[1.0, 2.0, 3.0]]}, headers={"X-API-Key": key}
        )
        assert answer.status_code == 200
        parent = psutil.Process(process.pid)
        for each in [parent, *parent.children(recursive=True)]:
            assert key not in " ".join(each.cmdline())
            assert key not in "".join(each.environ().values())
    finally:
        stop_service(process)
