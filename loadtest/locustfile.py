"""The locust suite: one user class sending the configured mix, one shape running the profile.

Run it through `python -m loadtest` (which also writes the report), or directly:

    locust -f loadtest/locustfile.py --headless --host http://127.0.0.1:8000 \
        --lt-profile smoke --lt-duration 10

Every request is checked: good requests must get a 200 with as many forecasts/results as
they sent, bad requests must get a 4xx; anything else is a failure.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locust import FastHttpUser, LoadTestShape, events, task
from locust.env import Environment
from locust.user.wait_time import constant_throughput

# locust imports this file by path: make the `loadtest` package importable from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest.checks import check
from loadtest.config import (
    DEFAULT_MIX,
    KINDS,
    PROFILES,
    ConstantPlan,
    Mix,
    Sizes,
    SteppedPlan,
)
from loadtest.data import load_reviews, load_series
from loadtest.payloads import Pool, ServedModels, build_pool
from loadtest.shape import ConstantSchedule, Schedule, SteppedSchedule

REQUEST_LOG_FIELDS = ("start", "latency_ms", "kind", "case", "status", "ok", "error")


@dataclass
class State:
    mix: Mix = field(default_factory=lambda: Mix.parse(DEFAULT_MIX))
    pool: Pool | None = None
    per_user_rps: float = 1.0
    seed: int = 1
    log: list[tuple[float, float, str, str, int, int, str]] = field(default_factory=list)


STATE = State()
_user_ids = itertools.count()


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    stepped, constant = SteppedPlan(), ConstantPlan(target_rps=20.0, duration_s=10.0)
    group = parser.add_argument_group("rnn-serving load test")
    group.add_argument("--lt-profile", choices=PROFILES, default="smoke")
    group.add_argument("--lt-mix", default=DEFAULT_MIX, help="e.g. forecast=60,sentiment=35,bad=5")
    group.add_argument("--lt-seed", type=int, default=1)
    group.add_argument("--lt-real-share", type=float, default=Sizes().real_share)
    group.add_argument("--lt-per-user-rps", type=float, default=stepped.per_user_rps)
    group.add_argument("--lt-max-users", type=int, default=stepped.max_users)
    group.add_argument("--lt-start-rps", type=float, default=stepped.start_rps)
    group.add_argument("--lt-factor", type=float, default=stepped.factor)
    group.add_argument("--lt-step-seconds", type=float, default=stepped.step_seconds)
    group.add_argument("--lt-warmup-seconds", type=float, default=stepped.warmup_seconds)
    group.add_argument("--lt-max-steps", type=int, default=stepped.max_steps)
    group.add_argument("--lt-max-error-rate", type=float, default=stepped.max_error_rate)
    group.add_argument("--lt-target-rps", type=float, default=constant.target_rps)
    group.add_argument("--lt-duration", type=float, default=constant.duration_s)
    group.add_argument("--lt-ramp-seconds", type=float, default=constant.ramp_s)
    group.add_argument("--lt-warmup", type=float, default=constant.warmup_s)
    group.add_argument("--lt-pool-size", type=int, default=128, help="bodies per kind")
    group.add_argument("--lt-request-log", default="", help="CSV of every request")
    group.add_argument("--lt-steps-log", default="", help="JSON of the steps the shape ran")


def fetch_served_models(host: str, timeout: float = 10.0) -> ServedModels:
    try:
        with urllib.request.urlopen(f"{host.rstrip('/')}/models", timeout=timeout) as answer:
            return ServedModels.from_listing(json.load(answer))
    except (OSError, ValueError) as error:
        print(f"GET /models failed ({error}); assuming a univariate forecaster", file=sys.stderr)
        return ServedModels()


@events.test_start.add_listener
def _prepare(environment: Environment, **_: Any) -> None:
    try:
        _build_state(environment)
    except Exception as error:  # a run without payloads is no run: stop at once, loudly
        print(f"cannot prepare the load test: {error!r}", file=sys.stderr)
        environment.process_exit_code = 3
        if environment.runner is not None:
            environment.runner.quit()
        raise


def _build_state(environment: Environment) -> None:
    options = environment.parsed_options
    assert options is not None and environment.host
    STATE.mix = Mix.parse(options.lt_mix)
    STATE.seed = options.lt_seed
    served = fetch_served_models(environment.host)
    sizes = Sizes(real_share=options.lt_real_share)
    STATE.pool = build_pool(
        served, load_series(), load_reviews(), sizes, options.lt_seed, options.lt_pool_size
    )
    missing = [k for k in KINDS if STATE.mix.weights[k] > 0 and not STATE.pool.has(k)]
    if missing:
        print(f"the service serves no model for {missing}: not sending those", file=sys.stderr)
        weights = {k: (0.0 if k in missing else w) for k, w in STATE.mix.weights.items()}
        STATE.mix = Mix(weights)


@events.request.add_listener
def _record(
    context: dict[str, Any],
    response_time: float,
    exception: BaseException | None,
    response: Any = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    status = int(getattr(response, "status_code", 0) or 0)
    start = start_time if start_time is not None else time.time() - response_time / 1000
    error = "" if exception is None else str(exception)[:200]
    kind, case = context.get("kind", "?"), context.get("case", "?")
    STATE.log.append((start, response_time, kind, case, status, int(exception is None), error))


@events.test_stop.add_listener
def _write_logs(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    if options.lt_request_log:
        with open(options.lt_request_log, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(REQUEST_LOG_FIELDS)
            writer.writerows((f"{r[0]:.4f}", f"{r[1]:.3f}", *r[2:]) for r in STATE.log)
    shape = environment.shape_class
    if options.lt_steps_log and isinstance(shape, ProfileShape) and shape.schedule is not None:
        document = {
            "profile": options.lt_profile,
            "stop_reason": shape.schedule.stop_reason,
            "steps": [step.as_dict() for step in shape.schedule.steps],
        }
        Path(options.lt_steps_log).write_text(json.dumps(document, indent=2), encoding="utf-8")


class ServiceUser(FastHttpUser):
    """A client sending the mix at `STATE.per_user_rps` requests per second at most."""

    network_timeout = 30.0
    connection_timeout = 10.0

    def wait_time(self) -> float:
        return constant_throughput(STATE.per_user_rps)(self)

    def on_start(self) -> None:
        self.rng = random.Random(STATE.seed * 100_003 + next(_user_ids))

    @task
    def send(self) -> None:
        assert STATE.pool is not None
        kind = STATE.mix.choose(self.rng)
        payload = STATE.pool.pick(kind, self.rng)
        with self.client.request(
            payload.method,
            payload.path,
            data=payload.body,
            headers={"Content-Type": payload.content_type},
            name=kind,
            catch_response=True,
            context={"kind": kind, "case": payload.case},
        ) as response:
            problem = check(payload, response.status_code or 0, response.text or "")
            if problem is None:
                response.success()
            else:
                response.failure(problem)


def make_schedule(options: Any) -> Schedule:
    if options.lt_profile == "stepped":
        return SteppedSchedule(
            SteppedPlan(
                start_rps=options.lt_start_rps,
                factor=options.lt_factor,
                step_seconds=options.lt_step_seconds,
                warmup_seconds=options.lt_warmup_seconds,
                max_steps=options.lt_max_steps,
                per_user_rps=options.lt_per_user_rps,
                max_error_rate=options.lt_max_error_rate,
                max_users=options.lt_max_users,
            )
        )
    return ConstantSchedule(
        ConstantPlan(
            target_rps=options.lt_target_rps,
            duration_s=options.lt_duration,
            per_user_rps=options.lt_per_user_rps,
            ramp_s=options.lt_ramp_seconds,
            max_users=options.lt_max_users,
            warmup_s=options.lt_warmup,
        )
    )


class ProfileShape(LoadTestShape):
    """Runs the schedule of `--lt-profile` (stepped, soak or smoke)."""

    schedule: Schedule | None = None

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        if self.schedule is None:
            self.schedule = make_schedule(self.runner.environment.parsed_options)
        total = self.runner.stats.total
        decision = self.schedule.tick(time.time(), total.num_requests, total.num_failures)
        if decision is None:
            return None
        STATE.per_user_rps = decision.per_user_rps
        return decision.users, decision.spawn_rate
