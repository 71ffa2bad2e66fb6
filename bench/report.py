"""The Markdown report of one results document, and its insertion into BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.targets import Target

BEGIN = "<!-- bench:begin (written by python -m bench; edit outside these markers) -->"
END = "<!-- bench:end -->"
APP_NAMES = {
    "service": "service",
    "service-v2-json": "service, KServe V2 HTTP JSON",
    "service-v2-binary": "service, KServe V2 HTTP binary",
    "service-v2-grpc": "service, KServe V2 gRPC (h2load)",
    "ceiling": "HTTP ceiling (bare ASGI)",
    "textbook": "textbook FastAPI + pydantic + ORT",
    "keras": "FastAPI + Keras predict",
}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _targets(targets: list[Target]) -> list[str]:
    rows = []
    for target in targets:
        verdict = {True: "**pass**", False: "**FAIL**", None: "not measured"}[target.passed]
        if target.value is None:
            value = "-"
        elif target.unit == "x":
            value = f"{target.value:,.2f}x"
        else:
            value = f"{target.value:,.1f} {target.unit}"
        limit = (">= " if target.higher_is_better else "<= ") + (
            f"{target.threshold:g}x"
            if target.unit == "x"
            else f"{target.threshold:g} {target.unit}"
        )
        rows.append([target.name, value, limit, verdict, target.margin, target.detail])
    return _table(["target", "measured", "wanted", "result", "margin", "against"], rows)


def _http(results: dict[str, Any], model: str) -> list[str]:
    rows = []
    for app in APP_NAMES:
        for r in results["http"]:
            if r["app"] == app and r["model"] == model:
                round_ = r.get("round", 0)
                rows.append(
                    [
                        APP_NAMES[app],
                        str(r["connections"]) + (f" (round {round_ + 1})" if round_ else ""),
                        _num(r["throughput"]),
                        _num(r["p50_ms"], 2),
                        _num(r["p95_ms"], 2),
                        _num(r["p99_ms"], 2),
                        str(r["errors"]),
                        _num(r.get("cpu_us_per_request"), 0),
                    ]
                )
    header = ["app", "clients", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "CPU µs/req"]
    return _table(header, rows)


def _inprocess(results: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["model"],
            str(r["batch_size"]),
            f"{r['processes']} x {r['threads']}",
            _num(r["rows_per_s"]),
            _num(r["calls_per_s"]),
            _num(r["call_p50_ms"], 3),
            _num(r["call_p99_ms"], 3),
        ]
        for r in results["inprocess"]
    ]
    return _table(
        [
            "model",
            "batch",
            "processes x threads",
            "rows/s",
            "calls/s",
            "call p50 ms",
            "call p99 ms",
        ],
        rows,
    )


def _batching(results: dict[str, Any]) -> list[str]:
    rows = [
        [
            model,
            str(b["requests"]),
            str(b["batches"]),
            _num(b["average_batch_rows"], 2) if b.get("complete") else "unknown",
            str(b["workers_seen"]),
        ]
        for model, b in results["batching"].items()
    ]
    return _table(
        [
            "model",
            "requests",
            "session.run calls",
            "average batch rows",
            "workers whose counters were read",
        ],
        rows,
    )


def _selection(results: dict[str, Any]) -> list[str]:
    pairs = sorted({(r["workers"], r["ort_threads"]) for r in results["selection"]})
    rows = []
    for workers, threads in pairs:
        row = [str(workers), str(threads)]
        for model in ("forecast", "sentiment"):
            hit = next(
                (
                    r
                    for r in results["selection"]
                    if r["model"] == model
                    and (r["workers"], r["ort_threads"]) == (workers, threads)
                ),
                None,
            )
            row += [_num(hit["throughput"]) if hit else "-", _num(hit["p99_ms"], 2) if hit else "-"]
        rows.append(row)
    return _table(
        [
            "uvicorn workers",
            "ORT intra-op threads",
            "forecast req/s",
            "forecast p99 ms",
            "sentiment req/s",
            "sentiment p99 ms",
        ],
        rows,
    )


def _machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return [
        f"- date (UTC): {m['date_utc']}; run took {results.get('duration_s', '?')} s",
        f"- CPU: {m['cpu_model']}, nproc {m['nproc']}; RAM {m['memory_gib']} GiB; "
        f"kernel {m['kernel']}; Python {m['python']}",
        f"- load average (1, 5, 15 min) at start: "
        f"{', '.join(str(x) for x in m['load_average_at_start'])}; at end: "
        f"{', '.join(str(x) for x in m.get('load_average_at_end', []))}",
        f"- hypervisor steal during the run: {_num(m.get('steal_percent'))}% of the machine's "
        "CPU time (given to other guests; wall-clock figures suffer, CPU per request less)",
        f"- load generator: {m['wrk']} (1 thread, Lua POST script), on the same machine; "
        "gRPC: h2load (nghttp2-client), 1 thread, one call in flight per connection",
        f"- packages: {packages}",
    ]


def markdown(results: dict[str, Any], targets: list[Target], charts: list[str]) -> str:
    cfg = results["config"]
    lines = [
        "## Latest run",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Every server: uvicorn, {cfg['workers']} workers, uvloop + httptools, no uvicorn "
        f"access log (the service writes its own JSON access line per request, its default); "
        f"service with {cfg['ort_threads']} onnxruntime intra-op thread(s) per worker. "
        f"Closed loop: each of N connections sends its next request when the answer arrives; "
        f"{cfg['duration_s']} s per point after {cfg['warmup_s']} s of discarded warm-up. "
        "CPU µs/req: user + system CPU time of the server's processes (all workers, read from "
        "/proc) per answered request, which other load on the machine moves far less than "
        "req/s; it shows how a request's cost grows with the number of clients.",
        "",
        "### Targets",
        "",
        *_targets(targets),
        "",
    ]
    for model, p in results["payloads"].items():
        lines += [
            f"### HTTP, {model}: {p['description']} ({p['bytes']} bytes)",
            "",
            *_http(results, model),
            "",
        ]
    lines += [
        "### In-process onnxruntime ceiling (no HTTP)",
        "",
        "Sessions made by `contract.sessions.create_session`, one per process, side by side; "
        "rows/s summed.",
        "",
        *_inprocess(results),
        "",
    ]
    if results["batching"]:
        lines += [
            "### Batch size the service's batcher reached at 32 clients",
            "",
            *_batching(results),
            "",
        ]
    if results["selection"]:
        clients = results["selection"][0]["connections"]
        lines += [
            f"### Choosing uvicorn workers and onnxruntime threads (service, {clients} clients)",
            "",
            *_selection(results),
            "",
        ]
    if results["keras_models"]:
        lines += ["### Keras models of the Keras baseline", ""]
        lines += [f"- {model}: {source}" for model, source in results["keras_models"].items()]
        lines += [""]
    if results["failures"]:
        lines += ["### Failures", ""]
        lines += [f"- {f['app']}: {f['error'][:500]}" for f in results["failures"]]
        lines += [""]
    if charts:
        lines += ["### Charts", ""] + [f"![{Path(c).stem}]({c})" for c in charts] + [""]
    lines += ["### Machine", "", *_machine(results), ""]
    return "\n".join(lines)


def update_benchmarks_md(path: Path, section: str) -> None:
    """Replace the generated part of BENCHMARKS.md, keeping the hand-written notes around it."""
    generated = f"{BEGIN}\n{section}\n{END}"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            path.write_text(head + generated + tail, encoding="utf-8")
            return
        path.write_text(text.rstrip() + "\n\n" + generated + "\n", encoding="utf-8")
        return
    path.write_text("# Benchmarks\n\n" + generated + "\n", encoding="utf-8")
