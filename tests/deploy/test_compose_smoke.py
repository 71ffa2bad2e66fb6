"""The container deployment: static checks (fast) and the end-to-end compose smoke (slow).

The smoke runs scripts/compose-smoke.sh, which sets up a docker engine itself (CI runs as root
on a machine where `apt-get install docker.io` works); if it cannot, the test fails: it never
skips, so the deployment cannot rot unnoticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SMOKE_TIMEOUT_S = 840  # the script must finish in under 10 minutes on a fresh machine


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    assert found, f"{name} is not installed (it is in the dev extra: make install-all)"
    return found


def test_dockerfiles_are_hadolint_clean() -> None:
    files = [ROOT / "Dockerfile", ROOT / "deploy" / "loadtest.Dockerfile"]
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_is_valid() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    compose = [_tool("docker-compose"), "-f", str(ROOT / "docker-compose.yml")]
    for profile in ([], ["--profile", "loadtest"]):
        result = subprocess.run(
            [*compose, *profile, "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_image_context_keeps_the_heavy_things_out() -> None:
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignore, "the .dockerignore is an allow-list"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert not allowed & {".venv", "data", "runs", ".git", "training", "tests"}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG BASE_IMAGE=python:3.11-slim" in dockerfile
    assert "ca-certificates" not in dockerfile and "HEALTHCHECK" in dockerfile


@pytest.mark.slow
@pytest.mark.timeout(SMOKE_TIMEOUT_S + 60)
def test_compose_smoke() -> None:
    env = dict(os.environ, PYTHON=sys.executable)
    started = time.monotonic()
    try:
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "compose-smoke.sh")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SMOKE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"compose smoke still running after {SMOKE_TIMEOUT_S} s:\n{out[-6000:]}")
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    print(output[-4000:])
    assert result.returncode == 0, (
        f"compose smoke failed (exit {result.returncode}):\n{output[-8000:]}"
    )
    assert "SMOKE PASSED" in result.stdout
    # The image also ran under the rendered base and production pod constraints.
    assert result.stdout.count("constrained run passed") == 2, result.stdout[-4000:]
    assert "kube play passed" in result.stdout, result.stdout[-4000:]
    assert elapsed < 600, f"compose smoke took {elapsed:.0f} s, over 10 minutes"
