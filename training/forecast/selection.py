"""The choice of a real-series forecaster: candidates, an ensemble of seeds per candidate, and
how far to trust the ensemble's correction of the seasonal base, all on validation windows.

Each of the best-ranked candidates (by the untrained base's MAE on the training and
validation windows: nothing in it is fitted) gets a few members
(the same configuration, different seeds) trained within its share of the budget. Their outputs
are averaged in graph units, and the average is shrunk toward the base by the factor of
`SHRINKS` with the lowest validation MAE (0 = the base forecast alone). The candidate whose
shrunk ensemble has the lowest validation MAE is kept, merged into one model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import keras
import numpy as np

from contract.card import ForecastSpec
from contract.forecast_transform import ForecastTransform
from training.forecast import ensemble, samples, smoothing
from training.forecast.candidates import (
    Trained,
    base_mae,
    graph_output,
    stride_for,
    train_candidate,
)
from training.forecast.realplan import Plan
from training.forecast.scoring import mae
from training.forecast.setup import Candidate
from training.forecast.train import FitConfig, Log

TRAINED_CANDIDATES = 2  # the best untrained bases get the training budget
MEMBERS = 3  # seeds per candidate, when the budget allows
SHRINKS = tuple(round(0.1 * i, 1) for i in range(11))  # 0 (base only) .. 1 (full correction)
SEED_STEP = 1000  # member k trains with seed + k * SEED_STEP


@dataclass
class Chosen:
    candidate: Candidate
    members: list[Trained]
    shrink: float
    model: keras.Sequential  # the members merged: shrink x their mean output
    valid_forecast: np.ndarray  # raw [n, horizon, targets]
    valid_mae: float
    seconds: float

    @property
    def spec(self) -> ForecastSpec:
        return self.members[0].spec

    @property
    def transform(self) -> ForecastTransform:
        return self.members[0].transform

    @property
    def train(self) -> samples.Windows:
        return self.members[0].train

    @property
    def valid(self) -> samples.Windows:
        return self.members[0].valid


def best_shrink(
    output: np.ndarray, transform: ForecastTransform, valid: samples.Windows
) -> tuple[float, float]:
    """The factor of SHRINKS with the lowest validation MAE for the graph output `output`, and
    that MAE (ties go to the smaller factor: the closer to the base, the safer)."""
    scores = [
        (mae(transform.from_graph_batch(factor * output, valid.batch), valid.truth), factor)
        for factor in SHRINKS
    ]
    best_mae, factor = min(scores)
    return factor, best_mae


def _members(
    plan: Plan, candidate: Candidate, fit_config: FitConfig, seconds: float, log: Log
) -> list[Trained]:
    """Up to MEMBERS seeds within `seconds` (the first always trains)."""
    start, members = time.perf_counter(), list[Trained]()
    quiet: Log = lambda line: None  # noqa: E731
    for k in range(MEMBERS):
        left = seconds - (time.perf_counter() - start)
        if members and left < 0.5 * members[0].seconds:
            break
        share = left / (MEMBERS - k)
        setup = replace(plan.setup, seed=plan.setup.seed + k * SEED_STEP)
        trained = train_candidate(setup, candidate, replace(fit_config, max_seconds=share), quiet)
        members.append(trained)
        log(
            f"[choose] {candidate.describe()}, seed {setup.seed}: validation MAE "
            f"{trained.valid_mae:.4g} ({trained.history.epochs_run} epochs, best "
            f"{trained.history.best_epoch}, {trained.seconds:.0f} s)"
        )
    return members


def _combine(candidate: Candidate, members: list[Trained], seconds: float) -> Chosen:
    first = members[0]
    mean_output = np.mean([graph_output(m.model, first.valid) for m in members], axis=0)
    factor, valid_mae = best_shrink(mean_output, first.transform, first.valid)
    merged = ensemble.merge(
        [m.model for m in members], candidate.units, stride_for(candidate.window), factor
    )
    forecast = first.transform.from_graph_batch(factor * mean_output, first.valid.batch)
    return Chosen(candidate, members, factor, merged, forecast, valid_mae, seconds)


def _fitted(plan: Plan, candidate: Candidate, log: Log) -> Candidate:
    if candidate.base != "holt_winters_blend" or candidate.smoothing is not None:
        return candidate
    begun = time.perf_counter()
    fitted = smoothing.fit(plan.setup, candidate)
    log(
        f"[choose] Holt-Winters fitted on the training windows in "
        f"{time.perf_counter() - begun:.1f} s: {fitted.describe()}"
    )
    return fitted


def choose(
    plan: Plan, fit_config: FitConfig, budget_seconds: float, log: Log
) -> tuple[Chosen, list[dict[str, object]]]:
    """Rank the candidates by their untrained MAE on every origin before the test part, train
    an ensemble of the best
    TRAINED_CANDIDATES within the budget, keep the one with the lowest shrunk validation MAE."""
    start = time.perf_counter()
    candidates = [_fitted(plan, c, log) for c in plan.candidates]
    common = max(c.window for c in candidates)  # the origins every candidate can take
    untrained = {c: base_mae(plan.setup, c, common) for c in candidates}
    ranked = sorted(candidates, key=lambda c: untrained[c])
    for candidate in ranked:
        log(
            f"[choose] {candidate.describe()}: untrained MAE {untrained[candidate]:.4g} "
            f"(origins {common} to the end of validation)"
        )
    tried: list[Chosen] = []
    picked = ranked[:TRAINED_CANDIDATES]
    for index, candidate in enumerate(picked):
        begun = time.perf_counter()
        left = budget_seconds - (begun - start)
        if tried and left < 0.5 * min(t.members[0].seconds for t in tried):
            log(f"[choose] budget used: skipping {len(picked) - index} candidate(s)")
            break
        members = _members(plan, candidate, fit_config, left / (len(picked) - index), log)
        combined = _combine(candidate, members, time.perf_counter() - begun)
        tried.append(combined)
        log(
            f"[choose] {candidate.describe()}: {len(members)} member(s), shrink "
            f"{combined.shrink}, validation MAE {combined.valid_mae:.4g}"
        )
    best = min(tried, key=lambda t: t.valid_mae)
    table = [
        {
            **t.candidate.record(),
            "members": len(t.members),
            "member_valid_mae": [m.valid_mae for m in t.members],
            "epochs": [m.history.epochs_run for m in t.members],
            "best_epoch": [m.history.best_epoch for m in t.members],
            "shrink": t.shrink,
            "valid_mae": t.valid_mae,
            "seconds": round(t.seconds, 1),
            "chosen": t is best,
        }
        for t in tried
    ]
    return best, table
