"""The application factory. Models load in the lifespan, never at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from service import metrics, pipeline
from service.api import admin, docs, fastpath, forecast, handlers, health, models, sentiment
from service.api import metrics as metrics_api
from service.config import Settings
from service.edge import Edge
from service.logs import AccessLog, flush_periodically
from service.payload import Limits
from service.registry import ModelLoadError, Registry
from service.reload import Reloader

logger = logging.getLogger("service")


class ServiceApp(FastAPI):
    """FastAPI, except that the data-plane POSTs take the ASGI fast path (service.api.fastpath)."""

    fast_path = True
    edge: Edge | None = None  # request id, access log, metrics, API key, CORS (service.edge)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.edge is not None and scope["type"] == "http":
            await self.edge(scope, receive, send)
        else:
            await self.route_request(scope, receive, send)

    async def route_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path and scope["type"] == "http" and scope["method"] == "POST":
            handler = pipeline.HANDLERS.get(scope["path"])
            if handler is not None:
                await fastpath.serve(self.state, handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> ServiceApp:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            registry = Registry.load(settings)
        except ModelLoadError as exc:
            logger.error("cannot start: %s", exc)
            raise
        for model in registry.all():
            model.batcher.start()
            metrics.set_model_info(model.name, model.version, model.card.task, model.card.sha256)
        app.state.registry = registry
        app.state.ready = True
        logger.info(
            "ready: %s",
            ", ".join(f"{model.name}/{model.version}" for model in registry.all()),
        )
        access_log = edge.access_log
        background: list[asyncio.Task[None]] = []
        if metrics.multiprocess_dir() is not None:  # else each scrape flushes this process
            background.append(asyncio.create_task(metrics.flush_periodically(1.0)))
        if access_log is not None:
            background.append(asyncio.create_task(flush_periodically(access_log, 1.0)))
        if settings.reload_interval_s > 0:
            background.append(asyncio.create_task(app.state.reloader.run()))
        try:
            yield
        finally:
            app.state.ready = False
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for model in app.state.registry.all():  # hot reload may have added versions
                await model.batcher.stop()
            if access_log is not None:
                access_log.flush()

    app = ServiceApp(
        title="rnn-serving",
        version="0.1.0",
        description="Recurrent forecasting and sentiment models served with onnxruntime.",
        lifespan=lifespan,
        docs_url=None,  # service.api.docs serves them without a CDN
        redoc_url=None,
        # FastAPI's built-in OpenTelemetry hooks check their providers on every request;
        # nothing here exports traces, and the check costs ~10% of a forecast request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.fast_path = settings.fast_path
    edge = Edge(app.route_request, settings, AccessLog() if settings.access_log else None)
    app.edge = edge
    app.state.settings = settings
    app.state.limits = Limits(
        max_items=settings.max_items,
        max_series_length=settings.max_series_length,
        max_text_chars=settings.max_text_chars,
    )
    app.state.registry = None
    app.state.ready = False
    app.state.reloader = Reloader(app.state, settings)
    handlers.install(app)
    docs.install(app)
    for router in (
        health.router,
        models.router,
        forecast.router,
        sentiment.router,
        metrics_api.router,
    ):
        app.include_router(router)
    if settings.api_key:  # the admin endpoints exist only behind an API key
        app.include_router(admin.router)
    return app


def create_app_from_env() -> ServiceApp:
    """For `uvicorn --factory` (each worker process reads the RNN_SERVE_* variables)."""
    return create_app(Settings())
