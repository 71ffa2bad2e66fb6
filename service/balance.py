"""New connections shared evenly between the workers of one listening socket.

Every worker waits on the same listening socket and the kernel wakes them all; whichever loop
gets there first accepts everything queued. With closed-loop clients and keep-alive recycling
that leaves one worker holding most connections for seconds at a time (measured at 32
clients: splits from 16/16 to 2/30 and 32/0 within one 5-second round), and the overloaded
worker sets the pace while the other idles.

Here each worker publishes how many connections it holds on a board in shared memory and
accepts only while it holds no more than any other live worker. The least loaded worker
always accepts, so someone always does (a worker that declined looks again a millisecond
later, in case the counts it read were stale); a worker whose loop has not published for
`STALE_S` (hung, stopped, or busy with a huge body) is left out of the comparison, so the
others take its share instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import multiprocessing
import os
import socket
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("service")

TICK_S = 0.02  # how often a worker publishes its count while no connection arrives
# A worker that left a connection to the others looks at the socket again after this: the
# counts it decided on may be stale, and the others may have stopped accepting meanwhile.
RECHECK_S = 0.001
STALE_S = 0.2  # a worker silent this long is treated as absent
ACCEPTS_PER_WAKEUP = 16  # bounded, so that one burst of clients does not stall the loop
_FIELDS = 3  # per slot: owner pid, connections, last publish (time.monotonic)
# accept() errors that concern one connection or a passing shortage: retry on the next tick
_RETRY_LATER = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class AcceptBoard:
    """Per-worker connection counts in shared memory, made by the supervisor and handed to
    its workers when they start (it pickles only into a process being spawned)."""

    def __init__(self, slots: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.slots = slots
        self._table = context.RawArray("d", slots * _FIELDS)
        self._lock = context.Lock()

    def claim(self, pid: int) -> int | None:
        """A free slot for worker `pid` (one of a worker that died is free), or None."""
        with self._lock:
            for slot in range(self.slots):
                owner = int(self._table[slot * _FIELDS])
                if owner == 0 or not _alive(owner):
                    self._write(slot, pid, 0, time.monotonic())
                    return slot
        return None

    def release(self, slot: int) -> None:
        with self._lock:
            self._write(slot, 0, 0, 0.0)

    def publish(self, slot: int, connections: int, now: float) -> None:
        base = slot * _FIELDS
        self._table[base + 1] = float(connections)
        self._table[base + 2] = now

    def may_accept(self, slot: int, now: float) -> bool:
        """True unless another live worker holds fewer connections than `slot`."""
        table = self._table
        mine = table[slot * _FIELDS + 1]
        for other in range(self.slots):
            base = other * _FIELDS
            if other == slot or table[base] == 0 or now - table[base + 2] > STALE_S:
                continue
            if table[base + 1] < mine:
                return False
        return True

    def _write(self, slot: int, pid: int, connections: int, now: float) -> None:
        base = slot * _FIELDS
        self._table[base : base + _FIELDS] = [float(pid), float(connections), now]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BalancedAcceptor:
    """Accepts on one listening socket for this worker while the board allows it, and hands
    each connection to the event loop as `create_protocol`'s protocol."""

    def __init__(
        self,
        listener: socket.socket,
        board: AcceptBoard,
        slot: int,
        create_protocol: Callable[[], asyncio.Protocol],
        connections: Callable[[], int],
        backlog: int,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._listener = listener
        self._fd = listener.fileno()
        self._board = board
        self._slot = slot
        self._create_protocol = create_protocol
        self._connections = connections
        self._handing_over = 0  # accepted, not yet made into a protocol
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reading = False
        self._closed = False
        listener.setblocking(False)
        listener.listen(backlog)  # the supervisor binds it; the event loop's server would listen
        self._publish()
        self._resume()
        self._ticker = self._loop.call_later(TICK_S, self._tick)

    @property
    def accepting(self) -> bool:
        return self._reading

    def close(self) -> None:
        """Stop accepting (the listening socket itself is the server's to close)."""
        self._closed = True
        self._ticker.cancel()
        self._pause()

    def _held(self) -> int:
        return self._connections() + self._handing_over

    def _publish(self) -> float:
        now = time.monotonic()
        self._board.publish(self._slot, self._held(), now)
        return now

    def _tick(self) -> None:
        if not self._closed:
            self._publish()
            self._ticker = self._loop.call_later(TICK_S, self._tick)

    def _resume(self) -> None:
        if not self._reading and not self._closed:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def _pause(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _on_readable(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            if not self._board.may_accept(self._slot, self._publish()):
                self._pause()
                self._loop.call_later(RECHECK_S, self._resume)
                return
            try:
                connection, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return  # another worker took it
            except OSError as exc:
                if exc.errno in _RETRY_LATER:
                    logger.warning("accept failed, retrying shortly", extra={"error": str(exc)})
                    self._pause()
                    self._loop.call_later(TICK_S, self._resume)
                return  # ECONNABORTED and the like: that client is gone
            self._hand_over(connection)

    def _hand_over(self, connection: socket.socket) -> None:
        connection.setblocking(False)
        with contextlib.suppress(OSError):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._handing_over += 1
        task = self._loop.create_task(self._connect(connection))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, connection: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._create_protocol, connection)
        except OSError:
            connection.close()
        finally:
            self._handing_over -= 1
