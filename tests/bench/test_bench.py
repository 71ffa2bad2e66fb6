"""The benchmark harness works: parsing, targets, report, and one quick run of every app."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import batching, loadgen, report, targets, v2
from bench.apps.common import load_card
from bench.payloads import forecast_payload, sentiment_payload
from bench.servers import ServerError, ServerSpec, running, service_spec

REPO = Path(__file__).resolve().parents[2]
TASKS = ("forecast", "sentiment")
MODELS = Path(os.environ.get("BENCH_TEST_MODELS_DIR", REPO / "models"))  # override: dev models


def _have_models() -> bool:
    try:
        return all((load_card(task, MODELS)[0] / "model.onnx").exists() for task in TASKS)
    except (OSError, ValueError):
        return False


def test_payloads_are_the_documented_requests() -> None:
    body = json.loads(forecast_payload().body)
    assert len(body["series"]) == 1 and len(body["series"][0]) == 50
    text = json.loads(sentiment_payload().body)["texts"][0]
    assert 200 <= len(text.split()) <= 260


def test_a_server_that_exits_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    script = "import sys; print('no model here'); sys.exit(3)"
    spec = ServerSpec("broken", [sys.executable, "-c", script], {})
    with (
        pytest.raises(ServerError, match=r"broken did not become ready \(exited with 3 before"),
        running(spec, forecast_payload(), tmp_path),
    ):
        pass
    [log] = tmp_path.glob("broken-*.log")
    assert "no model here" in log.read_text(encoding="utf-8")


def test_wrk_result_line_is_parsed() -> None:
    raw = {
        "requests": 3000,
        "duration_us": 2_000_000,
        "bytes": 1,
        "errors": {"connect": 0, "read": 1, "write": 0, "status": 2, "timeout": 0},
        "latency_us": {
            "mean": 1500.0,
            "p50": 1000,
            "p90": 2000,
            "p95": 2500,
            "p99": 4000,
            "p999": 5000,
            "max": 9000,
        },
    }
    result = loadgen._parse(raw, connections=8)
    assert result.throughput == 1500.0
    assert result.errors == 3
    assert result.p99_ms == 4.0


def _row(app: str, model: str, connections: int, throughput: float, **extra: Any) -> dict[str, Any]:
    row = {
        "app": app,
        "model": model,
        "connections": connections,
        "throughput": throughput,
        "requests": int(throughput * 10),
        "seconds": 10.0,
        "p99_ms": 10.0,
        "errors": 0,
    }
    return {**row, **extra}


def test_targets_pass_and_fail_with_margins(tmp_path: Path) -> None:
    results: dict[str, Any] = {
        "http": [
            _row("service", "forecast", 32, 6000.0),
            _row("ceiling", "forecast", 32, 20000.0),
            _row("textbook", "forecast", 32, 1000.0),
            _row("keras", "forecast", 32, 50.0),
            _row("service", "sentiment", 32, 800.0),
            _row("keras", "sentiment", 32, 0.0),
            _row("service", "forecast", 128, 6000.0),
            _row("service", "sentiment", 128, 800.0, errors=3),
        ],
        "inprocess": [
            {"model": "sentiment", "batch_size": 12, "rows_per_s": 4000.0},
            {"model": "forecast", "batch_size": 20, "rows_per_s": 30000.0},
        ],
        "batching": {
            "sentiment": {"batches": 10, "average_batch_rows": 11.6, "complete": True},
            "forecast": {"batches": 10, "average_batch_rows": 20.2, "complete": True},
        },
    }
    found = {t.name: t for t in targets.evaluate(results)}
    # limit = 1 / (1/20,000 + 1/30,000) = 12,000 req/s; the service does 6,000.
    limit = found["forecast@32: service / limit"]
    assert limit.value == 0.5 and limit.passed is False
    assert limit.margin.startswith("short by 38%") and "12,000 req/s" in limit.detail
    # No HTTP ceiling measured for sentiment: the limit is unknown, not a pass.
    assert found["sentiment@32: service / limit"].passed is None
    assert found["forecast@32: service / textbook"].passed is True
    assert found["forecast@32: service / keras"].margin == "ahead by 140%"
    assert found["forecast@32: service p99"].passed is True
    assert found["sentiment@128: service errors"].passed is False
    keras = found["sentiment@32: service / keras"]  # no request done in 10 s: a lower bound
    assert keras.value == 8000.0 and "lower bound" in keras.detail

    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nnotes before\n", encoding="utf-8")
    report.update_benchmarks_md(md, "first")
    report.update_benchmarks_md(md, "second")
    text = md.read_text(encoding="utf-8")
    assert "notes before" in text and "second" in text and "first" not in text


def test_v2_json_target_is_the_median_of_alternated_rounds() -> None:
    rows = [
        _row("service-v2-json", "forecast", 32, 900.0, round=0),
        _row("service", "forecast", 32, 1000.0, round=0),
        _row("service-v2-json", "forecast", 32, 500.0, round=1),  # a busy moment
        _row("service", "forecast", 32, 1000.0, round=1),
        _row("service-v2-json", "forecast", 32, 1900.0, round=2),
        _row("service", "forecast", 32, 2000.0, round=2),
    ]
    results: dict[str, Any] = {"http": rows, "inprocess": [], "batching": {}}
    found = {t.name: t for t in targets.evaluate(results)}
    v2 = found["forecast@32: V2 JSON / native"]
    assert v2.value == 0.9 and v2.passed is True and "0.90, 0.50, 0.95" in v2.detail
    assert "sentiment@32: V2 JSON / native" not in found  # not measured: no target


def test_batching_counts_that_missed_a_worker_are_not_used() -> None:
    before = batching.Counters(batches=50, requests=90, rows=90, workers_seen=2)
    # Read afterwards from one worker only: the sum went backwards.
    after = batching.Counters(batches=30, requests=60, rows=60, workers_seen=1)
    result = after.minus(before, workers=2)
    assert result.complete is False and result.average_batch_rows == 0.0
    both = batching.Counters(batches=70, requests=150, rows=150, workers_seen=2)
    assert both.minus(before, workers=2).average_batch_rows == 3.0
    results: dict[str, Any] = {
        "http": [_row("service", "forecast", 32, 6000.0), _row("ceiling", "forecast", 32, 2e4)],
        "inprocess": [{"model": "forecast", "batch_size": 1, "rows_per_s": 30000.0}],
        "batching": {"forecast": result.to_dict()},
    }
    limit = {t.name: t for t in targets.evaluate(results)}["forecast@32: service / limit"]
    assert limit.passed is None and "unread" in limit.detail


@pytest.mark.slow
@pytest.mark.skipif(not _have_models(), reason="no exported models under models/")
def test_batching_counters_are_read_from_every_worker(tmp_path: Path, bench_lock: None) -> None:
    """Each worker takes a new connection only while it holds no more than the others: right
    after 2 s of wrk's load, a reader that closed each connection before opening the next met
    the same worker on all of its 60 reads in 4 of 9 trials."""
    wrk = loadgen.ensure_wrk()
    body = forecast_payload()
    with running(service_spec(MODELS, 2, {}), body, tmp_path) as server:
        name = load_card("forecast", MODELS)[1].name
        for _ in range(5):
            loadgen.run_wrk(wrk, server.url, body, 32, 2)
            assert batching.read_counters(server.url, name, workers=2).workers_seen == 2


@pytest.mark.slow
@pytest.mark.skipif(not _have_models(), reason="no exported models under models/")
def test_quick_run_of_every_app(tmp_path: Path, bench_lock: None) -> None:
    import subprocess

    # The harness installs its load generators (Debian's wrk and h2load) when they are
    # missing; a machine where it cannot fails here rather than skipping the run.
    loadgen.ensure_wrk()
    v2.ensure_h2load()
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--models-dir", str(MODELS), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    measured = {(r["app"], r["model"]) for r in results["http"]}
    for app in ("service", "ceiling", "textbook", "keras"):
        for model in ("forecast", "sentiment"):
            assert (app, model) in measured
    fast = [r for r in results["http"] if r["app"] != "keras"]
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in fast)
    # Every point carries the servers' CPU per request; a server cannot answer for nothing.
    assert all(r["cpu_us_per_request"] > 0 for r in fast)
    assert "CPU µs/req" in (out / "results.md").read_text(encoding="utf-8")
    assert {r["model"] for r in results["inprocess"]} == {"forecast", "sentiment"}
    assert results["selection"] and not results["failures"]
    # The limit needs the batch size every worker's batcher reached.
    assert all(b["complete"] and b["batches"] > 0 for b in results["batching"].values())
    assert (out / "results.md").exists() and (out / "throughput.png").exists()


def test_steal_is_the_share_of_the_stolen_ticks(tmp_path: Path) -> None:
    from bench import machine

    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 0 0 0 50 0 0\ncpu0 1 2 3\n", encoding="utf-8")
    before = machine.cpu_ticks(stat)
    assert before == [100, 0, 50, 800, 0, 0, 0, 50]
    stat.write_text("cpu  160 0 70 900 0 0 0 70 0 0\n", encoding="utf-8")
    # 200 ticks passed, 20 of them stolen
    assert machine.steal_percent(before, machine.cpu_ticks(stat)) == 10.0
    assert machine.steal_percent([], before) is None
    assert machine.cpu_ticks(tmp_path / "missing") == []
