"""The application factory. Models load in the lifespan, never at import time.

`ServiceApp` is FastAPI for the control endpoints (health, models, metrics, admin, docs);
the data-plane routes of the registered tasks go to `service.dataplane` before FastAPI's
router, and `service.edge` wraps every HTTP request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from service import metrics
from service.api import admin, docs, handlers, health, models
from service.api import metrics as metrics_api
from service.config import Settings
from service.dataplane import DataPlane
from service.edge import Edge
from service.heap import freeze_long_lived
from service.loading import ModelLoadError
from service.logs import AccessLog, flush_periodically
from service.openapi import add_data_plane
from service.reload import ModelLoader
from service.state import ServiceState
from service.termination import on_termination
from service.v2.grpc_limits import GrpcLimits
from service.v2.grpc_server import GrpcServer, InferenceServicer, rpc_observer
from service.v2.http import V2Http, is_v2
from service.v2.openapi import add_v2
from service.v2.service_backend import DataPlaneBackend

logger = logging.getLogger("service")


class ServiceApp(FastAPI):
    """FastAPI, except that the data-plane routes take `DataPlane` and `Edge` wraps it all."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.service_state = ServiceState()
        self.loader = ModelLoader(self.service_state, settings)
        self.data_plane = DataPlane(self.service_state, settings)
        self.v2_backend = DataPlaneBackend(self.service_state, self.data_plane.limits)
        self.v2_http = V2Http(self.v2_backend, settings.max_body_bytes)
        self.edge = Edge(self.route_request, settings, AccessLog() if settings.access_log else None)
        self.grpc_server: GrpcServer | None = None
        self._openapi_for: object = None  # the snapshot the cached document describes
        self.start_error: str | None = None  # why the models or the gRPC server could not start

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.edge(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.route_request(scope, receive, self._quiet_start_failure(send))
        else:
            await self.route_request(scope, receive, send)

    def _quiet_start_failure(self, send: Send) -> Send:
        """A start that failed on the models is one logged line, not a traceback."""

        async def send_lifespan(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self.start_error is not None:
                message = {**message, "message": ""}
            await send(message)

        return send_lifespan

    async def route_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            task = self.data_plane.task_for(scope["path"])
            if task is not None:
                await self.data_plane(task, scope, receive, send)
                return
            if is_v2(scope["path"]):
                await self.v2_http(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        snapshot = self.service_state.snapshot
        if self.openapi_schema is None or self._openapi_for is not snapshot:
            self.openapi_schema = None
            document = super().openapi()
            registry = snapshot.registry if snapshot is not None else None
            add_data_plane(document, self.data_plane.limits, registry)
            add_v2(document)
            self._openapi_for = snapshot
        return self.openapi_schema or {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    assert isinstance(app, ServiceApp)
    settings, state = app.settings, app.service_state
    try:
        snapshot = await asyncio.to_thread(app.loader.load_initial)
    except ModelLoadError as exc:
        app.start_error = str(exc)
        logger.error("cannot start: %s", exc)
        raise
    for model in snapshot.registry.all():
        model.batcher.start()
        metrics.set_model_info(model.name, model.version, model.card.task, model.card.sha256)
    state.publish(snapshot)
    if settings.grpc_port:
        app.grpc_server = grpc_server(app)
        try:
            await app.grpc_server.start()
        except OSError as exc:  # e.g. the port is taken: one line, like a model that fails
            app.start_error = str(exc)
            logger.error("cannot start: %s", exc)
            for model in snapshot.registry.all():
                await model.batcher.stop()
            raise
        started = app.grpc_server
        on_termination(lambda: started.begin_stop(settings.shutdown_timeout_s))
    freeze_long_lived()
    state.ready = True
    logger.info("ready: %s", ", ".join(f"{m.name}/{m.version}" for m in snapshot.registry.all()))
    access_log = app.edge.access_log
    background: list[asyncio.Task[None]] = []
    if metrics.multiprocess_dir() is not None:  # else each scrape flushes this process
        background.append(
            asyncio.create_task(metrics.flush_periodically(settings.flush_interval_s))
        )
    if access_log is not None:
        background.append(
            asyncio.create_task(flush_periodically(access_log, settings.flush_interval_s))
        )
    if settings.reload_interval_s > 0:
        background.append(asyncio.create_task(app.loader.run()))
    try:
        yield
    finally:
        state.ready = False
        if app.grpc_server is not None:  # stopped at the signal already, if there was one
            await app.grpc_server.stop(settings.shutdown_timeout_s)
            app.grpc_server = None
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        final = state.snapshot
        for model in final.registry.all() if final is not None else []:
            await model.batcher.stop()
        if access_log is not None:
            access_log.flush()


def grpc_server(app: ServiceApp) -> GrpcServer:
    """This worker's gRPC server of the protocol; its calls are logged and counted like HTTP."""
    settings, edge = app.settings, app.edge
    servicer = InferenceServicer(
        app.v2_backend,
        api_key=settings.api_key,
        observer=rpc_observer(edge.recorder, edge.access_log),
        request_ids=edge.request_ids.take,
    )
    return GrpcServer(
        servicer,
        settings.host,
        settings.grpc_port,
        reuse_port=settings.workers > 1,
        limits=GrpcLimits.from_settings(settings),
    )


def create_app(settings: Settings | None = None) -> ServiceApp:
    settings = settings or Settings()
    app = ServiceApp(
        settings,
        title="rnn-serving",
        version="0.1.0",
        description="Recurrent forecasting and sentiment models served with onnxruntime.",
        lifespan=lifespan,
        redirect_slashes=False,  # "/models/" gets the 404 error body, not an empty redirect
        docs_url=None,  # service.api.docs serves them without a CDN
        redoc_url=None,
        # FastAPI's built-in OpenTelemetry hooks check their providers on every request;
        # nothing here exports traces, and the check costs ~10% of a forecast request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    handlers.install(app)
    docs.install(app)
    for router in (health.router, models.router, metrics_api.router):
        app.include_router(router)
    if settings.api_key:  # the admin endpoints exist only behind an API key
        app.include_router(admin.router)
    return app


def create_app_from_env() -> ServiceApp:
    """For `uvicorn --factory` (each worker process reads the RNN_SERVE_* variables)."""
    return create_app(Settings())
