"""`python -m service --host H --port P --models-dir D ...`: serve with uvicorn."""

from __future__ import annotations

import argparse
import os
import sys

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


def main(argv: list[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    settings = Settings(**{name: value for name, value in args.items() if value is not None})
    # Worker processes build their app from the environment, so export the final settings.
    for name, value in settings.model_dump().items():
        os.environ[ENV_PREFIX + name.upper()] = str(value)

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
        log_level=settings.log_level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
