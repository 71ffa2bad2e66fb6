"""Train a real-series forecaster: candidates within a time budget, the choice on validation,
the quality gate, export, then the test windows read once, baselines and intervals in the card.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from contract.card import ModelCard, ValueRange
from contract.forecast_transform import ForecastTransform
from training.forecast import baselines, conformal, runtime, samples, selection
from training.forecast.artifact import export_forecaster, onnx_forecast, save_card
from training.forecast.candidates import stride_for
from training.forecast.gate import QualityGateError
from training.forecast.realplan import FRACTIONS, Plan
from training.forecast.scoring import mae, mase_scale
from training.forecast.target import Target
from training.forecast.train import FitConfig, Log

MAX_CARD_ORIGINS = 12  # origins per split for the statistical baselines in the card


@dataclass(frozen=True)
class Budget:
    seconds: float
    epochs: int = 300
    patience: int = 20
    batch_size: int = 32


def _fit_config(budget: Budget, seconds: float) -> FitConfig:
    return FitConfig(
        epochs=budget.epochs,
        batch_size=budget.batch_size,
        learning_rate=1e-3,
        patience=budget.patience,
        plateau=5,
        max_seconds=seconds,
        loss="mae",
        score_start=True,
    )


def _baseline_errors(
    plan: Plan, at: list[int], forecast: np.ndarray, truth: np.ndarray, split: str
) -> dict[str, float]:
    """MAE of the model and every baseline on the origins `at`, and the ratios to s-naive."""
    setup = plan.setup
    targets = setup.values[:, setup.target_idx]
    out = {f"{split}_origins_mae_model": mae(forecast, truth)}
    for name in baselines.BASELINES:
        predicted = baselines.at_origins(name, targets, at, setup.horizon, setup.seasons)
        out[f"{split}_origins_mae_{name}"] = mae(predicted, truth)
    reference = out[f"{split}_origins_mae_seasonal_naive"]
    for name in ("model", *baselines.BASELINES):
        out[f"{split}_origins_mae_ratio_{name}"] = out[f"{split}_origins_mae_{name}"] / reference
    return out


def _ratio(model: float, reference: float) -> float:
    if reference > 0:
        return model / reference
    return 1.0 if model == 0 else float("inf")  # seasonal naive is exact: nothing beats it


def _thin(windows: samples.Windows, count: int) -> list[int]:
    picked = samples.origins(windows.origins[0], windows.origins[-1] + 1, 0, 1, count)
    return [windows.origins.index(t) for t in picked]


def run(
    target: Target,
    plan: Plan,
    budget: Budget,
    command: str,
    allow_worse: bool = False,
    log: Log = print,
) -> ModelCard:
    setup, cut, h = plan.setup, plan.setup.cut, plan.setup.horizon
    targets_raw = setup.values[:, setup.target_idx]
    start = time.perf_counter()
    best, table = selection.choose(plan, _fit_config(budget, budget.seconds), budget.seconds, log)
    train_seconds = time.perf_counter() - start
    transform = best.transform
    window = best.candidate.window

    # The gate: seasonal naive on every validation window.
    valid = best.valid
    snaive_valid = baselines.at_origins(
        "seasonal_naive", targets_raw, valid.origins, h, setup.seasons
    )
    valid_mae, snaive_valid_mae = best.valid_mae, mae(snaive_valid, valid.truth)
    ratio = _ratio(valid_mae, snaive_valid_mae)
    log(
        f"[gate] validation MAE {valid_mae:.4g} vs seasonal naive {snaive_valid_mae:.4g}"
        f" (ratio {ratio:.3f})"
    )
    if ratio >= 1 and not allow_worse:
        raise QualityGateError(
            f"the model's validation MAE ({valid_mae:.4g}) is not below seasonal naive's "
            f"({snaive_valid_mae:.4g}, ratio {ratio:.3f}); nothing was written. Try: the right "
            "--season (the period of the series, e.g. 12 for monthly data), a longer "
            "--budget-minutes, --transform log for a series whose swings grow with its level, "
            "or a shorter --horizon; --allow-worse-than-baseline exports it anyway"
        )

    # Export (parity gate) before the test windows are read.
    train_x = best.train.x
    lengths = tuple(sorted({max(2 * stride_for(window), window // 2), window}))
    log(f"[export] native ONNX graph + parity gate (lengths {lengths}, batch 1/7/64)")
    exported = export_forecaster(
        best.model,
        n_features=len(setup.names),
        horizon=h,
        n_targets=len(setup.target_idx),
        parity_inputs=train_x,
        lengths=lengths,
        seed=setup.seed,
    )

    # Intervals from the validation residuals (graph output units).
    valid_out = best.valid.y.reshape(len(valid.x), h, -1)
    valid_pred = transform.to_normalised_targets(best.valid_forecast, valid.batch)
    residuals = valid_out - valid_pred

    # The test windows, read once, through the exported graph.
    test = samples.build(
        setup.values,
        setup.target_idx,
        transform,
        samples.origins(cut.valid_end, cut.length, window, h),
        h,
    )
    test_out = onnx_forecast(exported.onnx_model, test.x).astype(np.float64)
    test_forecast = transform.from_graph_batch(test_out, test.batch)
    snaive_test = baselines.at_origins(
        "seasonal_naive", targets_raw, test.origins, h, setup.seasons
    )
    draft = conformal.intervals(
        residuals, "validation windows", "test windows", len(test.x), pooled=True
    )
    spec = best.spec.model_copy(update={"intervals": draft})
    states = [test.batch.state(i) for i in range(len(test.x))]
    coverage = conformal.band_coverage(ForecastTransform(spec), test_out, states, test.truth)
    # Coverage above is that of validation-calibrated intervals on unseen windows; the served
    # grid then also takes the test residuals (the most recent errors, and twice the windows).
    test_residuals = transform.to_normalised_targets(test.truth, test.batch) - test_out
    served = conformal.intervals(
        np.concatenate([residuals, test_residuals]),
        "validation and test windows (coverage below: calibrated on validation only)",
        "test windows",
        len(test.x),
        pooled=True,
    )
    spec = spec.model_copy(
        update={
            "intervals": served.model_copy(
                update={
                    "coverage_80": coverage[0],
                    "width_80": coverage[1],
                    "width_80_normalised": coverage[2],
                }
            ),
            "input_range": ValueRange(
                low=train_x.min(axis=(0, 1)).astype(float).tolist(),
                high=train_x.max(axis=(0, 1)).astype(float).tolist(),
            ),
            "frequency": plan.time_axis.frequency if plan.time_axis else None,
            "last_timestamp": plan.time_axis.last_timestamp if plan.time_axis else None,
        }
    )
    log(f"[intervals] 80% band covers {coverage[0]:.1%} of the test values")

    scale = mase_scale(targets_raw[: cut.train_end, 0], max(setup.seasons))
    test_mae = mae(test_forecast, test.truth)
    metrics = {
        "valid_mae": valid_mae,
        "valid_mae_seasonal_naive": snaive_valid_mae,
        "valid_mae_ratio": ratio,
        "valid_mase": valid_mae / scale,
        "test_mae": test_mae,
        "test_mae_seasonal_naive": mae(snaive_test, test.truth),
        "test_mae_ratio": _ratio(test_mae, mae(snaive_test, test.truth)),
        "test_mase": test_mae / scale,
        "interval_coverage_80_test": coverage[0],
        "interval_width_80_test": coverage[1],
    }
    log("[baselines] naive, seasonal naive, AutoETS, AutoTheta on the card's origins")
    rows = _thin(valid, MAX_CARD_ORIGINS)
    metrics |= _baseline_errors(
        plan,
        [valid.origins[i] for i in rows],
        best.valid_forecast[rows],
        valid.truth[rows],
        "valid",
    )
    rows = _thin(test, MAX_CARD_ORIGINS)
    metrics |= _baseline_errors(
        plan, [test.origins[i] for i in rows], test_forecast[rows], test.truth[rows], "test"
    )
    log(
        f"[eval] test MAE {test_mae:.4g}, ratio to seasonal naive {metrics['test_mae_ratio']:.3f},"
        f" MASE {metrics['test_mase']:.3f}"
    )
    candidate = best.candidate
    units = candidate.units
    front = (
        f"Conv1D({units}, {stride_for(window)}, stride {stride_for(window)}) + "
        if (stride_for(window) > 1)
        else ""
    )
    training = {
        "command": command,
        "data": f"{Path(plan.source).name}: columns {', '.join(setup.names)} ({cut.length} steps)",
        "split": {
            "fractions": list(FRACTIONS),
            "train": [0, cut.train_end],
            "valid_targets": [cut.train_end, cut.valid_end],
            "test_targets": [cut.valid_end, cut.length],
            "windows": [len(best.train.x), len(valid.x), len(test.x)],
            "normalisation": "per window (level and scale of each input window)",
        },
        "window": window,
        "seasons": setup.seasons,
        "decisions": plan.notes,
        "candidates": table,
        "chosen": candidate.describe(),
        "selection": (
            "lowest validation MAE, each ensemble shrunk by the one-standard-error rule; the "
            "test windows were read once, after the choice"
        ),
        "quality_gate": {
            "rule": "validation MAE below seasonal naive's, on every validation window",
            "ratio": ratio,
            "passed": ratio < 1,
            "allow_worse_than_baseline": allow_worse,
        },
        "seed": setup.seed,
        "n_series": 1,
        "members": len(best.members),
        "member_seeds": [setup.seed + k * selection.SEED_STEP for k in range(len(best.members))],
        "shrink": best.shrink,
        "naive_weight": best.naive_weight,
        "epochs": [m.history.epochs_run for m in best.members],
        "best_epoch": [m.history.best_epoch for m in best.members],
        "stopped_because": [m.history.stopped_because for m in best.members],
        "duration_s": round(train_seconds, 1),
        "total_s": round(time.perf_counter() - start, 1),
        "budget_s": budget.seconds,
        "threads": runtime.thread_count(),
        "architecture": (
            f"mean of {len(best.members)} member(s) {front}LSTM({units}) x2 + "
            f"Dense({h * len(setup.target_idx)}) (different seeds; exported as one "
            f"block-diagonal network of {units * len(best.members)} units), times {best.shrink}, "
            "added to the window's seasonal base forecast (seasonal naive's weight in it: "
            f"{best.naive_weight})"
        ),
        "loss": "MAE in per-window normalised units",
        "fit": asdict(_fit_config(budget, budget.seconds)),
        "baseline_library": "statsforecast (Naive, SeasonalNaive, AutoETS, AutoTheta)",
        "mase_scale": scale,
    }
    return save_card(
        exported,
        target.directory,
        name=target.name,
        version=target.version,
        description=(
            f"{h}-step forecaster of {', '.join(setup.targets)} from {Path(plan.source).name} "
            f"(window {window}, seasons {setup.seasons}, per-window normalisation, "
            f"transform {candidate.transform}); test MAE ratio to seasonal naive "
            f"{metrics['test_mae_ratio']:.2f}"
        ),
        spec=spec,
        training=training,
        metrics=metrics,
        overwrite=target.overwrite,
    )
