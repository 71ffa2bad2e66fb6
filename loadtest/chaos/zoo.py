"""The models the scenarios serve: the service tests' model zoo (tiny ONNX models written in
a second: forecast versions 1, 2 and 10, weather/1, sentiment/1), plus a corrupt forecast/3
where a scenario needs a version the service refuses."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.service.fixtures import write_model_zoo


def zoo(root: Path) -> Path:
    return write_model_zoo(root)


def zoo_with_a_refused_version(root: Path) -> Path:
    write_model_zoo(root)
    broken = root / "forecast" / "3"
    shutil.copytree(root / "forecast" / "2", broken)
    (broken / "model.onnx").write_bytes(b"corrupted")
    return root
