from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.fixtures import write_model_zoo


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """forecast 1/2/10 (1 feature), weather/1 (2 features, 2 targets), sentiment/1."""
    return write_model_zoo(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def client(zoo: Path) -> Iterator[TestClient]:
    settings = Settings(models_dir=zoo)
    with TestClient(create_app(settings)) as test_client:
        yield test_client
