"""One benchmark run: every part in order, collected into one results document."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from bench import batching, loadgen, machine, v2
from bench.apps.ceiling import ANSWERS_ENV
from bench.apps.common import MODELS_DIR_ENV, load_card
from bench.apps.keras_models import describe
from bench.config import REFERENCE_MAX_CONNECTIONS, TARGET_CONNECTIONS, BenchConfig
from bench.inprocess import InProcessBench
from bench.payloads import Payload, payload
from bench.servers import (
    RunningServer,
    ServerSpec,
    app_spec,
    fetch,
    free_port,
    running,
    service_spec,
)

APP_MODULES = {
    "ceiling": "bench.apps.ceiling",
    "textbook": "bench.apps.textbook",
    "keras": "bench.apps.keras_app",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Run:
    def __init__(self, config: BenchConfig, command: str) -> None:
        self.config = config
        self.wrk = loadgen.ensure_wrk()
        self.payloads = {model: payload(model) for model in config.models}
        self.logs = config.out_dir / "logs"
        self.results: dict[str, Any] = {
            "command": command,
            "config": config.to_dict(),
            "machine": machine.describe(self.wrk),
            "payloads": {
                m: {"path": p.path, "bytes": len(p.body), "description": p.description}
                for m, p in self.payloads.items()
            },
            "inprocess": [],
            "http": [],
            "selection": [],
            "batching": {},
            "keras_models": {},
            "failures": [],
        }

    # -- helpers ---------------------------------------------------------------------------
    def _warm(self, server: RunningServer, body: Payload, connections: int) -> None:
        """Discarded load, then a pause until the server has drained it.

        When wrk stops, the requests still in flight on its closed connections are still
        computed by the server (an `async def` Keras endpoint never notices the client left),
        so the next run would start behind a backlog. It drains within about the slowest
        latency seen while warming up.
        """
        cfg = self.config
        # Keras traces its predict function on first use in each worker: warm it up longer.
        seconds = max(cfg.warmup_s, 5) if server.spec.name == "keras" else cfg.warmup_s
        warm = loadgen.run_wrk(self.wrk, server.url, body, connections, seconds, cfg.wrk_threads)
        drain_s = warm.max_ms / 1000 + 0.2 if warm.requests else 10.0
        time.sleep(min(drain_s, 30.0))

    def _load(self, server: RunningServer, body: Payload, connections: int) -> loadgen.LoadResult:
        cfg = self.config
        self._warm(server, body, connections)
        return loadgen.with_cpu(
            server.process.pid,
            lambda: loadgen.run_wrk(
                self.wrk, server.url, body, connections, cfg.duration_s, cfg.wrk_threads
            ),
        )

    @contextmanager
    def _server(self, spec: ServerSpec) -> Iterator[RunningServer | None]:
        """The running server, or None if it did not start; a failure while it is measured
        is recorded and ends that server's part, so one app cannot lose the rest of the run."""
        started = time.monotonic()
        with ExitStack() as stack:
            try:
                server = stack.enter_context(
                    running(spec, next(iter(self.payloads.values())), self.logs)
                )
            except Exception as exc:
                self._failed(spec.name, exc)
                yield None
                return
            log(f"{spec.name} ready in {time.monotonic() - started:.1f} s at {server.url}")
            try:
                yield server
            except Exception as exc:
                self._failed(spec.name, exc)

    def _failed(self, app: str, exc: Exception) -> None:
        log(f"{app} failed: {type(exc).__name__}: {exc}")
        self.results["failures"].append(
            {"app": app, "error": f"{type(exc).__name__}: {exc}"[-3000:]}
        )

    def _env(self) -> dict[str, str]:
        return {MODELS_DIR_ENV: str(self.config.models_dir.resolve())}

    def _service_env(self, threads: int, grpc_port: int = 0) -> dict[str, str]:
        env = {
            "RNN_SERVE_ORT_INTRA_OP_THREADS": str(threads),
            "RNN_SERVE_GRPC_PORT": str(grpc_port),
            **self.config.service_env,
        }
        return {**self._env(), **env}

    # -- parts -----------------------------------------------------------------------------
    def service(self) -> None:
        """(c) the service at every concurrency; batching counters around the target point."""
        cfg = self.config
        grpc_port = free_port() if cfg.v2 else 0
        spec = service_spec(
            cfg.models_dir.resolve(), cfg.workers, self._service_env(cfg.ort_threads, grpc_port)
        )
        with self._server(spec) as server:
            if server is None:
                return
            self._capture_answers(server)
            for model, body in self.payloads.items():
                v2_loads = self._checked_v2_loads(server, model, grpc_port) if cfg.v2 else {}
                for connections in cfg.connections:
                    # Rounds interleave native and V2 points, in an order reversed every
                    # round, so that a drift in the machine's other load hits both alike (the
                    # V2 / native target takes the median); only the target's concurrency has
                    # more than one.
                    rounds = cfg.v2_rounds if connections == TARGET_CONNECTIONS else 1
                    for round_ in range(rounds if v2_loads else 1):
                        native = partial(self._native_point, server, model, body, round_=round_)
                        points: list[tuple[str, Callable[[int], loadgen.LoadResult]]] = [
                            *((f"service-{name}", load) for name, load in v2_loads.items()),
                            ("service", native),
                        ]
                        for app, load in points[:: -1 if round_ % 2 else 1]:
                            self._record("http", app, model, load(connections), round_=round_)

    def _native_point(
        self, server: RunningServer, model: str, body: Payload, connections: int, round_: int
    ) -> loadgen.LoadResult:
        """One native point; the batching counters are read around the first at 32 clients."""
        cfg = self.config
        if connections != TARGET_CONNECTIONS or round_:
            return self._load(server, body, connections)
        name = load_card(model, cfg.models_dir)[1].name
        self._warm(server, body, connections)
        result, batches = batching.around(
            server.url,
            name,
            cfg.workers,
            lambda: loadgen.with_cpu(
                server.process.pid,
                lambda: loadgen.run_wrk(
                    self.wrk, server.url, body, connections, cfg.duration_s, cfg.wrk_threads
                ),
            ),
        )
        self.results["batching"][model] = batches.to_dict()
        return result

    def _checked_v2_loads(
        self, server: RunningServer, model: str, grpc_port: int
    ) -> dict[str, Callable[[int], loadgen.LoadResult]]:
        try:
            return self._v2_loads(server, model, grpc_port)
        except Exception as exc:  # recorded; the native points still run
            self._failed(f"service-v2 ({model})", exc)
            return {}

    def _v2_loads(
        self, server: RunningServer, model: str, grpc_port: int
    ) -> dict[str, Callable[[int], loadgen.LoadResult]]:
        """One load function per V2 protocol, each checked once with a real request first."""
        cfg = self.config
        name = load_card(model, cfg.models_dir)[1].name
        loads: dict[str, Callable[[int], loadgen.LoadResult]] = {}
        for protocol, body in (
            ("v2-json", v2.json_payload(model, name)),
            ("v2-binary", v2.binary_payload(model, name)),
        ):
            answer = fetch(server.url, body.path, body.body, headers=dict(body.headers))
            answer.raise_for_status()
            loads[protocol] = partial(self._load, server, body)
        request = v2.grpc_request(model, name)
        address = f"127.0.0.1:{grpc_port}"
        v2.check_grpc(address, request)
        h2load = v2.ensure_h2load()
        frame = v2.grpc_frame(request)

        def grpc_load(connections: int) -> loadgen.LoadResult:
            v2.run_h2load(h2load, address, frame, connections, cfg.warmup_s)  # discarded
            return loadgen.with_cpu(
                server.process.pid,
                lambda: v2.run_h2load(h2load, address, frame, connections, cfg.duration_s),
            )

        loads["v2-grpc"] = grpc_load
        return loads

    def _capture_answers(self, server: RunningServer) -> None:
        """The service's real answers, so the HTTP ceiling answers bodies of the same size."""
        answers = {}
        for body in self.payloads.values():
            answer = fetch(server.url, body.path, body.body)
            answer.raise_for_status()
            answers[body.path] = answer.text
        path = self.config.out_dir / "ceiling-answers.json"
        path.write_text(json.dumps(answers, indent=1) + "\n", encoding="utf-8")
        self.results["answers"] = {route: len(text) for route, text in answers.items()}

    def inprocess(self) -> None:
        """(a) onnxruntime alone per batch size, plus the batch size the batcher reached."""
        cfg = self.config
        reached = {
            model: max(1, round(stats["average_batch_rows"]))
            for model, stats in self.results["batching"].items()
            if stats["batches"] > 0 and stats.get("complete", False)
        }
        with InProcessBench(cfg.models_dir.resolve(), cfg.workers, cfg.ort_threads) as bench:
            for model in cfg.models:
                sizes = sorted({*cfg.batch_sizes, *([reached[model]] if model in reached else [])})
                for size in sizes:
                    result = bench.measure(model, size, cfg.inprocess_s)
                    log(f"in-process {model} batch {size}: {result.rows_per_s:,.0f} rows/s")
                    self.results["inprocess"].append(result.to_dict())

    def baseline(self, app: str) -> None:
        """(b) the HTTP ceiling, (d) the textbook and Keras apps, same uvicorn settings."""
        cfg = self.config
        env = self._env()
        answers = cfg.out_dir / "ceiling-answers.json"
        if app == "ceiling" and answers.exists():
            env[ANSWERS_ENV] = str(answers.resolve())
        if app == "keras":
            for model in cfg.models:
                _, card = load_card(model, cfg.models_dir)
                self.results["keras_models"][model] = describe(model, card)
        with self._server(app_spec(app, APP_MODULES[app], cfg.workers, env)) as server:
            if server is None:
                return
            reference = app in ("textbook", "keras")
            for model, body in self.payloads.items():
                for connections in cfg.connections:
                    if reference and connections > REFERENCE_MAX_CONNECTIONS:
                        continue
                    self._record("http", app, model, self._load(server, body, connections))

    def selection(self) -> None:
        """Service at 32 clients for each workers x ORT threads pair: what chose the defaults."""
        cfg = self.config
        connections = max(c for c in cfg.connections if c <= TARGET_CONNECTIONS)
        for workers in cfg.selection_workers:
            for threads in cfg.selection_threads:
                spec = service_spec(cfg.models_dir.resolve(), workers, self._service_env(threads))
                with self._server(spec) as server:
                    if server is None:
                        continue
                    for model, body in self.payloads.items():
                        result = self._load(server, body, connections)
                        self._record("selection", "service", model, result, workers, threads)

    def _record(
        self,
        section: str,
        app: str,
        model: str,
        result: loadgen.LoadResult,
        workers: int | None = None,
        threads: int | None = None,
        round_: int = 0,
    ) -> None:
        entry = {
            "app": app,
            "model": model,
            "round": round_,
            "workers": workers or self.config.workers,
            "ort_threads": threads or (self.config.ort_threads if app == "service" else None),
            **result.to_dict(),
        }
        log(
            f"{section} {app:8s} {model:9s} c={result.connections:<3d} "
            f"{result.throughput:9,.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
            f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}"
        )
        self.results[section].append(entry)

    def all(self, on_part: Callable[[], None] | None = None) -> dict[str, Any]:
        started, ticks_at_start = time.monotonic(), machine.cpu_ticks()
        steps: list[tuple[str, Callable[[], None]]] = []
        if "service" in self.config.apps:
            steps.append(("service", self.service))
        steps.append(("in-process", self.inprocess))
        for app in ("ceiling", "textbook", "keras"):
            if app in self.config.apps:
                steps.append((app, partial(self.baseline, app)))
        if "service" in self.config.apps:
            steps.append(("selection", self.selection))
        for name, step in steps:
            log(f"--- {name}")
            try:
                step()
            except Exception as exc:  # record it and go on with the other parts
                self._failed(name, exc)
            if on_part is not None:
                on_part()
        self.results["duration_s"] = round(time.monotonic() - started, 1)
        self.results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        self.results["machine"]["steal_percent"] = machine.steal_percent(
            ticks_at_start, machine.cpu_ticks()
        )
        return self.results


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
