"""The application factory. Models load in the lifespan, never at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api import forecast, handlers, health, models, sentiment
from service.api.fastpath import FastPathMiddleware
from service.config import Settings
from service.payload import Limits
from service.registry import ModelLoadError, Registry

logger = logging.getLogger("service")


def create_app(settings: Settings | None = None) -> FastAPI:
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

    app = FastAPI(
        title="rnn-serving",
        version="0.1.0",
        description="Recurrent forecasting and sentiment models served with onnxruntime.",
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry hooks check their providers on every request;
        # nothing here exports traces, and the check costs ~10% of a forecast request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.limits = Limits(
        max_items=settings.max_items,
        max_series_length=settings.max_series_length,
        max_text_chars=settings.max_text_chars,
    )
    app.state.registry = None
    app.state.ready = False
    handlers.install(app)
    if settings.fast_path:
        app.add_middleware(FastPathMiddleware, state=app.state)
    for router in (health.router, models.router, forecast.router, sentiment.router):
        app.include_router(router)
    return app


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory` (each worker process reads the RNN_SERVE_* variables)."""
    return create_app(Settings())
