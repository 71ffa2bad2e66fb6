"""uvicorn as `python -m service` runs it: the limited protocol, workers that share new
connections evenly, and a supervisor that keeps the other workers serving while it replaces
one that died."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from service import metrics
from service.balance import AcceptBoard, BalancedAcceptor
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
        self.accept_board: AcceptBoard | None = None  # set by the supervisor to balance

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


class BalancedServer(uvicorn.Server):
    """A worker's uvicorn server that accepts on the shared sockets through the supervisor's
    board (`service.balance`) instead of letting the event loop accept whatever arrives."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._acceptors: list[BalancedAcceptor] = []
        self._slot: int | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        board: AcceptBoard | None = getattr(self.config, "accept_board", None)
        self._slot = board.claim(os.getpid()) if board is not None and sockets else None
        if board is None or sockets is None or self._slot is None:
            if board is not None and sockets:
                logger.warning("no free slot on the accept board: accepting unbalanced")
            await super().startup(sockets)
            return
        await super().startup([])  # lifespan and start-up flag; no listener of uvicorn's
        slot = self._slot
        self._acceptors = [
            BalancedAcceptor(
                sock,
                board,
                slot,
                self._create_protocol,
                lambda: len(self.server_state.connections),
                self.config.backlog,
            )
            for sock in sockets
        ]

    def _create_protocol(self, _loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
        # What uvicorn's own startup builds for each connection.
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
            _loop=_loop,
        )
        return protocol

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for acceptor in self._acceptors:
            acceptor.close()
        board: AcceptBoard | None = getattr(self.config, "accept_board", None)
        if board is not None and self._slot is not None:
            board.release(self._slot)
        await super().shutdown(sockets)


class BalancedProcess(Process):
    """uvicorn's worker process, running `BalancedServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = BalancedServer(config=self.config)
        return self._server


class Supervisor(Multiprocess):
    """uvicorn's Multiprocess, except when a worker dies:

    - its live gauges leave the Prometheus directory (else the in-flight gauge keeps the
      dead process's last value for ever); its counters stay, they were answered requests;
    - a replacement that fails to start (say a models directory emptied meanwhile) is tried
      again with a backoff while the other workers keep serving, instead of uvicorn's stop
      of the whole service. Only a worker of the first start failing stops it (exit 2).
    """

    def __init__(
        self, config: uvicorn.Config, sockets: list[Any], balance_accepts: bool = True
    ) -> None:
        super().__init__(config, sockets)
        if balance_accepts and isinstance(config, ServiceConfig):
            # Room for replacements started before the worker they replace has gone.
            config.accept_board = AcceptBoard(slots=2 * self.processes_num + 2)
        # The first workers' Process objects themselves: the id() of a freed one can be
        # reused by a replacement, which would then pass for a first worker and stop it all.
        self._first: list[Process] = []
        self._backoff: dict[int, float] = {}  # slot -> current backoff
        self._due: dict[int, float] = {}  # slot -> monotonic time of its next start

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            self.processes.append(self._start_process())
        self._first = list(self.processes)

    def _start_process(self) -> Process:
        process = BalancedProcess(self.config, self.sockets)
        process.start()
        return process

    def restart_all(self) -> None:
        """uvicorn's SIGHUP restart (each replacement serving before its predecessor is
        retired), with this service's workers."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start_process()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error("a restarted worker was not ready: restart aborted")
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def handle_ttin(self) -> None:
        logger.info("SIGTTIN: one more worker")
        self.processes_num += 1
        self.processes.append(self._start_process())

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
        self.processes[slot] = self._start_process()

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
    supervisor = Supervisor(
        config, sockets=[config.bind_socket()], balance_accepts=settings.balance_accepts
    )
    supervisor.run()
    return EXIT_BAD_CONFIG if supervisor.first_start_failed() else 0
