"""uvicorn as `python -m service` runs it: the limited protocol, and a supervisor that keeps
the other workers serving while it replaces one that died."""

from __future__ import annotations

import logging
import time
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from service import metrics
from service.config import Settings
from service.limits import ConnectionLimits
from service.logs import log_config

EXIT_BAD_CONFIG = 2  # settings, models directory or models that cannot be served
# A replacement worker that fails to start is tried again after this, doubling up to the max.
RESTART_BACKOFF_S = 1.0
RESTART_BACKOFF_MAX_S = 30.0

logger = logging.getLogger("service")


class ServiceConfig(uvicorn.Config):
    """uvicorn's Config carrying the connection limits (pickled into every worker)."""

    def __init__(self, connection_limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connection_limits = connection_limits

    def load(self) -> None:
        # In the worker: its own descriptor limit decides the connection cap.
        self.connection_limits = self.connection_limits.fitted_to_descriptors()
        super().load()


def uvicorn_config(settings: Settings) -> ServiceConfig:
    from service.protocol import LimitedHttpToolsProtocol

    return ServiceConfig(
        ConnectionLimits.from_settings(settings),
        app="service.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http=LimitedHttpToolsProtocol,
        lifespan="on",
        access_log=False,  # the JSON access log of service.edge replaces uvicorn's
        log_level=settings.log_level,
        log_config=log_config(settings.log_level),
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        timeout_keep_alive=settings.keep_alive_s,
        proxy_headers=False,  # not behind a proxy by default; saves a middleware per request
        server_header=False,
    )


class Supervisor(Multiprocess):
    """uvicorn's Multiprocess, except when a worker dies:

    - its live gauges leave the Prometheus directory (else the in-flight gauge keeps the
      dead process's last value for ever); its counters stay, they were answered requests;
    - a replacement that fails to start (say a models directory emptied meanwhile) is tried
      again with a backoff while the other workers keep serving, instead of uvicorn's stop
      of the whole service. Only a worker of the first start failing stops it (exit 2).
    """

    def __init__(self, config: uvicorn.Config, sockets: list[Any]) -> None:
        super().__init__(config, sockets)
        # The first workers' Process objects themselves: the id() of a freed one can be
        # reused by a replacement, which would then pass for a first worker and stop it all.
        self._first: list[Process] = []
        self._backoff: dict[int, float] = {}  # slot -> current backoff
        self._due: dict[int, float] = {}  # slot -> monotonic time of its next start

    def init_processes(self) -> None:
        super().init_processes()
        self._first = list(self.processes)

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if slot in self._due:
                if time.monotonic() >= self._due[slot]:
                    del self._due[slot]
                    self._replace(slot)
                continue
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung or dead
            process.join()
            worker_exited(process.pid, process.exitcode)
            if process.exitcode == STARTUP_FAILURE:
                if self._is_first(process):
                    logger.error("a worker failed to start: stopping", extra={"pid": process.pid})
                    self.should_exit.set()
                    return
                wait = self._backoff.get(slot, RESTART_BACKOFF_S / 2) * 2
                self._backoff[slot] = min(wait, RESTART_BACKOFF_MAX_S)
                self._due[slot] = time.monotonic() + self._backoff[slot]
                continue
            self._backoff.pop(slot, None)  # it had been serving
            if self.should_exit.is_set():
                return
            self._replace(slot)

    def _replace(self, slot: int) -> None:
        process = Process(self.config, self.sockets)
        process.start()
        self.processes[slot] = process

    def _is_first(self, process: Process) -> bool:
        return any(process is first for first in self._first)

    def first_start_failed(self) -> bool:
        return any(
            process.exitcode == STARTUP_FAILURE and self._is_first(process)
            for process in self.processes
        )


def worker_exited(pid: int | None, exitcode: int | None) -> None:
    logger.warning("worker exited", extra={"pid": pid, "exitcode": exitcode})
    directory = metrics.multiprocess_dir()
    if directory is not None and pid is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)


def serve(settings: Settings) -> int:
    """Run uvicorn; a worker failing at the first start makes the exit status 2 (uvicorn's
    multi-worker supervisor stops with status 0 then)."""
    config = uvicorn_config(settings)
    if settings.workers == 1:
        server = uvicorn.Server(config)
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits with its own status on a failed start
            if exc.code == STARTUP_FAILURE:
                return EXIT_BAD_CONFIG
            raise
        return 0 if server.started else EXIT_BAD_CONFIG
    supervisor = Supervisor(config, sockets=[config.bind_socket()])
    supervisor.run()
    return EXIT_BAD_CONFIG if supervisor.first_start_failed() else 0
