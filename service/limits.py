"""What one client connection may hold in a worker, and the connection cap that fits the
process's file-descriptor limit."""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass, replace

from service.config import Settings

logger = logging.getLogger("service")

# Descriptors a worker needs besides client sockets: listening socket, model files being
# loaded, metric files, log streams, the supervisor's pipe, onnxruntime's own.
RESERVED_DESCRIPTORS = 64


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int  # request line and headers (431 above)
    max_headers: int  # header fields per request (431 above)
    header_timeout_s: float  # from a request's first byte to the end of its headers (408)
    keep_alive_s: float  # idle before the first byte of a request, new connections included
    body_timeout_s: float  # from the end of the headers to the end of the body (408)
    max_connections: int  # open connections per worker; above it idle ones are closed, or 503

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout_s=settings.header_timeout_s,
            keep_alive_s=settings.keep_alive_s,
            body_timeout_s=settings.body_timeout_s,
            max_connections=settings.max_connections,
        )

    def fitted_to_descriptors(self) -> ConnectionLimits:
        """Raise this process's soft descriptor limit as far as allowed, and lower the
        connection cap below it when it is still too small (accept() failing with EMFILE
        would stall every client instead of refusing one)."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = self.max_connections + RESERVED_DESCRIPTORS
        if soft != resource.RLIM_INFINITY and soft < wanted:
            target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError):
                pass
        if soft == resource.RLIM_INFINITY or soft >= wanted:
            return self
        cap = max(1, soft - RESERVED_DESCRIPTORS)
        logger.warning(
            "connection cap lowered to the descriptor limit",
            extra={"max_connections": cap, "configured": self.max_connections, "nofile": soft},
        )
        return replace(self, max_connections=cap)
