from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench import profile
from bench.cpu import group_cpu_seconds
from bench.profile import OTHER, split_samples, stage_of

RAW = [
    "thread (1): MainThread;run_asgi (uvicorn/protocols/http/httptools_impl.py:420);"
    "DataPlane.__call__ (service/dataplane.py:120);run (service/dataplane.py:80);"
    "ForecastCodec.prepare (service/tasks/forecast.py:97) 30",
    "thread (1): MainThread;run_asgi (uvicorn/protocols/http/httptools_impl.py:420);"
    "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:463) 10",
    "thread (2): ort-forecast/1_0;Thread.run (threading.py:982);"
    "SequenceRunner.__call__ (service/runtime.py:60);Session.run (onnxruntime/x.py:1) 50",
    "thread (2): ort-forecast/1_0;Thread.run (threading.py:982);"
    "_worker (concurrent/futures/thread.py:81) 500",
    "thread (1): MainThread;Runner.run (asyncio/runners.py:118) 200",
    "thread (3): Thread-2 (_poll_wrapper);Thread.run (threading.py:982) 90",
    "thread (1): MainThread;<module> (x.py:1) 5",
]


def test_samples_go_to_their_innermost_stage_and_idle_threads_are_left_out() -> None:
    stages, idle = split_samples(RAW)
    assert idle == 500 + 200 + 90
    assert stages == {
        "parsing and validation": 30,
        "HTTP server (uvicorn, httptools, limits)": 10,
        "inference (onnxruntime)": 50,
        OTHER: 5,
    }


def test_a_stack_without_known_frames_is_other() -> None:
    assert stage_of(["main (x.py:1)", "helper (y.py:2)"]) == OTHER


def test_group_cpu_seconds_counts_this_process_group() -> None:
    before = group_cpu_seconds(os.getpgrp())
    sum(i * i for i in range(2_000_000))
    assert group_cpu_seconds(os.getpgrp()) > before


def test_py_spy_is_found_beside_the_interpreter_without_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    assert profile.find_py_spy() == str(Path(sys.executable).parent / "py-spy")
