"""`python -m bench --peers` without starting any peer: the registry, the bodies and answers,
the answer check, the venv markers, stopping what a server leaves behind, and the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import cli
from bench.peers import check, report, venvs
from bench.peers.run import (
    TOKEN_ENV,
    cpu_shares,
    group_pids,
    own_shares,
    peer_server,
    process_ticks,
    server_token,
    stop_peer,
    token_processes,
)
from bench.peers.systems import PEERS, TOLERANCE, Peer, answer, body, payload

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"


def test_every_peer_runs_an_app_module_of_this_package() -> None:
    assert set(PEERS) == {"pytriton", "mlserver", "litserve", "bentoml", "ray"}
    python = Path("/venv/bin/python")
    for peer in PEERS.values():
        command = peer.command(python, "forecast")
        if peer.bentoml_service:
            assert command[:2] == ["/venv/bin/bentoml", "serve"]
            module, _, service = command[2].partition(":")
            source = (REPO / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
            assert f"class {service}:" in source
        else:
            assert command[:3] == [str(python), "-m", peer.module]
            assert command[3:] == ["--model", "forecast"]
            assert (REPO / (peer.module.replace(".", "/") + ".py")).exists()
        assert any(r.startswith("onnxruntime==") for r in peer.requirements)
        assert all(("==" in r or "<" in r) for r in peer.requirements if r != "pydantic")
    assert "uvloop<0.22" in PEERS["mlserver"].requirements


def test_bodies_carry_the_benchmark_request_and_answers_are_read_back() -> None:
    v2 = json.loads(body("v2-json", "forecast"))["inputs"][0]
    native = json.loads(body("native-json", "forecast"))
    assert v2["shape"] == [1, 50, 1] and v2["data"] == native["series"][0]
    assert json.loads(body("v2-json", "forecast", 3))["inputs"][0]["data"] != v2["data"]
    texts = json.loads(body("v2-json", "sentiment", 0, (1, 1)))["inputs"][0]
    assert (
        texts["shape"] == [1, 1]
        and texts["data"] == json.loads(payload("native-json", "sentiment").body)["texts"]
    )
    assert payload("v2-json", "sentiment").path == "/v2/models/sentiment/infer"
    v2_answer = {
        "outputs": [{"name": "label", "data": ["x"]}, {"name": "probability", "data": [[0.25]]}]
    }
    assert answer("v2-json", "sentiment", v2_answer).tolist() == [0.25]
    assert answer("native-json", "forecast", [[1.0, 2.0]]).tolist() == [1.0, 2.0]
    assert answer("native-json", "forecast", {"forecast": [[1.0]]}).tolist() == [1.0]
    service = {"results": [{"probabilities": {"negative": 0.75, "positive": 0.25}}]}
    assert answer("native-json", "sentiment", service).tolist() == [0.25]
    with pytest.raises(ValueError):
        answer("v2-json", "forecast", {"outputs": []})


def test_compare_holds_peers_to_the_tolerances() -> None:
    want = np.array([0.5, 0.25])
    assert check.compare("forecast", want + 5e-6, want, "f") <= TOLERANCE["forecast"]
    with pytest.raises(check.AnswerMismatch):
        check.compare("forecast", want + 2e-5, want, "f")
    with pytest.raises(check.AnswerMismatch):
        check.compare("sentiment", want + 2e-6, want, "s")
    with pytest.raises(check.AnswerMismatch):
        check.compare("sentiment", np.array([np.nan, 0.25]), want, "s")
    with pytest.raises(check.AnswerMismatch):
        check.compare("sentiment", want[:1], want, "s")


@pytest.fixture
def fake_peer(request: pytest.FixtureRequest) -> Iterator[str]:
    """A native-JSON HTTP server answering onnxruntime's forecast plus `request.param`."""
    offset = float(request.param)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = json.loads(self.rfile.read(int(self.headers["content-length"])))
            series = np.asarray(data["series"], dtype=np.float32)[:, :, None]
            output = check._forecaster(MODELS)(series)[:, :, 0] + offset
            raw = json.dumps({"forecast": output.tolist()}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _check(url: str) -> float:
    def parse(data: object) -> np.ndarray:
        return answer("native-json", "forecast", data)

    return check.check_answers(url, "native-json", "forecast", parse, MODELS)


@pytest.mark.parametrize("fake_peer", [0.0], indirect=True)
def test_answer_check_accepts_onnxruntime_answers(fake_peer: str) -> None:
    assert _check(fake_peer) <= 1e-6


@pytest.mark.parametrize("fake_peer", [1e-4], indirect=True)
def test_answer_check_fails_loudly_on_other_answers(fake_peer: str) -> None:
    with pytest.raises(check.AnswerMismatch, match="differs from onnxruntime"):
        _check(fake_peer)


def test_a_venv_is_reused_only_with_the_same_requirements(tmp_path: Path) -> None:
    peer = PEERS["litserve"]
    venv = tmp_path / peer.name
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    assert not venvs.is_current(venv, peer)
    (venv / venvs.MARKER).write_text(venvs.marker_text(peer), encoding="utf-8")
    assert venvs.is_current(venv, peer)
    assert not venvs.is_current(venv, PEERS["ray"])
    assert venvs.ensure(peer, tmp_path) == venv / "bin" / "python"  # reused: no pip


def test_stop_kills_what_escaped_the_process_group() -> None:
    """A leader whose child calls setsid and so leaves the group (as Ray's actors do): the child
    carries the token, is reported and killed."""
    token = f"test-{os.getpid()}-{time.monotonic_ns()}"
    script = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
        "start_new_session=True); time.sleep(60)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, TOKEN_ENV: token},
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while len(token_processes(token)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(token_processes(token)) == 2
    left = stop_peer(process, token, grace_s=0.5)
    assert len(left) == 1 and "time.sleep(60)" in left[0]
    time.sleep(0.2)
    assert token_processes(token) == []


# A server that answers every POST of JSON with 200 and leaves a child outside its group.
SCRIPT_SERVER = """
import http.server, subprocess, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        json = self.headers["content-type"] == "application/json"
        self.send_response(200 if json else 415)
        self.send_header("content-length", "0")
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


class ScriptPeer(Peer):
    def command(self, python: Path, model: str) -> list[str]:
        return [str(python), "-c", SCRIPT_SERVER]


def test_a_peer_server_is_started_reported_and_stopped_with_what_it_left(tmp_path: Path) -> None:
    peer = ScriptPeer("fake", "Fake", (), (), "native-json", "", "", stop_grace_s=2.0)
    with (
        pytest.raises(RuntimeError, match=r"^fake \(forecast\): boom; log tail:"),
        peer_server(peer, Path(sys.executable), "forecast", {}, tmp_path) as server,
    ):
        assert server.log == tmp_path / "peer-fake-forecast.log"
        token = server_token(server)
        assert len(token_processes(token)) == 2
        raise ValueError("boom")
    assert len(server.left_behind) == 1 and "time.sleep(60)" in server.left_behind[0]
    time.sleep(0.2)
    assert token_processes(token) == []


def test_cpu_shares() -> None:
    before, after = [0] * 8, [10, 20, 10, 30, 0, 0, 0, 30]
    assert cpu_shares(before, after) == {"nice": 0.2, "idle": 0.3, "steal": 0.3}
    # 40 busy ticks: 25 the server's, 5 wrk's, so 10 someone else's
    assert own_shares(before, after, 25, 5) == {"server": 0.25, "wrk": 0.05, "others": 0.1}


def test_cpu_ticks_of_this_process_group() -> None:
    pids = group_pids(os.getpgid(0))
    assert os.getpid() in pids
    assert process_ticks([os.getpid()])[os.getpid()] > 0


def _point(model: str, body_kind: str, rate: float) -> dict[str, Any]:
    return {
        "model": model,
        "body": body_kind,
        "round": 0,
        "throughput": rate,
        "p50_ms": 1.0,
        "p99_ms": 9.0,
        "errors": 0,
        "cpu": {"steal": 0.5, "nice": 0.1, "idle": 0.0, "server": 0.5},
    }


def test_report_ratios_compare_bodies_of_the_same_kind(tmp_path: Path) -> None:
    results: dict[str, Any] = {
        "command": "python -m bench --peers",
        "machine": {
            "date_utc": "d",
            "nproc": 2,
            "cpu_model": "c",
            "memory_gib": 1,
            "kernel": "k",
            "python": "3",
            "load_average_at_start": [0],
        },
        "config": {"clients": 32, "rounds": 1, "duration_s": 10, "lock": None},
        "service": {
            "points": [
                _point("forecast", "native-json", 900.0),
                _point("forecast", "v2-json", 600.0),
            ],
            "answer_check": {},
        },
        "peers": {
            "a": {
                "label": "A",
                "body": "v2-json",
                "config": "",
                "layout": "",
                "points": [_point("forecast", "v2-json", 300.0)],
                "service_points": [_point("forecast", "v2-json", 750.0)],
                "answer_check": {},
            },
            "b": {
                "label": "B",
                "body": "native-json",
                "status": "failed",
                "error": "boom",
                "config": "",
                "layout": "",
                "points": [],
                "answer_check": {},
            },
        },
        "failures": [{"system": "b", "error": "boom"}],
    }
    rows = {row["system"]: row for row in report.summary(results)}
    assert rows["A"]["ratio"] == {"forecast": "2.50x", "sentiment": "-"}  # paired rounds
    # 300 req/s with half of 2 cores: 300 requests per CPU-second; the service 750
    assert report.per_cpu_second(_point("forecast", "v2-json", 300.0), 2) == 300.0
    assert "| A | 750 / 300 | - / - | 2.50x / - |" in report.markdown(results)
    del results["peers"]["a"]["service_points"]
    rows = {row["system"]: row for row in report.summary(results)}
    assert rows["A"]["ratio"]["forecast"] == "2.00x"  # else the service's own V2 rounds
    text = report.markdown(results)
    assert "| B | did not run |" in text and "- b: boom" in text
    assert report.cpu_median(results, "steal") == 0.5
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n", encoding="utf-8")
    report.update_benchmarks_md(md, "first\n")
    report.update_benchmarks_md(md, "second\n")
    written = md.read_text(encoding="utf-8")
    assert written.count(report.BEGIN) == 1 and "second" in written and "first" not in written


def test_cli_peer_options() -> None:
    args = cli._parser().parse_args(
        ["--peers", "--peer-systems", "ray,litserve", "--models", "forecast", "--peer-lock", ""]
    )
    options = cli.peer_options(args)
    assert options.systems == ("ray", "litserve") and options.models == ("forecast",)
    assert options.lock is None and options.rounds == 3 and options.clients == 32
    with pytest.raises(SystemExit):
        cli.peer_options(cli._parser().parse_args(["--peers", "--peer-systems", "triton"]))
