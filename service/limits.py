"""What one client connection may hold in a worker, and the connection cap that fits the
process's file-descriptor limit."""

from __future__ import annotations

import contextlib
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
    grpc_max_connections: int = 0  # the gRPC server's own cap in the same worker (0: no gRPC)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout_s=settings.header_timeout_s,
            keep_alive_s=settings.keep_alive_s,
            body_timeout_s=settings.body_timeout_s,
            max_connections=settings.max_connections,
            grpc_max_connections=settings.grpc_max_connections if settings.grpc_port else 0,
        )

    @property
    def descriptors_wanted(self) -> int:
        return self.max_connections + self.grpc_max_connections + RESERVED_DESCRIPTORS

    def fitted_to_descriptors(self) -> ConnectionLimits:
        """Raise this process's soft descriptor limit as far as allowed, and lower the
        connection caps below it when it is still too small (accept() failing with EMFILE
        would stall every client instead of refusing one)."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = self.descriptors_wanted
        if soft != resource.RLIM_INFINITY and soft < wanted:
            target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        fitted = self.fitted_to(descriptor_limit())
        if fitted != self:
            logger.warning(
                "connection cap lowered to the descriptor limit",
                extra={
                    "max_connections": fitted.max_connections,
                    "grpc_max_connections": fitted.grpc_max_connections,
                    "configured": self.max_connections,
                    "nofile": descriptor_limit(),
                },
            )
        return fitted

    def fitted_to(self, nofile: int) -> ConnectionLimits:
        """The caps shared out, in their configured proportion, among `nofile` descriptors."""
        if nofile == resource.RLIM_INFINITY or nofile >= self.descriptors_wanted:
            return self
        available = max(1, nofile - RESERVED_DESCRIPTORS)
        total = self.max_connections + self.grpc_max_connections
        http = max(1, available * self.max_connections // total)
        grpc = max(1, available - http) if self.grpc_max_connections else 0
        return replace(self, max_connections=http, grpc_max_connections=grpc)


def descriptor_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
