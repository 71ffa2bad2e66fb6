"""Resource samples during a run: the service's memory and CPU, the load generator's CPU.

The service is one process tree (uvicorn and its workers): its RSS is the sum over the tree.
Give its pid, or let `find_server_pid` find the process listening on the URL's port.
"""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil

SAMPLE_FIELDS = (
    "time",
    "server_rss_bytes",
    "server_cpu_percent",
    "locust_cpu_percent",
    "machine_cpu_percent",
)


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_rss(pid: int) -> int:
    total = 0
    for process in _tree(pid):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def find_server_pid(url: str) -> int | None:
    """The top process listening on the URL's port on this machine, if the host is local."""
    parts = urlsplit(url)
    if parts.hostname not in {"127.0.0.1", "localhost", "::1", "0.0.0.0"}:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    pids = {
        c.pid
        for c in connections
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }
    if not pids:
        return None
    # Processes sharing one listening socket (uvicorn's main process and its workers) show
    # up under one of them only: climb to the topmost ancestor that holds the port too.
    pid = min(pids)
    try:
        process = psutil.Process(pid)
        while (parent := process.parent()) is not None and _listens_on(parent, port):
            process = parent
        return process.pid
    except psutil.NoSuchProcess:
        return None


def _listens_on(process: psutil.Process, port: int) -> bool:
    try:
        connections = process.net_connections(kind="tcp")
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        return False
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections
    )


@dataclass(frozen=True)
class Sample:
    time: float
    server_rss_bytes: int | None
    server_cpu_percent: float | None
    locust_cpu_percent: float | None
    machine_cpu_percent: float | None = None  # every process on the machine, 100 = one core


class Sampler:
    """Samples once per `interval` seconds in a background thread until `stop`."""

    def __init__(self, server_pid: int | None, locust_pid: int | None, interval: float = 1.0):
        self.server_pid = server_pid
        self.locust_pid = locust_pid
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._cpu: dict[int, psutil.Process] = {}

    def _cpu_percent(self, pid: int | None, tree: bool) -> float | None:
        if pid is None:
            return None
        try:
            processes = _tree(pid) if tree else [psutil.Process(pid)]
        except psutil.NoSuchProcess:
            return None
        total = 0.0
        for process in processes:
            cached = self._cpu.setdefault(process.pid, process)  # keeps the previous reading
            try:
                total += cached.cpu_percent(interval=None)
            except psutil.NoSuchProcess:
                continue
        return total

    def sample(self) -> Sample:
        rss: int | None = None
        if self.server_pid is not None:
            try:
                rss = tree_rss(self.server_pid)
            except psutil.NoSuchProcess:
                rss = None
        return Sample(
            time=time.time(),
            server_rss_bytes=rss,
            server_cpu_percent=self._cpu_percent(self.server_pid, tree=True),
            locust_cpu_percent=self._cpu_percent(self.locust_pid, tree=False),
            machine_cpu_percent=psutil.cpu_percent(interval=None) * (psutil.cpu_count() or 1),
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.sample())

    def start(self) -> None:
        self.sample()  # primes the CPU counters
        self._thread.start()

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.samples


def write_samples(samples: list[Sample], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SAMPLE_FIELDS)
        for s in samples:
            writer.writerow(
                (
                    f"{s.time:.3f}",
                    "" if s.server_rss_bytes is None else s.server_rss_bytes,
                    "" if s.server_cpu_percent is None else f"{s.server_cpu_percent:.1f}",
                    "" if s.locust_cpu_percent is None else f"{s.locust_cpu_percent:.1f}",
                    "" if s.machine_cpu_percent is None else f"{s.machine_cpu_percent:.1f}",
                )
            )


def read_samples(path: Path) -> list[Sample]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            Sample(
                time=float(row["time"]),
                server_rss_bytes=int(row["server_rss_bytes"]) if row["server_rss_bytes"] else None,
                server_cpu_percent=float(v) if (v := row["server_cpu_percent"]) else None,
                locust_cpu_percent=float(v) if (v := row["locust_cpu_percent"]) else None,
                machine_cpu_percent=float(v) if (v := row.get("machine_cpu_percent")) else None,
            )
            for row in csv.DictReader(handle)
        ]
