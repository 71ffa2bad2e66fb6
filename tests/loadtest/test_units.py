"""Fast tests of the load-test pieces that need no service and no locust run."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from loadtest import analysis
from loadtest.checks import check
from loadtest.config import ConstantPlan, Mix, Sizes, SteppedPlan, harmonic_count
from loadtest.data import load_reviews, load_series, real_window, synthetic_series
from loadtest.payloads import Payload, ServedModels, bad_payloads, build_pool
from loadtest.resources import Sample
from loadtest.shape import ConstantSchedule, SteppedSchedule


def test_mix_parses_weights_and_rejects_nonsense() -> None:
    mix = Mix.parse("forecast=6, sentiment=3,bad=1")
    assert mix.share("forecast") == pytest.approx(0.6)
    assert str(mix) == "forecast=6,sentiment=3,bad=1"
    assert Mix.parse("sentiment=1").weights["forecast"] == 0
    for text in ("forecast", "other=1", "bad=-1", "bad=x", "bad=0"):
        with pytest.raises(ValueError):
            Mix.parse(text)


def test_mix_choice_follows_the_weights() -> None:
    mix, rng = Mix.parse("forecast=60,sentiment=35,bad=5"), random.Random(0)
    picks = [mix.choose(rng) for _ in range(20_000)]
    assert picks.count("bad") / len(picks) == pytest.approx(0.05, abs=0.01)
    assert picks.count("forecast") / len(picks) == pytest.approx(0.60, abs=0.02)


def test_harmonic_count_stays_in_bounds_and_favours_small() -> None:
    rng = random.Random(0)
    counts = [harmonic_count((1, 32), rng) for _ in range(5_000)]
    assert min(counts) == 1 and max(counts) == 32
    assert counts.count(1) > counts.count(32) * 10


def test_committed_data_is_real_and_held_out() -> None:
    series, reviews = load_series(), load_reviews()
    assert len(reviews) >= 200 and {r.label for r in reviews} == {"negative", "positive"}
    assert max(len(s.values) for s in series) >= 500
    assert all(np.isfinite(s.values).all() for s in series)
    rng = random.Random(1)
    assert len(real_window(series, 400, rng)) == 400
    assert len(synthetic_series(123, rng)) == 123


def test_pool_sizes_follow_the_issue() -> None:
    pool = build_pool(ServedModels(), load_series(), load_reviews(), Sizes(), seed=3, size=64)
    for payload in pool.payloads["forecast"]:
        body = json.loads(payload.body)
        assert 1 <= len(body["series"]) <= 32 and payload.items == len(body["series"])
        assert all(50 <= len(s) <= 500 for s in body["series"])
    texts = {r.text for r in load_reviews()}
    for payload in pool.payloads["sentiment"]:
        body = json.loads(payload.body)
        assert 1 <= len(body["texts"]) <= 16 and set(body["texts"]) <= texts


def test_multifeature_forecaster_gets_rows() -> None:
    served = ServedModels(forecast_features=2, forecast_min_length=80, forecast_horizon=4)
    pool = build_pool(served, load_series(), load_reviews(), Sizes(), seed=3, size=16)
    for payload in pool.payloads["forecast"]:
        for series in json.loads(payload.body)["series"]:
            assert len(series) >= 80 and all(len(row) == 2 for row in series)


def test_served_models_read_from_the_listing() -> None:
    def card(task: str, **spec: object) -> dict[str, object]:
        return {"task": task, task: spec}

    listing = {
        "models": [
            {"name": "forecast", "task": "forecast", "default_version": "2", "versions": [
                {"version": "1", "card": card("forecast", n_features=3, horizon=1)},
                {"version": "2", "card": card("forecast", n_features=1, min_length=5, horizon=10)},
            ]},
            {"name": "imdb", "task": "sentiment", "default_version": "1",
             "versions": [{"version": "1", "card": card("sentiment")}]},
        ]
    }  # fmt: skip
    served = ServedModels.from_listing(listing)
    assert (served.forecast_features, served.forecast_min_length) == (1, 5)
    assert served.forecast_horizon == 10 and served.has_sentiment
    assert not ServedModels.from_listing({"models": []}).has_forecast


def test_bad_payloads_cover_both_endpoints_and_known_kinds() -> None:
    cases = bad_payloads(ServedModels())
    assert {p.path for p in cases} >= {"/forecast", "/sentiment"}
    assert len({p.case for p in cases}) == len(cases)
    assert not any(bad.case for bad in bad_payloads(ServedModels(has_sentiment=False))
                   if bad.case.startswith("sentiment_"))  # fmt: skip


def test_check_accepts_only_the_right_answers() -> None:
    bad = Payload("bad", "x", "POST", "/forecast", "{}")
    assert check(bad, 422, "") is None and check(bad, 404, "") is None
    assert "expected a 4xx" in (check(bad, 200, "{}") or "")
    assert "expected a 4xx" in (check(bad, 500, "") or "")
    assert "no answer" in (check(bad, 0, "") or "")
    good = Payload("forecast", "ok", "POST", "/forecast", "{}", items=2, horizon=3)
    assert check(good, 200, json.dumps({"forecasts": [[1, 2, 3], [4, 5, 6]]})) is None
    assert check(good, 200, json.dumps({"forecasts": [[1, 2, 3]]})) is not None
    assert check(good, 200, json.dumps({"forecasts": [[1, 2], [4, 5]]})) is not None
    assert check(good, 503, "busy") is not None
    assert check(good, 200, "not json") is not None
    texts = Payload("sentiment", "ok", "POST", "/sentiment", "{}", items=1)
    assert check(texts, 200, json.dumps({"results": [{"label": "positive"}]})) is None


def _drive(schedule: SteppedSchedule, capacity: float, seconds: int) -> list[int]:
    """Simulate a service that completes min(offered, capacity) requests per second."""
    done, users_seen, now = 0.0, [], 1000.0
    for _ in range(seconds):
        decision = schedule.tick(now, int(done), 0)
        if decision is None:
            break
        users_seen.append(decision.users)
        done += min(decision.users * decision.per_user_rps, capacity)
        now += 1.0
    return users_seen


def test_stepped_schedule_steps_up_until_saturated() -> None:
    plan = SteppedPlan(start_rps=10, factor=2, step_seconds=10, warmup_seconds=2, per_user_rps=5)
    schedule = SteppedSchedule(plan)
    users = _drive(schedule, capacity=100.0, seconds=1000)
    offered = [step.offered_rps for step in schedule.steps]
    assert offered[:4] == [10, 20, 40, 80] and users[0] == 2
    assert "saturated" in schedule.stop_reason
    assert schedule.steps[-1].achieved_rps == pytest.approx(100, rel=0.05)
    assert schedule.steps[2].achieved_rps == pytest.approx(40, rel=0.05)


def test_stepped_schedule_stops_on_errors_and_step_cap() -> None:
    schedule = SteppedSchedule(SteppedPlan(step_seconds=5, warmup_seconds=1, max_steps=3))
    assert _drive(schedule, capacity=1e9, seconds=100)
    assert len(schedule.steps) == 3 and "all 3 steps" in schedule.stop_reason
    failing = SteppedSchedule(SteppedPlan(step_seconds=5, warmup_seconds=1))
    now, done = 0.0, 0
    while (tick := failing.tick(now, done, done // 2)) is not None:
        done += 10
        now += 1
        assert tick.users >= 1
    assert "error rate" in failing.stop_reason and len(failing.steps) == 1


def test_constant_schedule_offers_exactly_the_target() -> None:
    schedule = ConstantSchedule(ConstantPlan(target_rps=37.0, duration_s=10, per_user_rps=4))
    tick = schedule.tick(0.0, 0, 0)
    assert tick is not None and tick.users == 10
    assert tick.users * tick.per_user_rps == pytest.approx(37.0)
    assert schedule.tick(12.0, 370, 0) is None and schedule.stop_reason  # 2 s ramp + 10 s


def test_constant_schedule_measures_after_ramp_and_warm_up() -> None:
    plan = ConstantPlan(target_rps=8.0, duration_s=10, per_user_rps=4, ramp_s=2, warmup_s=5)
    schedule = ConstantSchedule(plan)
    assert schedule.tick(100.0, 0, 0) is not None
    [step] = schedule.steps
    assert step.measured_from == 107.0 and step.end == 117.0
    assert schedule.tick(107.0, 40, 0) is not None  # ramp and warm-up done: 40 requests
    assert schedule.tick(117.0, 130, 0) is None
    # The achieved rate counts only what completed after the warm-up.
    assert step.achieved_rps == pytest.approx(9.0)


def _log(
    latency: list[float], ok: list[bool] | None = None, rate: float = 10.0
) -> analysis.RequestLog:
    n = len(latency)
    return analysis.RequestLog(
        start=1000.0 + np.arange(n) / rate,
        latency_ms=np.asarray(latency, dtype=np.float64),
        kind=np.array(["forecast", "sentiment", "bad"] * (n // 3) + ["forecast"] * (n % 3)),
        case=np.array(["ok"] * n),
        status=np.array([200] * n),
        ok=np.asarray(ok if ok is not None else [True] * n),
        error=["" if good else "boom" for good in (ok or [True] * n)],
    )


def test_timeline_and_steps_count_completions() -> None:
    log = _log([10.0] * 600)  # 10 req/s for 60 s
    rows = analysis.timeline(log, window=5.0)
    assert rows[3]["rps"] == pytest.approx(10.0) and rows[3]["p99"] == pytest.approx(10.0)
    steps = [{"index": 0, "users": 5, "offered_rps": 10, "measured_from": 1010.0, "end": 1050.0}]
    [row] = analysis.step_results(log, steps)
    assert row["rps"] == pytest.approx(10.0, abs=0.1) and row["failures"] == 0
    worse = dict(row, rps=50.0, error_rate=0.5)
    assert analysis.max_throughput([row, worse], max_error_rate=0.05) == row
    totals = analysis.totals(log)
    assert totals["all"]["requests"] == 600 and totals["bad"]["requests"] == 200


def _samples(start_mib: float, end_mib: float) -> list[Sample]:
    return [
        Sample(1000.0 + t, int((start_mib + (end_mib - start_mib) * t / 300) * 2**20), 50.0, 20.0)
        for t in range(301)
    ]


def test_soak_verdict_passes_a_steady_run() -> None:
    log = _log([10.0 + (i % 100) / 10 for i in range(3000)])  # 300 s, the same spread
    verdict = analysis.soak_verdict(log, _samples(100, 105))
    assert verdict["passed"], verdict


def test_soak_verdict_fails_errors_drift_and_leaks() -> None:
    latency = [10.0 + (i % 100) / 10 + (30.0 if i > 2400 else 0) for i in range(3000)]
    ok = [i != 5 for i in range(3000)]
    verdict = analysis.soak_verdict(_log(latency, ok), _samples(100, 130))
    results = {c["name"]: c["passed"] for c in verdict["criteria"]}
    assert results == {"zero errors": False, "stable p99": False, "memory growth": False}
    unmeasured = analysis.soak_verdict(_log([10.0] * 3000), [])
    assert not unmeasured["passed"]


def test_soak_verdict_leaves_the_warm_up_out_of_p99_and_memory_but_not_out_of_errors() -> None:
    # 60 s of slow, growing warm-up, then 300 s steady.
    latency = [100.0 if i < 600 else 10.0 + (i % 100) / 10 for i in range(3600)]
    log = _log(latency)
    samples = [Sample(1000.0 + t, (50 if t < 60 else 100) * 2**20, 50.0, 20.0) for t in range(361)]
    assert not analysis.soak_verdict(log, samples)["passed"]
    verdict = analysis.soak_verdict(log, samples, since=1060.0)
    assert verdict["passed"], verdict
    failed_in_warm_up = _log(latency, [i != 3 for i in range(3600)])
    results = analysis.soak_verdict(failed_in_warm_up, samples, since=1060.0)["criteria"]
    assert {c["name"]: c["passed"] for c in results}["zero errors"] is False
