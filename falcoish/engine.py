"""Events in, alerts out: the evaluation step.

Step 7 of the pipeline (evaluated).  Why a separate object: replay, live capture and tests
all feed events the same way, and the per-event loop (index lookup, rule checks, alert
building) lives in one place that can be measured and tuned.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Iterator

from .event import Event
from .loader import LoadResult
from .output.format import HOSTNAME, Alert, OutputFormat
from .ruleset import CompiledRule, RuleSet


def _order(rule: CompiledRule) -> int:
    return rule.order


class Engine:
    """Checks each event against the rules of its type.

    rule_matching: "first" (Falco's default: an event fires at most the first matching rule
    in rule order) or "all"."""

    def __init__(self, ruleset: RuleSet, outputs: dict[str, OutputFormat],
                 rule_matching: str = "first", hostname: str = HOSTNAME) -> None:
        if rule_matching not in ("first", "all"):
            raise ValueError(f"rule_matching must be 'first' or 'all', not {rule_matching!r}")
        self.ruleset = ruleset
        self.outputs = outputs
        self.first_only = rule_matching == "first"
        self.hostname = hostname
        self.events = 0
        self.events_by_type: Counter[str] = Counter()
        self.alerts_by_rule: Counter[str] = Counter()

    @classmethod
    def from_load(cls, result: LoadResult, ruleset: RuleSet | None = None, rule_matching: str = "first") -> "Engine":
        return cls(ruleset or result.ruleset, result.outputs, rule_matching)

    def matching_rules(self, event: Event) -> list[CompiledRule]:
        """The rules this event satisfies, in rule order (only the first with
        rule_matching=first)."""
        matched: list[CompiledRule] = []
        self.ruleset.matcher_for(event.type)(event, matched)
        if len(matched) > 1:
            matched.sort(key=_order)
            if self.first_only:
                del matched[1:]
        return matched

    def process(self, event: Event) -> list[Alert]:
        self.events += 1
        self.events_by_type[event.type] += 1
        alerts = []
        for rule in self.matching_rules(event):
            self.alerts_by_rule[rule.name] += 1
            alerts.append(self.alert(rule, event))
        return alerts

    def alert(self, rule: CompiledRule, event: Event) -> Alert:
        fmt = self.outputs[rule.name]
        return Alert(event.ts, rule.name, rule.priority, rule.source, tuple(sorted(rule.tags)),
                     fmt.format(event), fmt.fields(event), self.hostname)

    def run(self, events: Iterable[Event]) -> Iterator[Alert]:
        for event in events:
            yield from self.process(event)
