"""New connections shared evenly between workers: the board's rule, the acceptor on a real
listening socket, and `python -m service` with two workers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadtest.process import running_service
from service.balance import STALE_S, AcceptBoard, BalancedAcceptor


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_claimed_slots_are_distinct_and_a_dead_workers_slot_is_reused() -> None:
    board = AcceptBoard(slots=2)
    first = board.claim(os.getpid())
    dead = board.claim(_dead_pid())
    assert {first, dead} == {0, 1}
    assert board.claim(os.getpid()) == dead  # its owner is gone
    assert board.claim(os.getpid()) is None  # both taken by a live process
    board.release(first)  # type: ignore[arg-type]
    assert board.claim(os.getpid()) == first


def test_a_worker_accepts_only_while_no_live_worker_holds_fewer() -> None:
    board = AcceptBoard(slots=3)
    busy, idle, absent = (board.claim(os.getpid()) for _ in range(3))
    assert busy is not None and idle is not None and absent is not None
    now = time.monotonic()
    board.publish(busy, 5, now)
    board.publish(idle, 3, now)
    board.publish(absent, 0, now - 2 * STALE_S)  # silent: hung, stopped or busy
    assert not board.may_accept(busy, now)
    assert board.may_accept(idle, now)
    board.publish(idle, 5, now)
    assert board.may_accept(busy, now) and board.may_accept(idle, now)  # ties accept
    board.release(idle)
    board.publish(busy, 50, now)
    assert board.may_accept(busy, now)  # no other live worker


class _Counting(asyncio.Protocol):
    def __init__(self, held: set[asyncio.Protocol]) -> None:
        self.held = held

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.held.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.held.discard(self)


@contextlib.contextmanager
def _listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


async def _burst(port: int, count: int) -> list[socket.socket]:
    """`count` connections opened at once, before any is accepted."""
    clients = []
    for _ in range(count):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.connect(("127.0.0.1", port))  # completes in the kernel's backlog
        clients.append(client)
    return clients


async def _settle(held: list[set[asyncio.Protocol]], total: int) -> None:
    deadline = time.monotonic() + 5
    while sum(len(h) for h in held) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def test_two_acceptors_on_one_socket_split_a_burst_evenly() -> None:
    async def scenario() -> list[int]:
        board = AcceptBoard(slots=2)
        held: list[set[asyncio.Protocol]] = [set(), set()]
        with _listener() as sock, sock.dup() as twin:
            acceptors = [
                BalancedAcceptor(
                    listener,
                    board,
                    board.claim(os.getpid()),  # type: ignore[arg-type]
                    lambda h=h: _Counting(h),  # type: ignore[misc]
                    lambda h=h: len(h),  # type: ignore[misc]
                    backlog=128,
                )
                for listener, h in ((sock, held[0]), (twin, held[1]))
            ]
            clients = await _burst(sock.getsockname()[1], 24)
            await _settle(held, 24)
            counts = [len(h) for h in held]
            for acceptor in acceptors:
                acceptor.close()
            for client in clients:
                client.close()
        return counts

    counts = asyncio.run(scenario())
    assert sum(counts) == 24
    assert max(counts) - min(counts) <= 2, counts


def test_a_silent_worker_does_not_hold_back_the_others() -> None:
    async def scenario() -> tuple[int, int]:
        board = AcceptBoard(slots=2)
        silent = board.claim(os.getpid())
        assert silent is not None
        held: set[asyncio.Protocol] = set()
        with _listener() as sock:
            acceptor = BalancedAcceptor(
                sock,
                board,
                board.claim(os.getpid()),  # type: ignore[arg-type]
                lambda: _Counting(held),
                lambda: len(held),
                backlog=128,
            )
            board.publish(silent, 0, time.monotonic())  # fresh, and holding fewer
            clients = await _burst(sock.getsockname()[1], 4)
            await asyncio.sleep(STALE_S / 4)
            while_fresh = len(held)  # it may take one while its own count was 0
            await _settle([held], 4)  # the silent worker goes stale: this one takes the rest
            after = len(held)
            acceptor.close()
            for client in clients:
                client.close()
        return while_fresh, after

    while_fresh, after = asyncio.run(scenario())
    assert while_fresh <= 1
    assert after == 4


def _established_per_worker(parent: int, port: int) -> dict[int, int]:
    """Established connections to `port` held by each child of `parent`, from /proc."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01":  # ESTABLISHED
                    inodes.add(fields[9])
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    counts: dict[int, int] = {}
    for child in map(int, children):
        held = 0
        with contextlib.suppress(FileNotFoundError, PermissionError):
            for fd in Path(f"/proc/{child}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        held += 1
        if held:
            counts[child] = held
    return counts


def _open_and_ask(port: int, count: int) -> list[socket.socket]:
    """`count` keep-alive connections opened in a burst, each then answering one request."""
    clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    request = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    for client in clients:
        client.sendall(request)
    for client in clients:
        assert client.recv(4096).startswith(b"HTTP/1.1 200"), "no answer"
    return clients


def _until_both_workers_accept(port: int, parent: int) -> None:
    """/readyz answers once one worker is up; the other may still be loading its models."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        clients = _open_and_ask(port, 8)
        serving = len(_established_per_worker(parent, port))
        for client in clients:
            client.close()
        if serving == 2:
            time.sleep(0.1)  # the closed connections leave the counts
            return
        time.sleep(0.2)
    raise AssertionError("the second worker never accepted a connection")


def _burst_splits(port: int, parent: int, rounds: int = 5) -> list[dict[int, int]]:
    """Connections held per worker after each of `rounds` bursts of 32 (each closed after)."""
    splits = []
    for _ in range(rounds):
        clients = _open_and_ask(port, 32)
        try:
            splits.append(_established_per_worker(parent, port))
        finally:
            for client in clients:
                client.close()
        time.sleep(0.1)  # the closed connections leave the counts
    return splits


def _assert_mostly_even(splits: list[dict[int, int]]) -> None:
    """Every burst is answered whole, and all bursts but one split within 4 between the two
    workers. One may be uneven: a worker descheduled for longer than the board's staleness
    limit (a loaded machine) is rightly left out while it is silent. Without balancing, 30
    such bursts here split from 32/0 to 15/17, and 3 of the 30 within 4."""
    for split in splits:
        assert sum(split.values()) == 32, splits
    even = [s for s in splits if len(s) == 2 and max(s.values()) - min(s.values()) <= 4]
    assert len(even) >= len(splits) - 1, splits


@pytest.mark.slow
def test_two_workers_share_a_burst_of_connections(zoo: Path) -> None:
    with running_service(zoo, "--workers", "2") as service:
        _until_both_workers_accept(service.port, service.process.pid)
        splits = _burst_splits(service.port, service.process.pid)
    _assert_mostly_even(splits)


@pytest.mark.slow
def test_a_stopped_worker_leaves_new_connections_to_the_other(zoo: Path) -> None:
    with running_service(zoo, "--workers", "2") as service:
        _until_both_workers_accept(service.port, service.process.pid)
        keep = _open_and_ask(service.port, 8)  # both workers hold some
        workers = list(_established_per_worker(service.process.pid, service.port))
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGSTOP)
        try:
            started = time.monotonic()
            # Kept open: the live worker ends up holding many more than the stopped one.
            keep += _open_and_ask(service.port, 12)
            with httpx.Client(timeout=10) as client:
                assert client.get(f"{service.url}/healthz").status_code == 200
            elapsed = time.monotonic() - started
        finally:
            with contextlib.suppress(ProcessLookupError):  # the supervisor may have replaced it
                os.kill(workers[0], signal.SIGCONT)
            for sock in keep:
                sock.close()
    # The stopped worker stops publishing, so the live one stops comparing itself with it.
    assert elapsed < 5, f"{elapsed:.1f} s for 13 connections"


def _workers(parent: int) -> set[int]:
    """The worker processes among `parent`'s children (not multiprocessing's tracker)."""
    workers = set()
    for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        with contextlib.suppress(FileNotFoundError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(int(child))
    return workers


@pytest.mark.slow
def test_workers_restarted_by_sighup_balance_too(zoo: Path) -> None:
    """SIGHUP replaces each worker while the old one still serves: the replacements take
    free slots of the board and the retired workers' slots come back."""
    with running_service(zoo, "--workers", "2") as service:
        parent = service.process.pid
        _until_both_workers_accept(service.port, parent)
        before = _workers(parent)
        assert len(before) == 2
        os.kill(parent, signal.SIGHUP)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            now = _workers(parent)
            if len(now) == len(before) and not now & before:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the workers were not replaced")
        _until_both_workers_accept(service.port, parent)
        splits = _burst_splits(service.port, parent)
    for split in splits:
        assert set(split) <= now, splits  # only the replacements hold connections
    _assert_mostly_even(splits)
