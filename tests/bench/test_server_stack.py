"""`python -m bench.server_stack`: the bare app under plain uvicorn and under the service's
server layer, both really serving it under wrk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from bench import server_stack
from bench.loadgen import LoadResult
from bench.payloads import forecast_payload
from bench.servers import running


def _result(throughput: float, cpu_us: float | None) -> LoadResult:
    return LoadResult(32, 8.0, int(throughput * 8), throughput, 0, {}, 1, 2, 3, 4, 5, 1.5, cpu_us)


def test_summary_takes_medians_and_the_layer_over_uvicorn_ratios() -> None:
    results = {
        "uvicorn": [_result(1000, 100), _result(3000, 80), _result(2000, 90)],
        "service layer": [_result(1500, 60), _result(500, 120), _result(1000, 70)],
    }
    summary = server_stack.summary(results)
    assert summary["sides"]["uvicorn"]["requests_per_s"] == 2000
    assert summary["sides"]["service layer"]["cpu_us_per_request"] == 70
    assert summary["service_layer_over_uvicorn"] == {
        "requests_per_s": 0.5,
        "cpu_us_per_request": round(70 / 90, 3),
    }


@pytest.mark.slow
def test_the_service_layer_serves_the_bare_app_through_its_supervisor(tmp_path: Path) -> None:
    body = forecast_payload()
    with running(server_stack.service_layer_spec(2, {}), body, tmp_path) as server:
        answer = httpx.post(f"{server.url}{body.path}", content=body.body, timeout=10)
        parent = server.process.pid
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert answer.status_code == 200
    assert answer.content == b'{"model":"forecast","version":"1","horizon":10,"forecasts":[[0.0]]}'
    assert answer.headers.get("server") is None  # the service's uvicorn settings, not uvicorn's
    assert len(workers) == 2


@pytest.mark.slow
def test_a_quick_comparison_writes_both_sides(tmp_path: Path, bench_lock: None) -> None:
    import subprocess

    out = tmp_path / "server_stack.json"
    command = [sys.executable, "-m", "bench.server_stack", "--models", "forecast"]
    command += ["--rounds", "1", "--seconds", "1", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))["forecast"]
    for side in server_stack.SIDES:
        (measured,) = report["sides"][side]["rounds"]
        assert measured["requests"] > 0 and measured["errors"] == 0
        assert measured["cpu_us_per_request"] > 0
    assert set(report["service_layer_over_uvicorn"]) == {"requests_per_s", "cpu_us_per_request"}
