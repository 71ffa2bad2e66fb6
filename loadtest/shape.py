"""Load schedules, free of locust so they can be unit-tested: what to run at each tick.

A schedule is asked once a second with the run's counters (requests completed, failures)
and answers the user count and the per-user request rate, or None to stop. Every step it
runs is recorded (wall-clock start and end, users, offered rate) for the report.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from loadtest.config import ConstantPlan, SteppedPlan


@dataclass(frozen=True)
class Tick:
    users: int
    spawn_rate: float
    per_user_rps: float


@dataclass
class Step:
    index: int
    start: float  # wall clock (epoch seconds)
    end: float
    users: int
    offered_rps: float
    measured_from: float  # start + warm-up: the part of the step its statistics use
    achieved_rps: float | None = None  # the schedule's own estimate, from locust's counters
    error_rate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Schedule(Protocol):
    steps: list[Step]
    stop_reason: str

    def tick(self, now: float, completed: int, failures: int) -> Tick | None: ...


def users_for(rps: float, per_user_rps: float, max_users: int) -> int:
    return max(1, min(max_users, math.ceil(rps / per_user_rps - 1e-9)))


class SteppedSchedule:
    def __init__(self, plan: SteppedPlan) -> None:
        self.plan = plan
        self.steps: list[Step] = []
        self.stop_reason = ""
        self._saturated = 0
        self._mark: tuple[float, int, int] | None = None  # counters at measured_from

    def _begin(self, index: int, now: float) -> Step:
        offered = self.plan.offered(index)
        users = users_for(offered, self.plan.per_user_rps, self.plan.max_users)
        step = Step(
            index=index,
            start=now,
            end=now + self.plan.step_seconds,
            users=users,
            offered_rps=users * self.plan.per_user_rps,
            measured_from=now + self.plan.warmup_seconds,
        )
        self.steps.append(step)
        self._mark = None
        return step

    def _tick_for(self, step: Step) -> Tick:
        previous = self.steps[-2].users if len(self.steps) > 1 else 0
        spawn_rate = max(1.0, float(step.users - previous))  # reach the step within ~1 s
        return Tick(step.users, spawn_rate, self.plan.per_user_rps)

    def _close(self, step: Step, now: float, completed: int, failures: int) -> None:
        step.end = now
        if self._mark is None:
            return
        since, done0, failed0 = self._mark
        done, failed = completed - done0, failures - failed0
        step.achieved_rps = done / max(now - since, 1e-9)
        step.error_rate = failed / done if done else 0.0

    def tick(self, now: float, completed: int, failures: int) -> Tick | None:
        if self.stop_reason:
            return None
        if not self.steps:
            return self._tick_for(self._begin(0, now))
        step = self.steps[-1]
        if self._mark is None and now >= step.measured_from:
            self._mark = (now, completed, failures)
        if now < step.end:
            return self._tick_for(step)
        self._close(step, now, completed, failures)
        achieved = step.achieved_rps or 0.0
        if (step.error_rate or 0.0) > self.plan.max_error_rate:
            self.stop_reason = (
                f"step {step.index}: error rate {step.error_rate:.1%} above "
                f"{self.plan.max_error_rate:.0%}"
            )
            return None
        saturated = achieved < self.plan.saturation * step.offered_rps
        self._saturated = self._saturated + 1 if saturated else 0
        if self._saturated >= self.plan.patience:
            self.stop_reason = (
                f"saturated: achieved < {self.plan.saturation:.0%} of offered for "
                f"{self.plan.patience} steps in a row"
            )
            return None
        if step.users >= self.plan.max_users:
            self.stop_reason = f"reached the user limit ({self.plan.max_users})"
            return None
        if step.index + 1 >= self.plan.max_steps:
            self.stop_reason = f"ran all {self.plan.max_steps} steps"
            return None
        return self._tick_for(self._begin(step.index + 1, now))


class ConstantSchedule:
    """One step at a constant offered load: ramp up the users, then hold until the end."""

    def __init__(self, plan: ConstantPlan) -> None:
        self.plan = plan
        self.users = users_for(plan.target_rps, plan.per_user_rps, plan.max_users)
        self.per_user_rps = plan.target_rps / self.users  # exactly the target in total
        self.steps: list[Step] = []
        self.stop_reason = ""
        self._mark: tuple[float, int, int] | None = None

    def tick(self, now: float, completed: int, failures: int) -> Tick | None:
        if not self.steps:
            self.steps.append(
                Step(
                    index=0,
                    start=now,
                    end=now + self.plan.total_s,
                    users=self.users,
                    offered_rps=self.plan.target_rps,
                    measured_from=now + self.plan.ramp_s + self.plan.warmup_s,
                )
            )
        step = self.steps[0]
        if self._mark is None and now >= step.measured_from:
            self._mark = (now, completed, failures)
        if now >= step.end:
            if not self.stop_reason:
                self.stop_reason = f"ran {self.plan.total_s:g} s"
                step.end = now
                if self._mark is not None:
                    since, done0, failed0 = self._mark
                    done = completed - done0
                    step.achieved_rps = done / max(now - since, 1e-9)
                    step.error_rate = (failures - failed0) / done if done else 0.0
            return None
        spawn_rate = max(1.0, self.users / max(self.plan.ramp_s, 0.1))
        return Tick(self.users, spawn_rate, self.per_user_rps)
