"""The objects alive once the models are loaded are frozen out of the collector's walks, and a
reload reclaims what unloaded versions left in cycles."""

from __future__ import annotations

import gc
import os
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service import heap
from service.app import create_app
from service.config import Settings
from tests.service.fixtures import write_forecast_model, write_sentiment_model


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_loaded_models_are_frozen_at_start(tmp_path: Path, unfrozen: None) -> None:
    root = tmp_path / "models"
    write_forecast_model(root, version="1", seed=1)
    write_sentiment_model(root)
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(Settings(models_dir=root))) as client:
        assert client.get("/readyz").status_code == 200
        frozen = gc.get_freeze_count()
        assert frozen > 1000
        assert gc.get_threshold()[0] == heap.YOUNG_COLLECTION_THRESHOLD
        # Nothing that was alive at the start is walked by a full collection any more.
        gc.collect()
        assert gc.get_freeze_count() == frozen


def test_a_reload_reclaims_cycles_frozen_before_it(unfrozen: None) -> None:
    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle: only the collector can free it
    gone = weakref.ref(first)
    heap.freeze_long_lived()
    del first, second
    gc.collect()
    assert gone() is not None  # frozen: not walked
    heap.refreeze_after_reload()
    assert gone() is None
    assert gc.get_freeze_count() > 0


def test_a_scan_that_loads_a_version_refreezes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unfrozen: None
) -> None:
    root = tmp_path / "models"
    write_forecast_model(root, version="1", seed=1)
    write_sentiment_model(root)
    calls: list[float] = []
    monkeypatch.setattr("service.reload.refreeze_after_reload", lambda: calls.append(1.0))
    with TestClient(create_app(Settings(models_dir=root, reload_interval_s=0.1))) as client:
        time.sleep(0.4)
        assert calls == []  # scans that change nothing do not collect
        staging = root / "forecast" / ".2.partial"
        write_forecast_model(staging, "forecast", "2", seed=2)
        os.rename(staging / "forecast" / "2", root / "forecast" / "2")
        deadline = time.monotonic() + 15
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls, "the scan that loaded forecast/2 did not refreeze"
        answer = client.post("/forecast", json={"series": [[1.0, 2.0, 3.0, 4.0]]})
        assert answer.json()["version"] == "2"
