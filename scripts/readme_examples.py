"""The README's `$ curl ...` examples, run against a live service on the bundled models.

    python scripts/readme_examples.py --check   # exit 1 if a shown output differs from the live one
    python scripts/readme_examples.py --write   # rewrite the outputs that differ, in place

Every ```console block whose first command is `$ curl ...` is an example. Its commands run in
README order against one fresh `python -m service --workers 1` (so the batching counters that
an example prints are reproducible). A curl command is translated into a request (method,
headers, body; `localhost:8000` becomes the live port); a `| python3 -c CODE` stage runs CODE
on the answer. Outputs are compared line by line: a line made of JSON values structurally, with
floats equal to 1e-5 (relative or absolute) and fields named `process`, `pid` or
`rows_per_run` ignored; any other line exactly. The test suite runs the same comparison
(tests/service/test_readme_examples.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# Facts of the machine and the process the example ran on, not of the answer.
IGNORED_FIELDS = frozenset({"process", "pid", "rows_per_run"})
TOLERANCE = 1e-5
_BLOCK = re.compile(r"^```console\n(.*?)^```$", re.M | re.S)
_LOCAL = re.compile(r"^(?:https?://)?localhost:8000(?=/|$)")


class ExampleError(Exception):
    """A README command this module cannot run (an unsupported curl flag or pipe stage)."""


@dataclass
class Example:
    command: str  # after the `$ `
    expected: list[str]  # the lines shown under it
    start: int = 0  # offsets in the README of the expected lines (for --write)
    end: int = 0
    actual: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None


def find_examples(text: str) -> list[Example]:
    """Every command of every console block that starts with `$ curl`, with its shown output."""
    examples: list[Example] = []
    for block in _BLOCK.finditer(text):
        body, offset = block.group(1), block.start(1)
        if not body.startswith("$ curl "):
            continue
        current: Example | None = None
        position = offset
        for line in body.splitlines(keepends=True):
            if line.startswith("$ "):
                current = Example(line[2:].rstrip("\n"), [], position + len(line))
                current.end = current.start
                examples.append(current)
            elif current is not None:
                current.expected.append(line.rstrip("\n"))
                current.end = position + len(line)
            position += len(line)
    return examples


def parse_curl(words: list[str]) -> Request:
    """The request a `curl` command line sends (the flags the README uses)."""
    if not words or words[0] != "curl":
        raise ExampleError(f"not a curl command: {shlex.join(words)}")
    method: str | None = None
    headers: dict[str, str] = {}
    body: bytes | None = None
    url: str | None = None
    rest = iter(words[1:])
    for word in rest:
        if word in ("-s", "--silent", "-S", "--show-error"):
            continue
        if word in ("-X", "--request"):
            method = next(rest)
        elif word in ("-H", "--header"):
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip()
        elif word in ("-d", "--data", "--data-raw", "--data-binary"):
            body = next(rest).encode()
        elif word.startswith("-"):
            raise ExampleError(f"unsupported curl flag {word!r}")
        elif url is None:
            url = word
        else:
            raise ExampleError(f"a second URL {word!r}")
    if url is None or not _LOCAL.match(url):
        raise ExampleError(f"the URL must be localhost:8000/..., got {url!r}")
    if body is not None and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/x-www-form-urlencoded"  # what curl -d sends
    path = _LOCAL.sub("", url) or "/"
    return Request(method or ("POST" if body is not None else "GET"), path, headers, body)


def split_pipeline(command: str) -> list[list[str]]:
    """`curl ... | python3 -c CODE` as its stages' words (quotes respected)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars="|")
    lexer.whitespace_split = True
    stages: list[list[str]] = [[]]
    for token in lexer:
        if token == "|":
            stages.append([])
        else:
            stages[-1].append(token)
    return stages


def send(request: Request, base_url: str) -> bytes:
    http = urllib.request.Request(
        base_url + request.path,
        data=request.body,
        headers=request.headers,
        method=request.method,
    )
    try:
        with urllib.request.urlopen(http, timeout=30) as answer:
            return bytes(answer.read())
    except urllib.error.HTTPError as error:  # curl -s prints error bodies like any other
        return bytes(error.read())


def run_command(command: str, base_url: str) -> list[str]:
    """The lines the command prints against the service at `base_url`."""
    curl, *pipes = split_pipeline(command)
    output = send(parse_curl(curl), base_url)
    for stage in pipes:
        if len(stage) != 3 or stage[:2] != ["python3", "-c"]:
            raise ExampleError(f"unsupported pipe stage: {shlex.join(stage)}")
        result = subprocess.run(
            [sys.executable, "-c", stage[2]], input=output, capture_output=True, timeout=60
        )
        if result.returncode != 0:
            raise ExampleError(f"{shlex.join(stage)} failed: {result.stderr.decode()}")
        output = result.stdout
    return output.decode().strip("\n").splitlines()


def json_values(line: str) -> list[Any] | None:
    """The JSON values a line is made of, separated by spaces (`1 {"a": 2}`); None if not."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    index = 0
    while index < len(line):
        if line[index].isspace():
            index += 1
            continue
        try:
            value, index = decoder.raw_decode(line, index)
        except json.JSONDecodeError:
            return None
        values.append(value)
    return values or None


def same_value(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict) and isinstance(actual, dict):
        keys = (expected.keys() | actual.keys()) - IGNORED_FIELDS
        return all(
            key in expected and key in actual and same_value(expected[key], actual[key])
            for key in keys
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(same_value, expected, actual))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return bool(expected == actual)


def same_line(expected: str, actual: str) -> bool:
    expected_values, actual_values = json_values(expected), json_values(actual)
    if expected_values is None or actual_values is None:
        return expected == actual
    return same_value(expected_values, actual_values)


def same_output(expected: list[str], actual: list[str]) -> bool:
    return len(expected) == len(actual) and all(map(same_line, expected, actual))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_service(models_dir: Path = REPO / "models", timeout_s: float = 60) -> Iterator[str]:
    """A fresh `python -m service --workers 1` on a free port; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNN_SERVE_")}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "service", "--models-dir", str(models_dir)]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:  # not a pipe: a full pipe would block the service
        process = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "1"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(process, url, timeout_s, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(
    process: subprocess.Popen[bytes], url: str, timeout_s: float, log: IO[bytes]
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"the service exited with {process.returncode}:\n{output}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer,
        ):
            if answer.status == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the service was not ready within {timeout_s:.0f} s")
        time.sleep(0.05)


def run_examples(text: str, base_url: str) -> list[Example]:
    """Every example of the README text, in order, with its live output filled in."""
    examples = find_examples(text)
    for example in examples:
        example.actual = run_command(example.command, base_url)
    return examples


def rewrite(text: str, examples: list[Example]) -> str:
    """The README with the live output of every example that differs from the shown one."""
    for example in sorted(examples, key=lambda e: e.start, reverse=True):
        if not same_output(example.expected, example.actual):
            lines = "".join(f"{line}\n" for line in example.actual)
            text = text[: example.start] + lines + text[example.end :]
    return text


def report(examples: list[Example]) -> list[str]:
    """A description of every example whose shown output differs from the live one."""
    problems = []
    for example in examples:
        if not same_output(example.expected, example.actual):
            shown, live = "\n    ".join(example.expected), "\n    ".join(example.actual)
            problems.append(f"$ {example.command}\n  shown:\n    {shown}\n  live:\n    {live}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 if an output is stale")
    mode.add_argument("--write", action="store_true", help="rewrite stale outputs in place")
    parser.add_argument("--readme", type=Path, default=README, help="default: README.md")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    with live_service(args.models_dir) as url:
        examples = run_examples(text, url)
    problems = report(examples)
    if args.write:
        args.readme.write_text(rewrite(text, examples), encoding="utf-8")
        print(f"{len(examples)} examples, {len(problems)} rewritten in {args.readme}")
        return 0
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(examples)} examples, {len(problems)} stale")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
