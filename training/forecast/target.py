"""Where an artifact goes (no TensorFlow: checked before training starts)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.forecast.csvdata import DataError


@dataclass(frozen=True)
class Target:
    root: Path
    name: str
    version: str
    overwrite: bool = False

    @property
    def directory(self) -> Path:
        return self.root / self.name / self.version

    def check_free(self) -> None:
        """Fail before training, not after, when the artifact directory is taken."""
        if self.directory.exists() and not self.overwrite:
            raise DataError(f"{self.directory} already exists (use --overwrite to replace it)")
