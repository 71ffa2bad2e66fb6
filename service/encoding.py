"""Request bodies sent compressed (`Content-Encoding: gzip` or `deflate`), for every HTTP face.

The size limit holds for the decompressed body too: decompression stops one byte past it, so
a small body that inflates to gigabytes costs no more memory than the limit.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from service.errors import ServiceError

IDENTITY = (b"", b"identity")


def decoded(
    raw: bytes, encoding: bytes, limit: int, too_large: Callable[[int, int], ServiceError]
) -> bytes:
    """`raw` decompressed: 415 for an encoding other than these, 400 for corrupt data,
    `too_large(size, limit)` when it inflates beyond `limit` bytes."""
    if encoding in IDENTITY:
        return raw
    if encoding == b"gzip":
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == b"deflate":
        decoder = zlib.decompressobj()
    else:
        raise ServiceError(
            415,
            "unsupported_media_type",
            f"Content-Encoding {encoding.decode('latin-1')!r} is not supported (gzip, deflate)",
        )
    try:
        body = decoder.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise ServiceError(
            400, "malformed_body", f"the body is not valid {encoding.decode()} data: {exc}"
        ) from exc
    if len(body) > limit:
        raise too_large(len(body), limit)
    return body
