"""`python -m service --host H --port P --models-dir D ...`: serve with uvicorn."""

from __future__ import annotations

import argparse
import os
import sys

from pydantic import ValidationError

from service.config import ENV_PREFIX, Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description=f"Serve the models. Every flag also reads {ENV_PREFIX}<FLAG> from the env.",
    )
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        if field.annotation is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, default=None, help=f"default: {field.default}")
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
        return 2
    # Worker processes build their app from the environment, so export the final settings.
    for name, value in settings.model_dump().items():
        os.environ[ENV_PREFIX + name.upper()] = str(value)

    if settings.workers > 1 and not _models_load(settings):
        return 1

    import uvicorn

    uvicorn.run(
        "service.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=settings.access_log,
        proxy_headers=False,  # not behind a proxy by default; saves a middleware per request
        server_header=False,
        log_level=settings.log_level,
    )
    return 0


def _models_load(settings: Settings) -> bool:
    """Check every artifact once in the parent: uvicorn's supervisor exits with status 0 when
    its workers fail to start, so a broken model would otherwise look like a clean stop."""
    from service.registry import ModelLoadError, Registry

    try:
        Registry.load(settings)
    except ModelLoadError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
