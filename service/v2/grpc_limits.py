"""What one gRPC client may hold in a worker, as grpc-core channel arguments.

Every bound is grpc-core's own (grpcio 1.85): calls beyond `max_concurrent_rpcs` are refused
by grpc.aio with RESOURCE_EXHAUSTED before a handler runs, connections beyond the cap are
closed as soon as they are accepted, idle and old connections get a GOAWAY, and a client
that pings too often gets GOAWAY `too_many_pings`. Metadata is bounded by grpc's defaults
(8 KiB soft, 16 KiB hard).
"""

from __future__ import annotations

from dataclasses import dataclass

from service.config import Settings
from service.limits import ConnectionLimits, descriptor_limit

ChannelOptions = list[tuple[str, int]]


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


@dataclass(frozen=True)
class GrpcLimits:
    max_concurrent_rpcs: int | None  # per worker; None: unlimited
    max_streams_per_connection: int
    max_connections: int
    max_connection_idle_s: float
    max_connection_age_s: float
    max_connection_age_grace_s: float
    handshake_timeout_s: float
    min_ping_interval_s: float
    max_ping_strikes: int
    max_receive_message_bytes: int
    max_send_message_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> GrpcLimits:
        """The limits of this worker: its connection cap shares the descriptor limit with
        the HTTP connections (the worker raised it at start, see `ConnectionLimits`)."""
        connections = ConnectionLimits.from_settings(settings).fitted_to(descriptor_limit())
        return cls(
            max_concurrent_rpcs=settings.grpc_max_concurrent_rpcs or None,
            max_streams_per_connection=settings.grpc_max_streams_per_connection,
            max_connections=connections.grpc_max_connections or settings.grpc_max_connections,
            max_connection_idle_s=settings.grpc_max_connection_idle_s,
            max_connection_age_s=settings.grpc_max_connection_age_s,
            max_connection_age_grace_s=settings.grpc_max_connection_age_grace_s,
            handshake_timeout_s=settings.grpc_handshake_timeout_s,
            min_ping_interval_s=settings.grpc_min_ping_interval_s,
            max_ping_strikes=settings.grpc_max_ping_strikes,
            max_receive_message_bytes=settings.max_body_bytes,
            max_send_message_bytes=settings.grpc_max_send_message_bytes,
        )

    def channel_options(self) -> ChannelOptions:
        return [
            ("grpc.max_concurrent_streams", self.max_streams_per_connection),
            # grpc-core's default also counts streams the client has finished but the server
            # has not freed yet, and resets new ones with REFUSED_STREAM (UNAVAILABLE to the
            # client) although the client kept to the limit: about 1 call in 4 of a flood here.
            ("grpc.http.overload_protection", 0),
            ("grpc.max_allowed_incoming_connections", self.max_connections),
            ("grpc.max_connection_idle_ms", _ms(self.max_connection_idle_s)),
            ("grpc.max_connection_age_ms", _ms(self.max_connection_age_s)),
            ("grpc.max_connection_age_grace_ms", _ms(self.max_connection_age_grace_s)),
            ("grpc.server_handshake_timeout_ms", _ms(self.handshake_timeout_s)),
            ("grpc.http2.min_ping_interval_without_data_ms", _ms(self.min_ping_interval_s)),
            ("grpc.http2.max_ping_strikes", self.max_ping_strikes),
            # A ping from a client without calls counts as a strike: keep-alive must not hold
            # an idle connection open past the idle limit.
            ("grpc.keepalive_permit_without_calls", 0),
            ("grpc.max_receive_message_length", self.max_receive_message_bytes),
            ("grpc.max_send_message_length", self.max_send_message_bytes),
        ]
