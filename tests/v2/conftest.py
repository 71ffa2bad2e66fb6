from __future__ import annotations

from pathlib import Path

import pytest

from tests.service.fixtures import write_model_zoo


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """forecast 1/2/10 (1 feature), weather/1 (2 features, 2 targets), sentiment/1."""
    return write_model_zoo(tmp_path_factory.mktemp("models"))
