"""Hostile gRPC clients against the gRPC port, while other clients load it over gRPC and HTTP.

One worker, so that the per-worker caps are what each check sees (with several, the kernel
spreads connections over the workers' listening sockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc

from loadtest.chaos.grpc_attackers import Closing, flood, hold_many
from loadtest.chaos.load import (
    CLIENT_P99_BUDGET_S,
    GrpcLoad,
    Load,
    LoadResult,
    forecast_infer_request,
    own_channel,
)
from loadtest.chaos.report import ScenarioReport
from loadtest.chaos.zoo import zoo
from loadtest.process import Service, running_service
from service.v2.proto import grpc_predict_v2_pb2 as pb
from service.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc

SLACK_S = 1.5  # scheduling on a shared 2-core machine


ATTACKER_PROCESSES = 2


def _started(seconds: float) -> int:
    time.sleep(seconds)
    return multiprocessing.current_process().pid or 0


def _pool() -> ProcessPoolExecutor:
    """Attackers in processes of their own, not competing with the load for this one's GIL.

    The processes are started and have imported the attackers before this returns: a spawned
    process starts on the first task given to it, which on a slow machine takes longer than
    the server's time limits that a scenario relies on to be still running.
    """
    pool = ProcessPoolExecutor(ATTACKER_PROCESSES, mp_context=multiprocessing.get_context("spawn"))
    # Tasks that overlap, so that each is given to a process of its own.
    warmups = [pool.submit(_started, 0.5) for _ in range(ATTACKER_PROCESSES)]
    for warmup in warmups:
        warmup.result(timeout=120)
    pool.submit(hold_many, 1, 0, False).result(timeout=60)  # imports the attackers' modules
    return pool


def _service(workdir: Path, flags: Sequence[str]) -> contextlib.AbstractContextManager[Service]:
    """The service on the zoo's models with the gRPC port on, logging under `workdir`."""
    return running_service(zoo(workdir / "models"), *flags, logs=workdir / "logs", grpc=True)


@dataclass
class _Loads:
    """gRPC and HTTP clients loading the service; judged on what they saw during the attack."""

    grpc: GrpcLoad
    http: Load
    start: float = 0.0
    end: float = 0.0

    @contextlib.contextmanager
    def attack(self, settle_s: float) -> Iterator[None]:
        """The attack, `settle_s` after the loads (and attackers) have started."""
        time.sleep(settle_s)
        self.start = time.monotonic()
        yield
        self.end = time.monotonic()

    def meanwhile(self, report: ScenarioReport) -> tuple[LoadResult, LoadResult]:
        """Records what the gRPC and the HTTP clients saw during the attack, and returns it."""
        grpc_seen = self.grpc.result.between(self.start, self.end)
        http_seen = self.http.result.between(self.start, self.end)
        report.record("gRPC clients meanwhile", grpc_seen)
        report.record("HTTP clients meanwhile", http_seen)
        return grpc_seen, http_seen


@contextlib.contextmanager
def _loads(service: Service) -> Iterator[_Loads]:
    with GrpcLoad(service.grpc_target) as grpc_load, Load(service.url, threads=2) as http_load:
        yield _Loads(grpc_load, http_load)


def _answered_quickly(report: ScenarioReport, label: str, result: LoadResult) -> None:
    report.expect(f"{label}: none failed", result.failed == 0, result.by_status)
    report.expect(
        f"{label}: p99 <= {1000 * CLIENT_P99_BUDGET_S:.0f} ms",
        result.percentile(0.99) <= CLIENT_P99_BUDGET_S,
        f"{1000 * result.percentile(0.99):.1f} ms",
    )


def _range(closings: list[Closing]) -> str:
    if not closings:
        return "none"
    times = [c.seconds for c in closings]
    return f"{len(closings)} closed after {min(times):.2f}-{max(times):.2f} s"


def idle_grpc_connections(workdir: Path) -> ScenarioReport:
    # The silent connections must still be held when the idle ones arrive, for the cap to be
    # full then: both limits are well above the time it takes to open 400 connections here,
    # and the handshake limit is below the idle one so that it is the one that closes them.
    idle_s, handshake_s, cap = 5.0, 4.0, 300
    idle, silent = 400, 100
    report = ScenarioReport(
        f"{idle} idle HTTP/2 + {silent} silent TCP connections on the gRPC port, cap {cap}"
    )
    flags = (
        "--workers", "1",
        "--grpc-max-connection-idle-s", str(idle_s),
        "--grpc-handshake-timeout-s", str(handshake_s),
        "--grpc-max-connections", str(cap),
    )  # fmt: skip
    with _service(workdir, flags) as service, _loads(service) as loads, _pool() as pool:
        with loads.attack(settle_s=2):
            # The silent ones first, so that the cap refuses HTTP/2 ones only.
            attacks: dict[str, Future[list[Closing]]] = {}
            attacks["silent TCP"] = pool.submit(
                hold_many, service.grpc_port, silent, False, 0, 15.0
            )
            time.sleep(0.5)
            attacks["HTTP/2 idle"] = pool.submit(hold_many, service.grpc_port, idle, True, 0, 15.0)
            results = {name: future.result(timeout=60) for name, future in attacks.items()}
        fresh = asyncio.run(_one_call(service.grpc_target))
    grpc_seen, http_seen = loads.meanwhile(report)
    everyone = results["HTTP/2 idle"] + results["silent TCP"]
    refused = [c for c in everyone if c.refused]
    for name, closings in results.items():
        kept = [c for c in closings if not c.refused]
        report.note(
            f"{name}: {len(closings) - len(kept)} refused at once (over the cap); "
            f"{_range(kept)}; {sum(c.goaway for c in kept)} with a GOAWAY"
        )
    held_idle = [c for c in results["HTTP/2 idle"] if not c.refused]
    held_silent = [c for c in results["silent TCP"] if not c.refused]
    report.expect(
        "every connection was closed by the server", all(c.closed for c in everyone),
        sum(not c.closed for c in everyone),
    )  # fmt: skip
    # grpc-core jitters the idle and handshake limits by up to 10%.
    report.expect(
        f"idle HTTP/2: GOAWAY, then closed within {idle_s:g} s + 10% + {SLACK_S:g} s",
        all(c.goaway and 0.85 * idle_s <= c.seconds <= 1.1 * idle_s + SLACK_S for c in held_idle),
        _range(held_idle),
    )
    report.expect(
        f"silent TCP: none refused, closed within {handshake_s:g} s + 10% + {SLACK_S:g} s",
        len(held_silent) == silent
        and all(c.seconds <= 1.1 * handshake_s + SLACK_S for c in held_silent),
        _range(held_silent),
    )
    over = len(everyone) - cap
    report.expect(
        f"connections over the cap refused at once ({over} + the load's)",
        over <= len(refused) <= over + 10,
        len(refused),
    )
    _answered_quickly(report, "gRPC clients", grpc_seen)
    _answered_quickly(report, "HTTP clients", http_seen)
    report.expect("a new gRPC connection is served afterwards", fresh == "OK", fresh)
    return report


async def _one_call(target: str) -> str:
    async with own_channel(target) as channel:
        try:
            await pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
                forecast_infer_request(), timeout=5
            )
            return "OK"
        except grpc.aio.AioRpcError as exc:
            return exc.code().name


def grpc_call_flood(workdir: Path) -> ScenarioReport:
    # Caps this low so that the flood's calls, a few ms each, do overlap past them here.
    rpcs, streams = 8, 4
    connections, calls = 8, 64
    report = ScenarioReport(
        f"gRPC flood: {connections} connections x {calls} calls at once, "
        f"cap {rpcs} calls per worker, {streams} per connection"
    )
    flags = (
        "--workers", "1",
        "--grpc-max-concurrent-rpcs", str(rpcs),
        "--grpc-max-streams-per-connection", str(streams),
    )  # fmt: skip
    with _service(workdir, flags) as service, _loads(service) as loads, _pool() as pool:
        with loads.attack(settle_s=2):
            codes = pool.submit(flood, service.grpc_target, connections, calls, 5.0).result(60)
        time.sleep(1)
        after = loads.grpc.result.between(loads.end + 0.2, time.monotonic())
    grpc_seen, http_seen = loads.meanwhile(report)
    report.record("gRPC clients afterwards", after)
    report.note(f"flood: {sum(codes.values())} calls, codes {codes}")
    report.expect(
        "the flood got RESOURCE_EXHAUSTED past the cap", codes.get("RESOURCE_EXHAUSTED", 0) > 0
    )
    report.expect(
        "the flood got only OK or RESOURCE_EXHAUSTED",
        set(codes) <= {"OK", "RESOURCE_EXHAUSTED"},
        codes,
    )
    report.expect("the flood was also served", codes.get("OK", 0) > 0, codes)
    # Other gRPC clients share the worker's cap: they get answers or RESOURCE_EXHAUSTED, at once.
    statuses = set(grpc_seen.by_status)
    report.expect(
        "other gRPC clients: only OK or RESOURCE_EXHAUSTED",
        statuses <= {"OK", "RESOURCE_EXHAUSTED"},
        grpc_seen.by_status,
    )
    slowest = max((o.seconds for o in grpc_seen.outcomes), default=0.0)
    report.expect(
        "other gRPC clients: every call answered within 1 s", slowest < 1.0, f"{slowest:.3f} s"
    )
    report.expect("other gRPC clients: some answered OK", "OK" in statuses, grpc_seen.by_status)
    _answered_quickly(report, "HTTP clients", http_seen)
    _answered_quickly(report, "gRPC clients after the flood", after)
    return report


def held_grpc_calls(workdir: Path) -> ScenarioReport:
    rpcs, streams, age_s, grace_s = 32, 16, 4.0, 1.0
    report = ScenarioReport(
        f"gRPC calls that never send their message: cap {rpcs} per worker, {streams} per "
        f"connection, connection age {age_s:g} s + {grace_s:g} s grace"
    )
    flags = (
        "--workers", "1",
        "--grpc-max-concurrent-rpcs", str(rpcs),
        "--grpc-max-streams-per-connection", str(streams),
        "--grpc-max-connection-age-s", str(age_s),
        "--grpc-max-connection-age-grace-s", str(grace_s),
    )  # fmt: skip
    with (
        _service(workdir, flags) as service,
        GrpcLoad(service.grpc_target) as grpc_load,
        _pool() as pool,
    ):
        time.sleep(1)
        # One connection asks for 100 calls: it gets `streams`, the cap keeps room for others.
        one_start = time.monotonic()
        one = pool.submit(hold_many, service.grpc_port, 1, True, 100, 20.0).result(60)
        one_end = one_start + one[0].seconds
        # Three such connections take more than the worker's cap.
        three_start = time.monotonic()
        three = pool.submit(hold_many, service.grpc_port, 3, True, 100, 20.0).result(60)
        three_end = three_start + max(c.seconds for c in three)
        time.sleep(1.5)
    result = grpc_load.result
    beside_one = report.record(
        "gRPC clients beside one holder", result.between(one_start + 0.5, one_end - 0.5)
    )
    beside_three = report.record(
        "gRPC clients beside three holders", result.between(three_start + 0.5, three_end - 0.5)
    )
    after = report.record(
        "gRPC clients after they were closed", result.between(three_end + 0.5, 1e18)
    )
    report.note(f"one holder closed after {one[0].seconds:.2f} s; three: {_range(three)}")
    longest = 1.1 * age_s + grace_s + SLACK_S
    report.expect(
        f"holders closed at the connection age: within {age_s:g} s + 10% + {grace_s:g} s grace "
        f"+ {SLACK_S:g} s",
        all(c.closed and c.goaway and c.seconds <= longest for c in one + three),
        [round(c.seconds, 2) for c in one + three],
    )
    _answered_quickly(report, "beside one holder", beside_one)
    exhausted = beside_three.by_status.get("RESOURCE_EXHAUSTED", 0)
    report.expect(
        "beside three holders: RESOURCE_EXHAUSTED (the cap is full), answered within 0.5 s",
        exhausted > 0 and max((o.seconds for o in beside_three.outcomes), default=0) < 0.5,
        beside_three.by_status,
    )
    _answered_quickly(report, "after the holders were closed", after)
    return report


def oversized_grpc_messages(workdir: Path) -> ScenarioReport:
    limit, send_limit = 100_000, 4096
    report = ScenarioReport(
        f"oversized gRPC messages: requests above {limit:,} bytes, answers above {send_limit:,}"
    )
    flags = (
        "--workers", "2",
        "--max-body-bytes", str(limit),
        "--grpc-max-send-message-bytes", str(send_limit),
        "--max-series-length", "100000000",
    )  # fmt: skip
    with _service(workdir, flags) as service, _loads(service) as loads:
        with loads.attack(settle_s=1):
            outcomes = asyncio.run(_oversized_calls(service.grpc_target, limit))
        alive = service.process.poll() is None
    grpc_seen, http_seen = loads.meanwhile(report)
    for name, (code, seconds) in outcomes.items():
        report.note(f"{name}: {code} in {seconds:.3f} s")
    for name in ("request 1 byte over", "request of 64 MB"):
        code, seconds = outcomes[name]
        report.expect(
            f"{name}: RESOURCE_EXHAUSTED within 2 s",
            code == "RESOURCE_EXHAUSTED" and seconds < 2.0,
            (code, seconds),
        )
    code, _ = outcomes["answer over the send limit"]
    report.expect(
        "answer over the send limit: RESOURCE_EXHAUSTED", code == "RESOURCE_EXHAUSTED", code
    )
    report.expect("a call just under the limit: OK", outcomes["request under the limit"][0] == "OK")
    report.expect("the service is still running", alive)
    _answered_quickly(report, "gRPC clients", grpc_seen)
    _answered_quickly(report, "HTTP clients", http_seen)
    return report


def _series_request(points: int, series: int = 1) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="forecast")
    request.inputs.add(name="series", datatype="FP32", shape=[series, points])
    request.raw_input_contents.append(b"\x00\x00\x80\x3f" * (points * series))  # 1.0 each
    return request


async def _oversized_calls(target: str, limit: int) -> dict[str, tuple[str, float]]:
    """Each call on a fresh connection: a refused message may end its connection."""
    overhead = _series_request(1).ByteSize() - 4  # the message without its data
    calls = {
        "request under the limit": _series_request((limit - overhead - 64) // 4),
        "request 1 byte over": _series_request((limit - overhead) // 4 + 1),
        "request of 64 MB": _series_request(16 * 1024 * 1024),
        # 256 series x 5 steps x 4 bytes of forecasts is 5 KiB, above the 4 KiB send limit.
        "answer over the send limit": _series_request(5, series=256),
    }
    outcomes: dict[str, tuple[str, float]] = {}
    for name, request in calls.items():
        async with grpc.aio.insecure_channel(
            target,
            options=[
                ("grpc.use_local_subchannel_pool", 1),
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
            ],
        ) as channel:
            started = time.monotonic()
            try:
                await pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=20)
                code = "OK"
            except grpc.aio.AioRpcError as exc:
                code = exc.code().name
            outcomes[name] = (code, time.monotonic() - started)
    return outcomes
