"""SIGTERM while gRPC calls are in flight: they finish, new ones are refused, the process exits
within its grace period. (The same for HTTP: tests/service/test_shutdown.py.)

An HTTP upload still sending its body at the signal keeps uvicorn draining for
--body-timeout-s; the gRPC server must refuse new calls from the signal on all the same.

A refused call is UNAVAILABLE (the connection is gone), or CANCELLED when it reached the
server in the instant of its stop, before a handler took it (grpc-core cancels those); either
way it was never run.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import orjson

from loadtest.chaos.attackers import drip_many
from loadtest.chaos.load import LoadResult, Outcome, forecast_infer_request, own_channel
from loadtest.chaos.report import ScenarioReport
from loadtest.chaos.zoo import zoo
from loadtest.process import running_service
from service.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc

CLIENTS = 16
REFUSED = {"UNAVAILABLE", "CANCELLED"}
GRACE_S = 10
BODY_TIMEOUT_S = 4.0
SLOW_UPLOAD = (
    b"POST /forecast HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    b"content-length: 100000\r\n\r\n["
)


@dataclass(frozen=True)
class Call:
    request_id: str
    code: str
    sent_at: float
    answered_at: float


async def _call_until_refused(
    target: str, process: subprocess.Popen[bytes]
) -> tuple[list[Call], float]:
    """`CLIENTS` clients call back to back; SIGTERM after 1.5 s; each client stops at its
    first call that is not OK."""
    calls: list[Call] = []
    counter = itertools.count()
    request = forecast_infer_request()

    async def client(index: int) -> None:
        async with own_channel(target) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            while time.monotonic() < give_up:
                request_id = f"g{index}-{next(counter)}"
                sent_at = time.monotonic()
                try:
                    await stub.ModelInfer(
                        request, timeout=20, metadata=(("x-request-id", request_id),)
                    )
                    code = "OK"
                except grpc.aio.AioRpcError as exc:
                    code = exc.code().name
                calls.append(Call(request_id, code, sent_at, time.monotonic()))
                if code != "OK":
                    return

    give_up = time.monotonic() + 20
    clients = [asyncio.create_task(client(i)) for i in range(CLIENTS)]
    await asyncio.sleep(1.5)
    process.send_signal(signal.SIGTERM)
    sigterm_at = time.monotonic()
    await asyncio.gather(*clients)
    return calls, sigterm_at


def sigterm_with_grpc_calls_in_flight(workdir: Path) -> ScenarioReport:
    report = ScenarioReport(
        f"SIGTERM with {CLIENTS} gRPC clients calling and an HTTP upload running, 2 workers"
    )
    models = zoo(workdir / "models")
    flags = (
        "--workers", "2",
        # A 300 ms batching delay keeps calls waiting inside the service at SIGTERM.
        "--max-queue-delay-ms", "300",
        "--reload-interval-s", "0",
        "--shutdown-timeout-s", str(GRACE_S),
        "--body-timeout-s", str(BODY_TIMEOUT_S),
    )  # fmt: skip
    with running_service(models, *flags, logs=workdir / "logs", grpc=True) as service:
        upload = threading.Thread(
            target=drip_many, args=(service.port, 1, SLOW_UPLOAD, b"1,", 0.5, 15.0), daemon=True
        )
        upload.start()
        calls, sigterm_at = asyncio.run(_call_until_refused(service.grpc_target, service.process))
        try:
            exit_code: int | None = service.process.wait(timeout=GRACE_S + 10)
        except subprocess.TimeoutExpired:
            exit_code = None
        exited_after = time.monotonic() - sigterm_at
        upload.join(timeout=20)
        access = [orjson.loads(line) for line in service.stdout.read_bytes().splitlines()]
    logged = {
        line["request_id"]: line["status"]
        for line in access
        if line.get("path", "").endswith("/ModelInfer")
    }
    report.record(
        "gRPC calls",
        LoadResult(
            [Outcome(c.sent_at, c.answered_at - c.sent_at, c.code, None, None) for c in calls]
        ),
    )
    codes: dict[str, int] = {}
    for call in calls:
        codes[call.code] = codes.get(call.code, 0) + 1
    answered = {c.request_id for c in calls if c.code == "OK"}
    finished_after = [c for c in calls if c.code == "OK" and c.answered_at > sigterm_at]
    surely_in_before = [c for c in calls if c.sent_at < sigterm_at - 0.2]
    refused = [c for c in calls if c.code != "OK"]
    late = [c for c in calls if c.sent_at > sigterm_at + 0.5]
    report.note(
        f"{len(calls)} calls, codes {codes}; {len(finished_after)} answered OK after the "
        f"SIGTERM; exit status {exit_code} {exited_after:.2f} s after it"
    )
    report.expect("only OK, UNAVAILABLE or CANCELLED", set(codes) <= {"OK", *REFUSED}, codes)
    report.expect(
        "every call sent before the signal answered OK",
        bool(surely_in_before) and all(c.code == "OK" for c in surely_in_before),
        [c for c in surely_in_before if c.code != "OK"][:5],
    )
    report.expect(
        "calls in flight at the signal were finished", len(finished_after) >= 1, finished_after
    )
    report.expect(
        "every client ended with a refused call",
        len(refused) == CLIENTS and all(c.code in REFUSED for c in refused),
        codes,
    )
    # The workers get the signal from the supervisor, after this process sent it.
    report.expect(
        "only calls sent after the signal were refused",
        all(c.sent_at > sigterm_at - 0.05 for c in refused),
        [round(c.sent_at - sigterm_at, 3) for c in refused],
    )
    report.expect(
        "calls sent 0.5 s after the signal were refused",
        all(c.code != "OK" for c in late),
        [c for c in late if c.code == "OK"][:5],
    )
    report.expect(
        "every call answered OK was accepted and logged with 200, and only those",
        logged == dict.fromkeys(answered, 200),
        f"{len(logged)} logged, {len(answered)} answered",
    )
    report.expect(
        f"exited (0 or by SIGTERM) within the {GRACE_S} s grace period",
        exit_code in (0, -signal.SIGTERM) and exited_after <= GRACE_S,
        (exit_code, round(exited_after, 2)),
    )
    return report
