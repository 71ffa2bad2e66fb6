"""`python -m service --host H --port P --models-dir D ...`: serve with uvicorn."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile

from pydantic import ValidationError

from service.config import ENV_PREFIX, Settings
from service.logs import log_config
from service.metrics import MULTIPROC_ENV

EXIT_BAD_CONFIG = 2  # settings, models directory or models that cannot be served


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Serve the models under --models-dir over HTTP. Every flag can also be "
        f"set as an environment variable: {ENV_PREFIX}<FLAG>, e.g. {ENV_PREFIX}WORKERS=1.",
    )
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        variable = ENV_PREFIX + name.upper()
        shown = "''" if field.default == "" else field.default
        text = f"{field.description} (default: {shown}; {variable})"
        if field.annotation is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=text
            )
        else:
            parser.add_argument(flag, default=None, metavar=name.upper(), help=text)
    return parser


def settings_from_args(argv: list[str] | None) -> Settings:
    """Flags override RNN_SERVE_* variables, which override the defaults."""
    args = vars(_parser().parse_args(argv))
    return Settings(**{name: value for name, value in args.items() if value is not None})


def main(argv: list[str] | None = None) -> int:
    try:
        settings = settings_from_args(argv)
    except ValidationError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if not settings.models_dir.is_dir():
        print(
            f"cannot start: {settings.models_dir}: models directory not found "
            f"(--models-dir, {ENV_PREFIX}MODELS_DIR)",
            file=sys.stderr,
        )
        return EXIT_BAD_CONFIG
    # Worker processes build their app from the environment, so export the final settings.
    for name, value in settings.model_dump().items():
        os.environ[ENV_PREFIX + name.upper()] = str(value)
    if settings.workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # Every worker writes its Prometheus values here; any worker's /metrics sums them.
        metrics_dir = tempfile.mkdtemp(prefix="rnn-serve-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
        atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
    return serve(settings)


def serve(settings: Settings) -> int:
    """uvicorn.run, except that a worker failing to start makes the exit status 2
    (uvicorn's multi-worker supervisor stops with status 0 then)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "service.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # the JSON access log of service.edge replaces uvicorn's
        log_level=settings.log_level,
        log_config=log_config(settings.log_level),
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        proxy_headers=False,  # not behind a proxy by default; saves a middleware per request
        server_header=False,
    )
    if settings.workers == 1:
        server = uvicorn.Server(config)
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits with its own status on a failed start
            if exc.code == STARTUP_FAILURE:
                return EXIT_BAD_CONFIG
            raise
        return 0 if server.started else EXIT_BAD_CONFIG
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return EXIT_BAD_CONFIG if failed else 0


if __name__ == "__main__":
    sys.exit(main())
