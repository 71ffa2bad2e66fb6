"""The generator model behind `python -m training forecast train`: train, evaluate, export.

Real series (`--csv`) go through `realplan` and `realrun`.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from contract.card import ForecastSpec, ModelCard, ValueRange
from training.forecast import data, runtime
from training.forecast.artifact import (
    PARITY_LENGTHS,
    export_forecaster,
    identity_scaler,
    onnx_forecast,
    save_card,
)
from training.forecast.target import Target
from training.forecast.train import (
    FitConfig,
    GeneratorConfig,
    Log,
    generator_seeds,
    last_step_mse,
    train_on_generator,
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
        # The service warns about inputs far outside this range (the generator's own bounds).
        input_range=ValueRange(low=[-data.GENERATOR_BOUND], high=[data.GENERATOR_BOUND]),
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
