"""The application factory. Models load in the lifespan, never at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from service import pipeline
from service.api import fastpath, forecast, handlers, health, models, sentiment
from service.config import Settings
from service.payload import Limits
from service.registry import ModelLoadError, Registry

logger = logging.getLogger("service")


class ServiceApp(FastAPI):
    """FastAPI, except that the data-plane POSTs take the ASGI fast path (service.api.fastpath)."""

    fast_path = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        app.state.registry = registry
        app.state.ready = True
        logger.info(
            "ready: %s",
            ", ".join(f"{model.name}/{model.version}" for model in registry.all()),
        )
        try:
            yield
        finally:
            app.state.ready = False
            for model in registry.all():
                await model.batcher.stop()

    app = ServiceApp(
        title="rnn-serving",
        version="0.1.0",
        description="Recurrent forecasting and sentiment models served with onnxruntime.",
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry hooks check their providers on every request;
        # nothing here exports traces, and the check costs ~10% of a forecast request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.fast_path = settings.fast_path
    app.state.settings = settings
    app.state.limits = Limits(
        max_items=settings.max_items,
        max_series_length=settings.max_series_length,
        max_text_chars=settings.max_text_chars,
    )
    app.state.registry = None
    app.state.ready = False
    handlers.install(app)
    for router in (health.router, models.router, forecast.router, sentiment.router):
        app.include_router(router)
    return app


def create_app_from_env() -> ServiceApp:
    """For `uvicorn --factory` (each worker process reads the RNN_SERVE_* variables)."""
    return create_app(Settings())
