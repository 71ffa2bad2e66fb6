"""Drive one checkout's app in this process, without HTTP: the app's own cost per request.

`python bench/asgi_driver.py --repo DIR --path /forecast --body FILE` imports `service.app`
from DIR (this file imports nothing of the repo it sits in, so it can drive another commit's
code), runs the app's lifespan, and has `--clients` coroutines send the body to the ASGI app
in a closed loop, each with its own client address. After `--warmup` seconds it counts the
answers and this process's CPU time (all threads: the event loop and onnxruntime's) for
`--seconds`, and prints one JSON line (the app's own output is dropped). No sockets, no
uvicorn: what it measures is the edge (request id, metrics, access log), the data plane, the
batcher and onnxruntime.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _lifespan_start(app: Any) -> None:
    messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await messages.put({"type": "lifespan.startup"})

    async def send(message: dict[str, Any]) -> None:
        await answers.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    asyncio.get_running_loop().create_task(app(scope, messages.get, send))
    answer = await answers.get()
    if answer["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {answer}")


async def drive(
    app: Any, path: str, body: bytes, clients: int, warmup: float, seconds: float
) -> dict[str, Any]:
    await _lifespan_start(app)
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    statuses: Counter[int] = Counter()
    answered = 0
    stopping = False

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] += 1

    async def client(number: int) -> None:
        nonlocal answered
        while not stopping:
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": headers,
                "client": ("127.0.0.1", 10_000 + number),
                "server": ("127.0.0.1", 8000),
                "state": {},
            }
            await app(scope, receive, send)
            answered += 1
            await asyncio.sleep(
                0
            )  # an answer that never waited (an error) must not starve the loop

    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    await asyncio.sleep(warmup)
    start_count, start_cpu, started = answered, _cpu_seconds(), time.perf_counter()
    await asyncio.sleep(seconds)
    count, cpu = answered - start_count, _cpu_seconds() - start_cpu
    elapsed = time.perf_counter() - started
    stopping = True
    await asyncio.gather(*tasks)
    return {
        "requests_per_s": count / elapsed,
        "cpu_us_per_request": cpu / max(count, 1) * 1e6,
        "statuses": {str(code): n for code, n in statuses.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, required=True, help="checkout whose app to drive")
    parser.add_argument("--path", default="/forecast")
    parser.add_argument("--body", type=Path, required=True, help="file with the request body")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    body = args.body.read_bytes()
    # The app's access log goes to stdout: keep stdout for the result line only.
    result_stream = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    sys.path.insert(0, str(repo))
    os.chdir(repo)
    os.environ.setdefault("RNN_SERVE_MODELS_DIR", str(repo / "models"))
    os.environ.setdefault("RNN_SERVE_GRPC_PORT", "0")  # no HTTP here, no gRPC either
    import uvloop

    from service.app import create_app  # the driven checkout's

    async def run() -> dict[str, Any]:
        app = create_app()
        return await drive(app, args.path, body, args.clients, args.warmup, args.seconds)

    result = uvloop.run(run())
    print(json.dumps(result), file=result_stream, flush=True)
    os._exit(0)  # the app's batcher threads and lifespan are not stopped: the numbers are out


if __name__ == "__main__":
    sys.exit(main())
