"""The real service, as `python -m service` with two workers, driven by real protocol clients.

tritonclient (HTTP with JSON tensors, HTTP with binary tensors, gRPC) and KServe's SDK
(`InferenceRESTClient`, `InferenceGRPCClient`) run from their own venv
(requirements/clients.txt, `make clients-venv`; V2_CLIENTS_PYTHON names another one), one
client family per process: see tests/v2/clients/run_clients.py for the checks.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.process import REPO, start_service, stop_service

SCRIPT = REPO / "tests" / "v2" / "clients" / "run_clients.py"
FAMILIES = ("triton-http-json", "triton-http-binary", "triton-grpc", "kserve-rest", "kserve-grpc")
CHECKS = (
    "health",
    "metadata",
    "forecast",
    "sentiment",
    "version_pinning",
    "bad_inputs",
    "oversized",
)

pytestmark = pytest.mark.slow


def clients_python() -> Path:
    python = Path(os.environ.get("V2_CLIENTS_PYTHON", REPO / ".venv-clients" / "bin" / "python"))
    if not python.exists():
        pytest.fail(f"no clients venv at {python}: run `make clients-venv`")
    return python


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(HTTP host:port, gRPC host:port) of the bundled models, small limits for the 413 checks."""
    flags = ["--workers", "2", "--no-access-log"]
    flags += ["--max-body-bytes", "200000", "--max-items", "64", "--reload-interval-s", "0"]
    logs = tmp_path_factory.mktemp("v2-service")
    service = start_service(REPO / "models", *flags, logs=logs, grpc=True)
    try:
        yield service.url.removeprefix("http://"), service.grpc_target
    finally:
        stop_service(service.process)


@pytest.mark.parametrize("family", FAMILIES)
def test_client(family: str, service: tuple[str, str]) -> None:
    http, grpc = service
    env = {"PATH": os.environ.get("PATH", ""), "V2_FAMILY": family, "V2_HTTP": http}
    env["V2_GRPC"] = grpc
    run = subprocess.run(
        [str(clients_python()), str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    checks: dict[str, str] = json.loads(run.stdout.strip().splitlines()[-1])["checks"]
    assert set(CHECKS) <= set(checks), checks
    failed = {name: result for name, result in checks.items() if result != "ok"}
    assert not failed, json.dumps(failed, indent=2)
