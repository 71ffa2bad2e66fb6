"""Real series that ship inside installed packages, addressed as `statsmodels:<dataset>`.

`--csv statsmodels:sunspots` reads the CSV file bundled in the statsmodels wheel (no download).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from training.forecast.csvdata import DataError

PACKAGE_PREFIX = "statsmodels:"


def resolve_csv(spec: str) -> Path:
    """A plain path stays as it is; `statsmodels:<name>` becomes the bundled CSV's path."""
    if not spec.startswith(PACKAGE_PREFIX):
        return Path(spec)
    name = spec[len(PACKAGE_PREFIX) :]
    module = f"statsmodels.datasets.{name}"
    found = importlib.util.find_spec(module) if name.isidentifier() else None
    if found is None or found.origin is None:
        raise DataError(f"no bundled dataset {spec!r} (try statsmodels:sunspots)")
    path = Path(found.origin).with_name(f"{name}.csv")
    if not path.is_file():
        raise DataError(f"dataset {spec!r} has no bundled CSV file ({path})")
    return path
