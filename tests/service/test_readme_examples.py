"""Every `$ curl ...` example of the README prints what the README shows.

The logic lives in scripts/readme_examples.py, shared with the script that regenerates them.

If the live test fails after a model or an answer changed on purpose, regenerate the outputs
with `python scripts/readme_examples.py --write` and review the diff.
"""

from __future__ import annotations

import pytest

from scripts import readme_examples as rx

README = rx.README.read_text(encoding="utf-8")


@pytest.mark.slow
def test_every_readme_example_matches_a_live_answer() -> None:
    with rx.live_service() as url:
        examples = rx.run_examples(README, url)
    assert len(examples) == README.count("\n$ curl ") >= 8
    problems = rx.report(examples)
    assert not problems, "stale README examples (scripts/readme_examples.py --write):\n" + (
        "\n".join(problems)
    )
    assert rx.rewrite(README, examples) == README


def test_examples_are_found_with_their_output() -> None:
    text = '```console\n$ curl -s localhost:8000/a\n{"x": 1}\n$ curl -s localhost:8000/b\n```\n'
    text += "```console\n$ ls\nfile\n```\n"
    examples = rx.find_examples(text)
    assert [(e.command, e.expected) for e in examples] == [
        ("curl -s localhost:8000/a", ['{"x": 1}']),
        ("curl -s localhost:8000/b", []),
    ]
    examples[0].actual, examples[1].actual = ['{"x": 2}'], ["new"]
    assert rx.rewrite(text, examples) == text.replace('{"x": 1}', '{"x": 2}').replace(
        "/b\n```", "/b\nnew\n```"
    )


def test_curl_command_lines_become_requests() -> None:
    stages = rx.split_pipeline(
        "curl -s localhost:8000/sentiment -H 'Content-Type: text/plain' -d 'great movie'"
        " | python3 -c 'print(1)'"
    )
    assert stages[1] == ["python3", "-c", "print(1)"]
    request = rx.parse_curl(stages[0])
    assert request == rx.Request(
        "POST", "/sentiment", {"Content-Type": "text/plain"}, b"great movie"
    )
    assert rx.parse_curl(["curl", "localhost:8000/readyz"]).method == "GET"
    assert rx.parse_curl(["curl", "-X", "PUT", "http://localhost:8000/x"]).method == "PUT"
    assert rx.parse_curl(["curl", "-d", "a=1", "localhost:8000/"]).headers == {
        "Content-Type": "application/x-www-form-urlencoded"
    }
    for words in (["curl", "-i", "localhost:8000/"], ["curl", "example.com/"], ["wget", "x"]):
        with pytest.raises(rx.ExampleError):
            rx.parse_curl(words)


@pytest.mark.parametrize(
    ("shown", "live", "same"),
    [
        ('{"a":[0.1234567,2]}', '{"a": [0.1234568, 2]}', True),  # floats to 1e-5
        ('{"a":[0.12345,2]}', '{"a":[0.12355,2]}', False),
        ('{"a":1e-7}', '{"a":3e-6}', True),  # absolute tolerance near 0
        ('{"a":1,"process":1}', '{"process":2,"a":1}', True),  # pids ignored, order free
        ('{"a":{"pid":1}}', '{"a":{}}', True),
        ('{"a":1}', '{"a":1,"b":2}', False),  # a new field is a difference
        ('{"ok":true}', '{"ok":1}', False),
        ('1 {"x": 0.5}', '1 {"x":0.5000001}', True),  # several JSON values on a line
        ('1 {"x": 0.5}', '2 {"x":0.5}', False),
        ("ready: forecast", "ready: forecast", True),  # other lines exactly
        ("ready: forecast", "ready:  forecast", False),
    ],
)
def test_lines_compare_structurally(shown: str, live: str, same: bool) -> None:
    assert rx.same_line(shown, live) is same


def test_outputs_of_different_lengths_differ() -> None:
    assert not rx.same_output(["1"], ["1", "2"])
