"""Hostile gRPC clients: in raw HTTP/2, connections that stay silent or idle and calls that
send their headers but never their message; with grpc.aio, floods of concurrent calls."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import struct
import time
from dataclasses import dataclass

import grpc

from loadtest.chaos.load import forecast_infer_request, own_channel
from service.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, SETTINGS, GOAWAY = 1, 4, 7
ACK, END_HEADERS = 0x1, 0x4
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    head = struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream)
    return head + payload


def _literal(name: str, value: str) -> bytes:
    """HPACK literal header field without indexing, new name, no Huffman (lengths < 127)."""
    return b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()


def call_headers(stream: int, path: str = MODEL_INFER) -> bytes:
    """The HEADERS frame of a gRPC call whose message never follows (no END_STREAM)."""
    block = b"".join(
        _literal(name, value)
        for name, value in (
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "chaos"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        )
    )
    return frame(HEADERS, END_HEADERS, stream, block)


@dataclass(frozen=True)
class Closing:
    seconds: float  # from connecting to the server's close (or the give-up time)
    closed: bool  # the server closed it (EOF or reset) before the give-up time
    goaway: bool  # it said GOAWAY first
    refused: bool  # closed without a single HTTP/2 frame: the connection cap's way


async def _read_frames(reader: asyncio.StreamReader, on_settings: asyncio.Event) -> list[int]:
    """The types of the frames read until EOF; sets `on_settings` at the server's SETTINGS
    (not its ACK)."""
    kinds: list[int] = []
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while True:
            head = await reader.readexactly(9)
            length = int.from_bytes(head[:3], "big")
            kind, flags = head[3], head[4]
            await reader.readexactly(length)
            if kind == SETTINGS and not flags & ACK:
                on_settings.set()
            kinds.append(kind)
    return kinds


async def hold_connection(port: int, speak_http2: bool, calls: int, limit_s: float) -> Closing:
    """One connection: silent (no preface) or HTTP/2 with `calls` calls that never send
    their message; waits for the server to close it, at most `limit_s`."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    settings = asyncio.Event()
    reading = asyncio.ensure_future(_read_frames(reader, settings))
    try:
        if speak_http2:
            writer.write(PREFACE + frame(SETTINGS, 0, 0))
            waiting = asyncio.ensure_future(settings.wait())
            await asyncio.wait([waiting, reading], timeout=limit_s, return_when="FIRST_COMPLETED")
            waiting.cancel()
            if not reading.done():
                writer.write(frame(SETTINGS, ACK, 0))
                for index in range(calls):
                    writer.write(call_headers(2 * index + 1))
                with contextlib.suppress(OSError):
                    await writer.drain()
        remaining = limit_s - (time.monotonic() - started)
        done, _ = await asyncio.wait([reading], timeout=max(0.0, remaining))
        seconds = time.monotonic() - started
        kinds = reading.result() if done else [SETTINGS]
        return Closing(seconds, bool(done), GOAWAY in kinds, bool(done) and not kinds)
    finally:
        writer.close()
        reading.cancel()


def hold_many(
    port: int, count: int, speak_http2: bool, calls: int = 0, limit_s: float = 30.0
) -> list[Closing]:
    """`count` connections held at once, as `hold_connection`; in a process of its own so
    that its sockets do not compete with the caller's clients for the interpreter."""

    async def all_of_them() -> list[Closing]:
        return list(
            await asyncio.gather(
                *(hold_connection(port, speak_http2, calls, limit_s) for _ in range(count))
            )
        )

    return asyncio.run(all_of_them())


def flood(target: str, connections: int, calls: int, seconds: float) -> dict[str, int]:
    """`connections` clients, each keeping `calls` ModelInfer calls in flight at once, for
    `seconds`; the count of each status code they got."""
    codes: collections.Counter[str] = collections.Counter()
    request = forecast_infer_request()

    async def one_call(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
        try:
            await stub.ModelInfer(request, timeout=10)
            codes["OK"] += 1
        except grpc.aio.AioRpcError as exc:
            codes[exc.code().name] += 1

    async def client(end: float) -> None:
        async with own_channel(target) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            while time.monotonic() < end:
                await asyncio.gather(*(one_call(stub) for _ in range(calls)))

    async def all_of_them() -> None:
        end = time.monotonic() + seconds
        await asyncio.gather(*(client(end) for _ in range(connections)))

    asyncio.run(all_of_them())
    return dict(codes)
