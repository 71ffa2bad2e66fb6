"""deploy/nginx.conf in front of one live replica and one that no longer answers connects."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx

from loadtest.chaos.load import Load
from loadtest.chaos.report import ScenarioReport
from loadtest.chaos.zoo import zoo
from loadtest.process import REPO, ensure_debian_command, free_port, running_service

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
    if UPSTREAM_LINE not in site:
        raise AssertionError("the upstream line of deploy/nginx.conf changed: update this")
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


def replica_that_stopped_answering(workdir: Path) -> ScenarioReport:
    report = ScenarioReport("nginx over one live replica and one dead")
    nginx_command = ensure_debian_command("nginx", "nginx-light")
    models = zoo(workdir / "models")
    listener, queued, dead_port = black_hole()
    listen_port = free_port()
    try:
        with running_service(models, "--workers", "1", logs=workdir / "logs") as service:
            live_port = service.port
            config = proxy_config(workdir, live_port, dead_port, listen_port)
            nginx = subprocess.Popen(
                [nginx_command, "-p", str(workdir), "-c", str(config), "-g", "daemon off;"],
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
                if nginx.poll() is not None:
                    raise AssertionError("nginx did not start: nginx -t the generated config")
                with Load(url, threads=CLIENTS) as load:
                    time.sleep(8)
            finally:
                nginx.terminate()
                nginx.wait(timeout=10)
    finally:
        queued.close()
        listener.close()
    result = report.record("through nginx, one replica dead", load.result)
    # nginx's X-Upstream lists every replica it tried: "dead, live" for a retried request.
    tried = [o.upstream or "" for o in result.outcomes]
    dead, live = f"127.0.0.1:{dead_port}", f"127.0.0.1:{live_port}"
    retried = [o for o, went in zip(result.outcomes, tried, strict=True) if dead in went]
    start = min((o.started for o in result.outcomes), default=0.0)
    report.note(
        "sent to the dead replica first (seconds taken, started at): "
        f"{[(round(o.seconds, 3), round(o.started - start, 3)) for o in retried]}"
    )
    slow = [round(o.seconds, 3) for o in result.outcomes if o.seconds >= 0.25 and o not in retried]
    report.note(f"slow without going to the dead replica: {slow}")
    report.expect("none failed", result.failed == 0, result.by_status)
    report.expect("every answer names the replicas tried", all(tried), tried.count(""))
    # The requests already sent to the dead replica when the first connect timed out (one per
    # client at most) wait out the connect timeout (0.5 s) and are retried on the live one;
    # the dead one is then skipped for 30 s.
    report.expect(
        f"at most {CLIENTS} sent to the dead replica", len(retried) <= CLIENTS, len(retried)
    )
    report.expect(
        "those waited out the connect timeout, then the live replica answered",
        all(o.seconds >= 0.45 and (o.upstream or "").endswith(live) for o in retried),
        [(round(o.seconds, 3), o.upstream) for o in retried],
    )
    slowest = max(o.seconds for o in result.outcomes)
    report.expect("none waited 1 s or more", slowest < 1.0, f"{slowest:.3f} s")
    return report
