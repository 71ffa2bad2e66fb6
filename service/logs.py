"""Structured logs: every log record is one JSON object on one line.

`configure` installs the JSON formatter on the root logger and on uvicorn's loggers (it is
also the `log_config` that `python -m service` hands to uvicorn, so every worker logs the same
way). `AccessLog` writes the one access line per request without the `logging` machinery,
which costs ten times more than the line itself on the data plane; its lines have the same
shape as every other record (`ts`, `level`, `logger`, `message`, then the fields).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import sys
import time
from typing import IO, Any

import orjson

ACCESS_LOGGER = "service.access"
# Record attributes that are not extra fields (uvicorn adds `color_message`, with ANSI codes).
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", ...extra fields, "exception"?}`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def log_config(level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the service and uvicorn: JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": level.upper()},
        "loggers": {
            name: {"handlers": [], "level": level.upper(), "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


_ACCESS_LINE = (
    b'{"ts":%.6f,"level":"info","logger":"' + ACCESS_LOGGER.encode() + b'","message":"request",'
    b'"method":%s,"path":%s,"status":%d,"duration_ms":%.3f,"request_id":"%s"'
)


class AccessLog:
    """One JSON line per answered request, kept in memory and written out by `flush`.

    The app flushes every `flush_interval_s` and at shutdown, and `write` flushes every
    `MAX_PENDING` lines, so a request costs no system call. Several workers share one stdout: each
    flush writes whole lines in chunks of at most PIPE_BUF bytes, one system call each, so
    the lines of two workers never interleave (writes up to PIPE_BUF are atomic on a pipe).
    """

    MAX_PENDING = 256

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        stream = stream if stream is not None else sys.stdout.buffer
        self._buffered = stream
        # Past Python's buffer, straight to the file descriptor (one write per chunk).
        self._stream: Any = getattr(stream, "raw", stream)
        self._pending: list[bytes] = []
        # JSON of recurring strings (methods, paths, model fields), up to MAX_CACHED each.
        self._json: dict[str, bytes] = {}
        self._model_fields: dict[tuple[str, str], bytes] = {}

    MAX_CACHED = 512

    def _dumps(self, text: str) -> bytes:
        cached = self._json.get(text)
        if cached is None:
            cached = orjson.dumps(text)
            if len(self._json) < self.MAX_CACHED:  # client-chosen paths cannot grow it forever
                self._json[text] = cached
        return cached

    def write(
        self,
        method: str,
        path: str,
        status: int,
        seconds: float,
        request_id: str,
        model: str,
        version: str,
    ) -> None:
        # Formatted by hand (twice as fast as a dict through orjson); every string that can
        # hold arbitrary characters goes through orjson for escaping. Request ids are
        # restricted to [A-Za-z0-9._:-] by service.edge.
        line = _ACCESS_LINE % (
            time.time(),
            self._dumps(method),
            self._dumps(path),
            status,
            seconds * 1000.0,
            request_id.encode("ascii"),
        )
        if model:
            fields = self._model_fields.get((model, version))
            if fields is None:
                fields = b',"model":%s,"version":%s}\n' % (
                    orjson.dumps(model),
                    orjson.dumps(version),
                )
                self._model_fields[(model, version)] = fields  # served versions only: bounded
            self._pending.append(line + fields)
        else:
            self._pending.append(line + b"}\n")
        if len(self._pending) >= self.MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        chunk = b""
        # A closed or broken stream must not stop the service.
        with contextlib.suppress(OSError, ValueError):
            self._buffered.flush()  # anything printed before goes first
            for line in lines:
                if chunk and len(chunk) + len(line) > select.PIPE_BUF:
                    self._stream.write(chunk)
                    chunk = b""
                chunk += line
            self._stream.write(chunk)


async def flush_periodically(access_log: AccessLog, interval_s: float) -> None:
    """Run as a task for the app's lifetime: access lines reach the stream within
    `interval_s`, which is what a crash of the worker loses at most."""
    while True:
        await asyncio.sleep(interval_s)
        access_log.flush()
