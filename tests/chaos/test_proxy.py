"""deploy/nginx.conf in front of one live replica and one that no longer answers connects."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.chaos.harness import Load, running_service
from tests.service.fixtures import write_model_zoo
from tests.service.processes import REPO, free_port

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx"),
]

CLIENTS = 4
UPSTREAM_LINE = "    server api:8000 max_fails=1 fail_timeout=30s;\n"


def black_hole() -> tuple[socket.socket, socket.socket, int]:
    """A listening socket whose one-slot queue is full: further connects get no answer,
    like the address of a replica removed with `docker kill`."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port), timeout=1)
    return listener, queued, port


def proxy_config(tmp: Path, live_port: int, dead_port: int, listen_port: int) -> Path:
    site = (REPO / "deploy" / "nginx.conf").read_text()
    assert UPSTREAM_LINE in site, "the upstream line changed: update this test"
    parameters = UPSTREAM_LINE.strip().split(" ", 2)[2]
    site = site.replace(
        UPSTREAM_LINE,
        f"    server 127.0.0.1:{dead_port} {parameters}\n"
        f"    server 127.0.0.1:{live_port} {parameters}\n",
    ).replace("listen 80;", f"listen 127.0.0.1:{listen_port};")
    # The gRPC face is not under test: its upstream gets the dead address, its port a free one.
    site = site.replace("server api:8001 ", f"server 127.0.0.1:{dead_port} ").replace(
        "listen 81 http2;", f"listen 127.0.0.1:{free_port()} http2;"
    )
    (tmp / "site.conf").write_text(site)
    main = tmp / "nginx.conf"
    main.write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n client_body_temp_path {tmp}/body;\n"
        f" proxy_temp_path {tmp}/proxy;\n include {tmp}/site.conf;\n}}\n"
    )
    return main


def test_a_replica_that_stopped_answering_costs_no_client_a_long_wait(tmp_path: Path) -> None:
    models = write_model_zoo(tmp_path / "models")
    listener, queued, dead_port = black_hole()
    listen_port = free_port()
    try:
        with running_service(models, tmp_path / "service.log", "--workers", "1") as service:
            config = proxy_config(tmp_path, service.port, dead_port, listen_port)
            nginx = subprocess.Popen(
                ["nginx", "-p", str(tmp_path), "-c", str(config), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            try:
                url = f"http://127.0.0.1:{listen_port}"
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        httpx.get(f"{url}/nginx-health", timeout=1)
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
                assert nginx.poll() is None, "nginx did not start: nginx -t the generated config"
                with Load(url, threads=CLIENTS) as load:
                    time.sleep(8)
            finally:
                nginx.terminate()
                nginx.wait(timeout=10)
    finally:
        queued.close()
        listener.close()
    result = load.result
    waited = sorted(o.seconds for o in result.outcomes if o.seconds >= 0.45)
    print(result.summary("through nginx, one replica dead"))
    print(f"requests that waited a connect timeout: {[round(s, 3) for s in waited]}")
    assert result.failed == 0, result.by_status
    # The requests already sent to the dead replica when the first connect timed out (one per
    # client at most) wait out the connect timeout (0.5 s) and are retried on the live one;
    # the dead one is then skipped for 30 s.
    assert len(waited) <= CLIENTS
    assert max(o.seconds for o in result.outcomes) < 1.0
