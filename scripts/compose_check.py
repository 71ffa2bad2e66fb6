"""Checks of a running deployment, for scripts/compose-smoke.sh (run with the project's venv).

    python scripts/compose_check.py parity --url http://127.0.0.1:8080 --models-dir models
    python scripts/compose_check.py spread --url http://127.0.0.1:8080 --replicas 2
    python scripts/compose_check.py load   --url http://127.0.0.1:8080 --seconds 20

parity: the same /forecast and /sentiment requests (every model and version in the models
        directory, series of several lengths in one request, short and long texts) go through
        the proxy and to the service run in-process (FastAPI TestClient on the same models
        directory); the answers must be equal (floats within --tolerance).
spread: requests through the proxy must be answered by at least --replicas distinct replicas
        (nginx's X-Upstream header), each taking a fair share.
load:   a fallback closed-loop load (asyncio + httpx) for --seconds; any error fails.
Exit status 0 on success, 1 with a message on stderr otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import math
import sys
import time
from pathlib import Path
from typing import Any

import httpx

TEXTS = [
    "A wonderful film, I loved every minute.",
    "Dull plot and wooden acting.",
    "?!",
    "great",
    "not bad at all , honestly one of the better ones this year !",
    " ".join(["a long review that goes on and on, with bad acting and a great score"] * 60),
]


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    raise SystemExit(1)


def _series(length: int, n_features: int, mean: list[float], scale: list[float], seed: int) -> Any:
    """A deterministic wavy series around the card's training mean, in original units."""
    rows = []
    for t in range(length):
        row = [
            round(m + s * (math.sin(0.37 * t + seed + f) + 0.1 * ((t * 7 + seed) % 5)), 4)
            for f, (m, s) in enumerate(zip(mean, scale, strict=True))
        ]
        rows.append(row if n_features > 1 else row[0])
    return rows


def build_requests(listing: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Requests pinned to every model and version that the service lists."""
    requests: list[tuple[str, dict[str, Any]]] = []
    for model in listing["models"]:
        for version in model["versions"]:
            card = version["card"]
            pin = {"model": model["name"], "version": version["version"]}
            if model["task"] == "forecast":
                spec = card["forecast"]
                n, low = spec["n_features"], spec["min_length"]
                mean, scale = spec["input_scaler"]["mean"], spec["input_scaler"]["scale"]
                lengths = [low, low + 7, 3 * low + 5]
                series = [_series(n_, n, mean, scale, seed) for seed, n_ in enumerate(lengths)]
                requests.append(("/forecast", {"series": series, **pin}))
                requests.append(("/forecast", {"series": series[:1], "horizon": 1, **pin}))
            elif model["task"] == "sentiment":
                requests.append(("/sentiment", {"texts": TEXTS, **pin}))
                requests.append(("/sentiment", {"texts": TEXTS[:1], **pin}))
    return requests


def compare(a: Any, b: Any, tolerance: float, where: str, worst: list[float]) -> None:
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            fail(f"{where}: {a!r} != {b!r}")
        diff = abs(float(a) - float(b))
        worst[0] = max(worst[0], diff)
        if diff > tolerance * max(1.0, abs(float(b))):
            fail(f"{where}: {a!r} != {b!r} (difference {diff:.3g})")
    elif isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            fail(f"{where}: keys {sorted(a)} != {sorted(b)}")
        for key in a:
            compare(a[key], b[key], tolerance, f"{where}.{key}", worst)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            fail(f"{where}: {len(a)} items != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            compare(x, y, tolerance, f"{where}[{i}]", worst)
    elif a != b:
        fail(f"{where}: {a!r} != {b!r}")


def parity(url: str, models_dir: Path, tolerance: float, api_key: str = "") -> None:
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    app = create_app(Settings(models_dir=models_dir))
    headers = {"X-API-Key": api_key} if api_key else {}
    remote_client = httpx.Client(base_url=url, timeout=30, headers=headers)
    with TestClient(app) as local, remote_client as remote:
        listing = local.get("/models").json()
        remote_names = sorted(m["name"] for m in remote.get("/models").json()["models"])
        local_names = sorted(m["name"] for m in listing["models"])
        if remote_names != local_names:
            fail(f"the deployment serves {remote_names}, the models directory has {local_names}")
        tasks = {m["task"] for m in listing["models"]}
        if not {"forecast", "sentiment"} <= tasks:
            fail(f"the models directory needs a forecast and a sentiment model, has {tasks}")
        worst = [0.0]
        requests = build_requests(listing)
        for path, body in requests:
            theirs = remote.post(path, json=body)
            ours = local.post(path, json=body)
            where = f"POST {path} {body.get('model')}/{body.get('version')}"
            if theirs.status_code != 200 or ours.status_code != 200:
                fail(
                    f"{where}: proxy {theirs.status_code} {theirs.text[:300]!r}, "
                    f"in-process {ours.status_code} {ours.text[:300]!r}"
                )
            compare(theirs.json(), ours.json(), tolerance, where, worst)
        # The default model (no pin) must answer too, and the same.
        for path, body in (("/forecast", {"series": [requests[0][1]["series"][0]]}),
                           ("/sentiment", {"texts": TEXTS[:2]})):  # fmt: skip
            if not any(p == path for p, _ in requests):
                continue
            theirs, ours = remote.post(path, json=body), local.post(path, json=body)
            if theirs.status_code != 200:
                fail(f"POST {path} (default model) through the proxy: {theirs.status_code}")
            compare(theirs.json(), ours.json(), tolerance, f"POST {path} (default)", worst)
    print(
        f"parity: {len(requests) + 2} requests over {len(listing['models'])} models, "
        f"answers equal to the in-process service (max abs difference {worst[0]:.3g})"
    )


def spread(url: str, replicas: int, requests: int) -> None:
    seen: collections.Counter[str] = collections.Counter()
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(requests):
            if i % 2:
                answer = client.post("/sentiment", json={"texts": TEXTS[:2]})
            else:
                answer = client.get("/readyz")
            if answer.status_code != 200:
                fail(f"request {i} through the proxy: {answer.status_code} {answer.text[:200]!r}")
            upstream = answer.headers.get("x-upstream")
            if not upstream:
                fail("the proxy's answer has no X-Upstream header")
            seen[upstream] += 1
    print(f"spread: {requests} requests over {len(seen)} replicas: {dict(seen)}")
    if len(seen) < replicas:
        fail(f"only {len(seen)} of {replicas} replicas answered")
    if min(seen.values()) < requests / (4 * replicas):
        fail(f"uneven spread over the replicas: {dict(seen)}")


async def _load(url: str, seconds: float, concurrency: int) -> None:
    bodies = [
        ("/forecast", {"series": [[float(i + j) for j in range(24)] for i in range(3)]}),
        ("/sentiment", {"texts": TEXTS[:3]}),
    ]
    counts: collections.Counter[str] = collections.Counter()
    errors: list[str] = []
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient, k: int) -> None:
        i = k
        while time.monotonic() < deadline:
            path, body = bodies[i % len(bodies)]
            i += 1
            t0 = time.perf_counter()
            try:
                answer = await client.post(path, json=body)
            except httpx.HTTPError as exc:
                errors.append(f"{path}: {exc!r}")
                continue
            latencies.append(time.perf_counter() - t0)
            counts[f"{path} {answer.status_code}"] += 1
            if answer.status_code != 200:
                errors.append(f"{path}: {answer.status_code} {answer.text[:200]!r}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        await asyncio.gather(*(worker(client, k) for k in range(concurrency)))
    latencies.sort()
    total = sum(counts.values())
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else float("nan")
    print(
        f"load: {total} requests in {seconds:g} s ({total / seconds:.0f} req/s, "
        f"{concurrency} connections), p99 {p99:.1f} ms, {len(errors)} errors: {dict(counts)}"
    )
    if errors or not total:
        fail(f"{len(errors)} errors under load, first: {errors[:3]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parity")
    p.add_argument("--url", required=True)
    p.add_argument("--models-dir", type=Path, required=True)
    p.add_argument("--tolerance", type=float, default=1e-5)
    p.add_argument("--api-key", default="", help="sent as X-API-Key to the deployment")
    s = sub.add_parser("spread")
    s.add_argument("--url", required=True)
    s.add_argument("--replicas", type=int, default=2)
    s.add_argument("--requests", type=int, default=40)
    load = sub.add_parser("load")
    load.add_argument("--url", required=True)
    load.add_argument("--seconds", type=float, default=20.0)
    load.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    if args.command == "parity":
        parity(args.url, args.models_dir, args.tolerance, args.api_key)
    elif args.command == "spread":
        spread(args.url, args.replicas, args.requests)
    else:
        asyncio.run(_load(args.url, args.seconds, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
