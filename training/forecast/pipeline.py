"""End-to-end runs behind `python -m training forecast train`: train, evaluate, export, card."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from contract.card import ForecastSpec, ModelCard, Scaler
from training.forecast import data, runtime
from training.forecast.artifact import (
    PARITY_LENGTHS,
    export_forecaster,
    identity_scaler,
    onnx_forecast,
    save_card,
)
from training.forecast.csvdata import DataError, StandardScaler, load_csv, prepare
from training.forecast.target import Target
from training.forecast.train import (
    FitConfig,
    GeneratorConfig,
    Log,
    generator_seeds,
    last_step_mse,
    train_on_generator,
    train_on_series,
)

GENERATOR_MIN_LENGTH = 10  # shortest input we vouch for (trained on every prefix from 1 step)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.square(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def run_generator(
    target: Target,
    config: GeneratorConfig,
    fit_config: FitConfig,
    command: str,
    log: Log = print,
) -> ModelCard:
    """Train the served model on fresh generator series and export it to `target`."""
    target.check_free()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = train_on_generator(config, fit_config, log)
    train_seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    model, history = result.model, result.history

    keras_mse = last_step_mse(model, result.test_x, result.test_y)
    naive = np.repeat(result.test_x[:, -1], config.horizon, axis=1)
    parity_series = data.generate_time_series(
        256, max(PARITY_LENGTHS), np.random.default_rng(generator_seeds(config.seed)[2] + 1)
    )
    log("[export] native ONNX graph + parity gate (lengths 20/50/200, batch 1/7/64)")
    exported = export_forecaster(
        model, n_features=1, horizon=config.horizon, n_targets=1, parity_inputs=parity_series
    )
    onnx_mse = _mse(onnx_forecast(exported.onnx_model, result.test_x)[..., 0], result.test_y)
    log(
        f"[eval] fresh series: MSE over {config.horizon} steps"
        f" keras {keras_mse:.5f} onnx {onnx_mse:.5f}"
    )

    spec = ForecastSpec(
        n_features=1,
        feature_names=["value"],
        target_names=["value"],
        horizon=config.horizon,
        min_length=GENERATOR_MIN_LENGTH,
        input_scaler=identity_scaler(1),
        target_scaler=identity_scaler(1),
    )
    training = {
        "command": command,
        "data": "notes' generator (two sines + uniform noise), fresh series every epoch",
        "window": config.n_steps,
        "seed": config.seed,
        "seeds": dict(zip(("train", "valid", "test"), generator_seeds(config.seed), strict=True)),
        "n_series": result.n_series,
        "n_valid": config.n_valid,
        "n_test": config.n_test,
        "epochs": history.epochs_run,
        "best_epoch": history.best_epoch,
        "stopped_because": history.stopped_because,
        "duration_s": round(train_seconds, 1),
        "cpu_s": round(cpu_seconds, 1),
        "threads": runtime.thread_count(),
        "architecture": f"Conv1D({config.units // 2}, 4, causal, relu) + "
        f"{config.kind.upper()}({config.units}) x2 + Dense({config.horizon}) on every step",
        "loss": "MSE, sequence to sequence (every step predicts the next 10)",
        "fit": asdict(fit_config),
    }
    metrics = {
        "mse_10_steps": keras_mse,
        "mse_10_steps_onnx": onnx_mse,
        "naive_mse_10_steps": _mse(naive, result.test_y),
        "noise_floor_mse": data.NOISE_FLOOR_MSE,
        "best_valid_mse_10_steps": history.best_score,
    }
    return save_card(
        exported,
        target.directory,
        name=target.name,
        version=target.version,
        description=(
            f"{config.horizon}-step forecaster of the notes' synthetic series (Géron ch. 15): "
            f"{training['architecture']}; MSE {keras_mse:.4f} on {config.n_test:,} fresh series"
        ),
        spec=spec,
        training=training,
        metrics=metrics,
        overwrite=target.overwrite,
    )


def _card_scaler(scaler: StandardScaler) -> Scaler:
    return Scaler(mean=[float(v) for v in scaler.mean], scale=[float(v) for v in scaler.scale])


def _parity_lengths(series_length: int, window: int) -> tuple[int, ...]:
    return tuple(sorted({min(n, series_length) for n in (*PARITY_LENGTHS, window)}))


def run_csv(
    target: Target,
    csv_path: Path,
    columns: list[str],
    targets: list[str],
    window: int,
    horizon: int,
    units: int,
    fit_config: FitConfig,
    command: str,
    seed: int,
    log: Log = print,
) -> ModelCard:
    """Train on a real series from a CSV file and export it to `target`."""
    unknown_targets = [t for t in targets if t not in columns]
    if unknown_targets:
        raise DataError(f"target column(s) {', '.join(unknown_targets)} not among --columns")
    target.check_free()
    series = load_csv(csv_path, columns)
    target_idx = [columns.index(t) for t in targets]
    prepared = prepare(series, window, horizon, target_idx)
    cut = prepared.cut
    log(
        f"[data] {csv_path}: {len(series.values)} steps x {len(columns)} feature(s); "
        f"train [0, {cut.train_end}), valid [{cut.train_end}, {cut.valid_end}), "
        f"test [{cut.valid_end}, {cut.length})"
    )
    start = time.perf_counter()
    model, history = train_on_series(prepared, horizon, len(targets), units, fit_config, log)
    train_seconds = time.perf_counter() - start

    test = prepared.splits.test
    n_targets = len(targets)
    scaled_truth = test.y[:, -1].reshape(len(test.x), horizon, n_targets)
    scaled_pred = np.asarray(model.predict(test.x, verbose=0))[:, -1]
    scaled_pred = scaled_pred.reshape(len(test.x), horizon, n_targets)
    raw_truth = prepared.target_scaler.inverse(scaled_truth)
    raw_pred = prepared.target_scaler.inverse(scaled_pred)
    last_raw = prepared.input_scaler.inverse(test.x[:, -1])[:, target_idx]
    naive = np.repeat(last_raw[:, None, :], horizon, axis=1)

    scaled_all = prepared.input_scaler.transform(series.values)[None]
    lengths = _parity_lengths(len(series.values), window)
    log(f"[export] native ONNX graph + parity gate (lengths {lengths}, batch 1/7/64)")
    exported = export_forecaster(
        model,
        n_features=len(columns),
        horizon=horizon,
        n_targets=n_targets,
        parity_inputs=scaled_all,
        lengths=lengths,
        seed=seed,
    )
    onnx_pred = prepared.target_scaler.inverse(onnx_forecast(exported.onnx_model, test.x))
    metrics = {
        f"test_mse_{horizon}_steps": _mse(raw_pred, raw_truth),
        f"test_mse_{horizon}_steps_onnx": _mse(onnx_pred, raw_truth),
        f"test_mse_{horizon}_steps_scaled": _mse(scaled_pred, scaled_truth),
        f"naive_test_mse_{horizon}_steps": _mse(naive, raw_truth),
        "best_valid_mse_scaled": history.best_score,
    }
    model_mse, naive_mse = (
        metrics[f"test_mse_{horizon}_steps"],
        metrics[f"naive_test_mse_{horizon}_steps"],
    )
    log(
        f"[eval] test MSE over {horizon} steps (raw units):"
        f" model {model_mse:.4g}, naive {naive_mse:.4g}"
    )

    spec = ForecastSpec(
        n_features=len(columns),
        feature_names=columns,
        target_names=targets,
        horizon=horizon,
        min_length=min(window, GENERATOR_MIN_LENGTH),
        input_scaler=_card_scaler(prepared.input_scaler),
        target_scaler=_card_scaler(prepared.target_scaler),
    )
    training = {
        "command": command,
        "data": f"{csv_path.name}: columns {', '.join(columns)} ({len(series.values)} steps)",
        "split": {
            "train": [0, cut.train_end],
            "valid_targets": [cut.train_end, cut.valid_end],
            "test_targets": [cut.valid_end, cut.length],
            "windows": [len(prepared.splits.train.x), len(prepared.splits.valid.x), len(test.x)],
            "scaler": "standardisation fitted on the training part only",
        },
        "window": window,
        "seed": seed,
        "n_series": 1,
        "epochs": history.epochs_run,
        "best_epoch": history.best_epoch,
        "stopped_because": history.stopped_because,
        "duration_s": round(train_seconds, 1),
        "threads": runtime.thread_count(),
        "architecture": f"Conv1D({units // 2}, 4, causal, relu) + LSTM({units}) x2 + "
        f"Dense({horizon * n_targets}) on every step",
        "fit": asdict(fit_config),
    }
    return save_card(
        exported,
        target.directory,
        name=target.name,
        version=target.version,
        description=(
            f"{horizon}-step forecaster of {', '.join(targets)} from {csv_path.name} "
            f"(window {window}, {len(columns)} input feature(s))"
        ),
        spec=spec,
        training=training,
        metrics=metrics,
        overwrite=target.overwrite,
    )
