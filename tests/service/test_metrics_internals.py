"""The prometheus_client internals the local aggregates write into, pinned.

`service.metrics` keeps counts per process in plain ints and adds them into a histogram
child's `_upper_bounds`, `_buckets` and `_sum` at each flush (prometheus_client's own
`observe` locks once per value). Checked against prometheus_client 0.26.0, the pinned
version: if an upgrade moves these attributes, this test fails before the metrics go wrong.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from service.metrics import _LocalHistogram

VALUES = [0.0004, 0.003, 0.003, 0.02, 0.7, 3.0, 42.0, 1e9]


def _exposition(histogram_values: list[float], local: bool) -> bytes:
    registry = CollectorRegistry()
    histogram = Histogram("pinned_seconds", "pinned", ["model"], registry=registry)
    child = histogram.labels("m")
    if local:
        aggregate = _LocalHistogram(child)
        for value in histogram_values:
            aggregate.observe(value)
        aggregate.flush()
    else:
        for value in histogram_values:
            child.observe(value)
    # `_created` is the time the child was made: the one line that differs by construction.
    lines = generate_latest(registry).splitlines()
    return b"\n".join(line for line in lines if b"_created" not in line)


def test_a_flushed_local_histogram_exposes_what_observe_would() -> None:
    assert _exposition(VALUES, local=True) == _exposition(VALUES, local=False)


def test_flushing_twice_adds_only_what_is_new() -> None:
    registry = CollectorRegistry()
    child = Histogram("again_seconds", "again", registry=registry)
    aggregate = _LocalHistogram(child)
    aggregate.observe(0.5)
    aggregate.flush()
    aggregate.flush()
    text = generate_latest(registry).decode()
    assert "again_seconds_count 1.0" in text
    assert "again_seconds_sum 0.5" in text
