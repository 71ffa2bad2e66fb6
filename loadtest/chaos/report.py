"""What a chaos scenario reports: the traffic it sent and each expectation, met or not."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadtest.chaos.load import LoadResult


@dataclass(frozen=True)
class Check:
    expectation: str
    met: bool
    detail: str = ""  # the values it was judged on, when it was not met


@dataclass
class ScenarioReport:
    name: str
    traffic: dict[str, LoadResult] = field(default_factory=dict)  # label -> what a load saw
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the fault itself did

    def expect(self, expectation: str, met: bool, detail: object = "") -> None:
        self.checks.append(Check(expectation, bool(met), "" if met else str(detail)))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def record(self, label: str, result: LoadResult) -> LoadResult:
        self.traffic[label] = result
        return result

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.met for check in self.checks)

    def unmet(self) -> list[Check]:
        return [check for check in self.checks if not check.met]

    def text(self) -> str:
        lines = [f"== {self.name}: {'PASSED' if self.passed else 'FAILED'}"]
        lines += [f"  {result.summary(label)}" for label, result in self.traffic.items()]
        lines += [f"  {note}" for note in self.notes]
        for check in self.checks:
            mark = "met" if check.met else "NOT MET"
            lines.append(
                f"  [{mark}] {check.expectation}" + (f": {check.detail}" if check.detail else "")
            )
        return "\n".join(lines)
