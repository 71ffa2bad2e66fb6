"""Fixtures of the benchmark harness tests."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

LOCK = Path("/tmp/rnn-bench.lock")  # every measured run on this machine holds it


@pytest.fixture
def bench_lock() -> Iterator[None]:
    """Hold the benchmark lock so the smoke run does not disturb a real measurement; after
    10 minutes of waiting, run anyway (the lock may be held by whoever runs this test)."""
    fd = os.open(LOCK, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(1)
        yield
    finally:
        os.close(fd)
