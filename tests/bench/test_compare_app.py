"""The in-process app driver of `bench.compare_app`, run for a moment on this checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.compare_app import _summary, run_side
from bench.payloads import payload
from bench.servers import REPO


@pytest.mark.parametrize("model", ["forecast", "sentiment"])
def test_the_driver_measures_this_checkout_answering_200(model: str, tmp_path: Path) -> None:
    body = payload(model)
    body_file = tmp_path / "body.json"
    body_file.write_bytes(body.body)
    result = run_side(REPO, body.path, body_file, processes=1, clients=4, seconds=0.5)
    assert result["requests_per_s"] > 10
    assert 1 < result["cpu_us_per_request"] < 1e6


def test_a_wrong_path_is_not_counted_as_a_measurement(tmp_path: Path) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(payload("forecast").body)
    with pytest.raises(RuntimeError, match="other than 200"):
        run_side(REPO, "/sentiment", body_file, processes=1, clients=2, seconds=0.3)


def test_the_summary_gives_medians_and_their_ratio() -> None:
    this = [{"cpu_us_per_request": v, "requests_per_s": 100.0} for v in (300.0, 310.0, 290.0)]
    ref = [{"cpu_us_per_request": v, "requests_per_s": 200.0} for v in (150.0, 160.0, 140.0)]
    text = _summary("forecast@32", this, ref)
    assert "this 300.0, ref 150.0, ratio 2.000" in text
    assert "this 100.0, ref 200.0, ratio 0.500" in text
