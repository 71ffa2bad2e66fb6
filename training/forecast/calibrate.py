"""Add conformal intervals to an existing generator-model card (its ONNX file is untouched).

Residuals of the exported graph on fresh generator series (one seed) give the quantile grid;
coverage and width of the 80% band are measured on other fresh series (another seed). The
card's sha256 covers only the ONNX file, so the artifact stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.card import ModelCard
from training.forecast import conformal, data
from training.forecast.served import ServedForecaster

CALIBRATION_SEED = 3_000_007  # apart from the training, validation and test streams
EVALUATION_SEED = 4_000_009


@dataclass(frozen=True)
class Calibration:
    card: ModelCard
    coverage: float
    width: float


def calibrate_generator(
    directory: Path, n_calibration: int, n_evaluation: int, window: int = 50
) -> Calibration:
    served = ServedForecaster(directory)
    horizon = served.spec.horizon
    cal = data.generate_time_series(n_calibration, window + horizon, CALIBRATION_SEED)
    ev = data.generate_time_series(n_evaluation, window + horizon, EVALUATION_SEED)

    def graph_residuals(series: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[object]]:
        output, states = served.graph_output(list(series[:, :window].astype(np.float64)))
        truth = series[:, window:].astype(np.float64)  # [n, horizon, 1]
        truth_graph = served.transform.to_normalised_targets_global(truth)
        return truth_graph - output, output, states  # type: ignore[return-value]

    residuals, _, _ = graph_residuals(cal)
    about = f"{n_calibration} fresh generator series (seed {CALIBRATION_SEED}), window {window}"
    draft = conformal.intervals(
        residuals,
        about,
        f"{n_evaluation} other fresh generator series (seed {EVALUATION_SEED})",
        n_evaluation,
    )
    spec = served.spec.model_copy(update={"intervals": draft, "window": window})
    from contract.forecast_transform import ForecastTransform

    transform = ForecastTransform(spec)
    output, states = served.graph_output(list(ev[:, :window].astype(np.float64)))
    coverage = conformal.band_coverage(transform, output, states, ev[:, window:].astype(np.float64))
    intervals = draft.model_copy(
        update={
            "coverage_80": coverage[0],
            "width_80": coverage[1],
            "width_80_normalised": coverage[2],
        }
    )
    card = served.card.model_copy(
        update={"forecast": spec.model_copy(update={"intervals": intervals})}
    )
    card.dump(directory)
    return Calibration(ModelCard.load(directory), coverage[0], coverage[1])
