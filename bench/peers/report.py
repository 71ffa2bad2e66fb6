"""The Markdown of one `python -m bench --peers` run, and its section of BENCHMARKS.md."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

BEGIN = "<!-- peers:begin (written by python -m bench --peers; edit outside these markers) -->"
END = "<!-- peers:end -->"
HEADING = "## Other serving systems (`python -m bench --peers`)"
BODY_NAMES = {"native-json": "native JSON", "v2-json": "V2 JSON"}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def median_point(points: list[dict[str, Any]], model: str, body: str) -> dict[str, float] | None:
    """Median req/s and median p99 over the rounds of one model and body, or None."""
    rounds = [p for p in points if p["model"] == model and p["body"] == body]
    if not rounds:
        return None
    return {
        "throughput": statistics.median(p["throughput"] for p in rounds),
        "p99_ms": statistics.median(p["p99_ms"] for p in rounds),
        "errors": sum(p["errors"] for p in rounds),
        "rounds": len(rounds),
    }


def _share(point: dict[str, Any], key: str) -> str:
    cpu = point.get("cpu")
    return "-" if not cpu or key not in cpu else f"{cpu[key]:.0%}"


def cpu_median(results: dict[str, Any], key: str) -> float | None:
    """Median share of all CPU time (`steal`, `others`, ...) over every round of the run."""
    entries = [results.get("service") or {}, *results.get("peers", {}).values()]
    points = [p for e in entries for k in ("points", "service_points") for p in e.get(k, [])]
    shares = [p["cpu"][key] for p in points if key in p.get("cpu", {})]
    return statistics.median(shares) if shares else None


def per_cpu_second(point: dict[str, Any], cores: int) -> float | None:
    """Requests per CPU-second the measured server used (all its processes) in one round."""
    share = (point.get("cpu") or {}).get("server")
    return point["throughput"] / (share * cores) if share else None


def median_efficiency(
    points: list[dict[str, Any]], model: str, body: str, cores: int
) -> float | None:
    values = [
        v
        for p in points
        if p["model"] == model and p["body"] == body
        if (v := per_cpu_second(p, cores)) is not None
    ]
    return statistics.median(values) if values else None


def _efficiency_table(results: dict[str, Any]) -> list[str]:
    cores = int(results["machine"].get("nproc") or 1)
    rows = []
    for peer in results.get("peers", {}).values():
        if peer.get("status") == "failed":
            continue
        cells = [peer["label"]]
        ratios = []
        for model in ("forecast", "sentiment"):
            theirs = median_efficiency(peer.get("points", []), model, peer["body"], cores)
            ours = median_efficiency(peer.get("service_points", []), model, peer["body"], cores)
            cells.append(" / ".join("-" if v is None else f"{v:,.0f}" for v in (ours, theirs)))
            ratios.append("-" if not ours or not theirs else f"{ours / theirs:.2f}x")
        rows.append([*cells, " / ".join(ratios)])
    header = ["peer", "forecast: service / peer", "sentiment: service / peer"]
    return _table([*header, "ratio (forecast / sentiment)"], rows)


def _rate(point: dict[str, float] | None) -> str:
    return "-" if point is None else f"{point['throughput']:,.0f}"


def _p99(a: dict[str, float] | None, b: dict[str, float] | None) -> str:
    return " / ".join("-" if p is None else f"{p['p99_ms']:,.1f}" for p in (a, b))


def _ratio(ours: dict[str, float] | None, theirs: dict[str, float] | None) -> str:
    if ours is None or theirs is None or not theirs["throughput"]:
        return "-"
    return f"{ours['throughput'] / theirs['throughput']:.2f}x"


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per system: medians per model, and this service / peer for the same body."""
    models = ("forecast", "sentiment")
    service = results.get("service") or {}
    points = service.get("points", [])
    ours = {(m, b): median_point(points, m, b) for m in models for b in BODY_NAMES}
    rows: list[dict[str, Any]] = []
    for body in BODY_NAMES:
        medians: dict[str, Any] = {m: ours[(m, body)] for m in models}
        rows.append({"system": f"this service ({BODY_NAMES[body]})", "body": body, **medians})
    for name, peer in results.get("peers", {}).items():
        medians = {m: median_point(peer.get("points", []), m, peer["body"]) for m in models}
        paired = peer.get("service_points") or []
        beside = {
            m: median_point(paired, m, peer["body"]) if paired else ours[(m, peer["body"])]
            for m in models
        }
        ratio = {m: _ratio(beside[m], medians[m]) for m in models}
        rows.append(
            {
                "system": peer["label"],
                "name": name,
                "body": peer["body"],
                "status": peer.get("status"),
                "error": peer.get("error"),
                **medians,
                "beside": beside,
                "ratio": ratio,
            }
        )
    return rows


def markdown(results: dict[str, Any]) -> str:
    cfg = results["config"]
    m = results["machine"]
    lines = [
        f"Command: `{results['command']}`, {m['date_utc']}.",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"kernel {m['kernel']}, Python {m['python']}, {m.get('wrk') or 'wrk'}; load average "
        f"{m['load_average_at_start']} at the start, {m.get('load_average_at_end', '-')} at "
        "the end (other people's work shares the cores).",
        "",
        f"Load: {cfg['clients']} closed-loop wrk clients, {cfg['rounds']} round(s) of "
        f"{cfg['duration_s']} s per model after a discarded warm-up; every server alone on "
        "the machine, one model per peer server, holding the benchmark lock "
        f"({cfg['lock'] or 'none'}). Medians of the rounds. The service's own rows come "
        "first; for each peer and model, the service is measured again with the peer's kind "
        "of body (V2 JSON for V2 servers, native JSON otherwise) just before the peer starts, "
        "in the same locked stretch, and the ratio is that service's req/s over the peer's.",
        "",
    ]
    steal, others = cpu_median(results, "steal"), cpu_median(results, "others")
    if steal is not None:
        lines += [
            f"Shares of the machine's CPU time during the rounds (/proc/stat, /proc/<pid>/stat): "
            f"stolen by the hypervisor, median {steal:.0%}; used by processes that were "
            f"neither the measured server nor wrk (other people's work, niced or not), "
            f"median {others if others is not None else 0:.0%}. Every round's shares are in "
            "the last table.",
            "",
        ]
    rows = []
    for row in summary(results):
        if row.get("status") == "failed":
            rows.append([row["system"], "did not run", "-", "-", "-", "-", "-"])
            continue
        ratio = row.get("ratio")
        beside = row.get("beside")
        rows.append(
            [
                row["system"],
                BODY_NAMES[row["body"]],
                _rate(row["forecast"]),
                _rate(row["sentiment"]),
                _p99(row["forecast"], row["sentiment"]),
                "-"
                if beside is None
                else f"{_rate(beside['forecast'])} / {_rate(beside['sentiment'])}",
                "-" if ratio is None else f"{ratio['forecast']} / {ratio['sentiment']}",
            ]
        )
    header = ["system", "body", "forecast req/s", "sentiment req/s"]
    header += ["p99 ms (forecast / sentiment)", "this service just before (req/s)"]
    header += ["this service / peer (forecast / sentiment)"]
    lines += _table(header, rows)
    lines += [
        "",
        "### Requests per CPU-second of the server",
        "",
        "Throughput over the CPU time all of the measured server's processes used in the "
        "round (for a peer: every process of it, Triton's or Ray's own included): what one "
        "answer costs, less dependent on how much of the machine others took. Service: its "
        "rounds just before that peer. Medians of the rounds.",
        "",
        *_efficiency_table(results),
        "",
        "### Systems",
        "",
    ]
    service = results.get("service") or {}
    sv = service.get("versions", {})
    system_rows = [
        [
            "this service",
            ", ".join(f"{k} {v}" for k, v in sv.items() if k != "tensorflow-cpu" and k != "keras"),
            service.get("config", "-"),
            "native JSON and V2 JSON",
            "uvicorn master + 2 workers",
        ]
    ]
    for peer in results.get("peers", {}).values():
        versions = ", ".join(f"{k} {v}" for k, v in peer.get("versions", {}).items())
        system_rows.append(
            [
                peer["label"],
                versions or "-",
                peer["config"],
                BODY_NAMES[peer["body"]],
                peer["layout"],
            ]
        )
    lines += _table(["system", "versions", "configuration", "body", "processes"], system_rows)
    lines += ["", "### Answers checked against onnxruntime before the load", ""]
    check_rows = [
        ["this service", k, f"{v:.2g}"] for k, v in service.get("answer_check", {}).items()
    ]
    for peer in results.get("peers", {}).values():
        check_rows += [[peer["label"], k, f"{v:.2g}"] for k, v in peer["answer_check"].items()]
    lines += _table(["system", "model", "largest difference"], check_rows)
    lines += [
        "",
        "Forecast within 1e-5, sentiment within 1e-6 of onnxruntime alone (batch 1), for 8 "
        "different inputs sent at once, twice (sentiment: texts of 40 to about 460 words, so "
        "padded batches).",
        "",
        "### Every round",
        "",
    ]
    round_rows = []
    entries = [("this service", service.get("points", []))]
    for peer in results.get("peers", {}).values():
        entries.append((f"this service, before {peer['label']}", peer.get("service_points", [])))
        entries.append((peer["label"], peer.get("points", [])))
    for label, points in entries:
        for p in points:
            round_rows.append(
                [
                    label,
                    p["model"],
                    BODY_NAMES[p["body"]],
                    str(p["round"] + 1),
                    f"{p['throughput']:,.1f}",
                    f"{p['p50_ms']:.2f}",
                    f"{p['p99_ms']:.2f}",
                    str(p["errors"]),
                    _share(p, "server"),
                    _share(p, "wrk"),
                    _share(p, "others"),
                    _share(p, "nice"),
                    _share(p, "steal"),
                ]
            )
    header = ["system", "model", "body", "round", "req/s", "p50 ms", "p99 ms", "errors"]
    header += ["CPU: server", "wrk", "others", "(niced)", "steal"]
    lines += _table(header, round_rows)
    problems = [f"- {f['system']}: {f['error'][:600]}" for f in results.get("failures", [])]
    left = [
        f"- {peer['label']}: {len(peer['left_behind'])} process(es) left behind, killed"
        for peer in results.get("peers", {}).values()
        if peer.get("left_behind")
    ]
    if results.get("left_running_at_end"):
        left.append(f"- still running at the end: {results['left_running_at_end']}")
    if problems or left:
        lines += ["", "### Failures and leftovers", "", *problems, *left]
    return "\n".join(lines) + "\n"


def write_report(results: dict[str, Any], path: Path) -> str:
    text = markdown(results)
    path.write_text("# Other serving systems\n\n" + text, encoding="utf-8")
    return text


def update_benchmarks_md(path: Path, text: str) -> None:
    """Replace the text between the peers markers, or append the section with them."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{BEGIN}\n{text}{END}"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + block + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + f"\n\n{HEADING}\n\n{block}\n"
    path.write_text(new, encoding="utf-8")
