"""The sampled server process: the top of a tree of processes sharing one listening socket."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from loadtest.resources import find_server_pid

# A parent that listens and hands its socket to two children, like uvicorn with 2 workers.
PARENT = """
import socket, subprocess, sys, time
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen()
child = [sys.executable, "-c", "import time; time.sleep(60)"]
children = [subprocess.Popen(child, pass_fds=[sock.fileno()]) for _ in range(2)]
print(sock.getsockname()[1], flush=True)
time.sleep(60)
"""


def test_the_main_process_is_found_not_a_worker() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        port = int(parent.stdout.readline())
        time.sleep(0.5)  # the children have started and hold the socket
        assert find_server_pid(f"http://127.0.0.1:{port}") == parent.pid
    finally:
        parent.kill()
        parent.wait()


@pytest.mark.parametrize("url", ["http://example.com:8000", "http://127.0.0.1:1"])
def test_no_pid_for_remote_or_unused_ports(url: str) -> None:
    assert find_server_pid(url) is None
