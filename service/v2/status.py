"""A `ServiceError`'s HTTP status -> what the protocol answers: the HTTP status and gRPC code."""

from __future__ import annotations

import grpc

# The native API answers 422 for a request it understood but cannot serve; the protocol's
# documents and clients use 400 for every invalid request.
_HTTP = {422: 400}
_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    499: grpc.StatusCode.CANCELLED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def http_status(status: int) -> int:
    return _HTTP.get(status, status)


def grpc_code(status: int) -> grpc.StatusCode:
    return _GRPC.get(status, grpc.StatusCode.INTERNAL)


# The HTTP status an access line and the request metrics show for a gRPC code.
_HTTP_OF_CODE = {code: status for status, code in _GRPC.items() if status != 422 and status != 415}


def http_status_of(code: grpc.StatusCode) -> int:
    if code == grpc.StatusCode.OK:
        return 200
    return _HTTP_OF_CODE.get(code, 500)
