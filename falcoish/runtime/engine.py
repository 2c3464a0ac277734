"""Events in, alerts out: the evaluation step.

Step 7 of the pipeline (evaluated).  Why a separate object: replay, live capture and tests
all feed events the same way, and the per-event loop (index lookup, rule checks, alert
building) lives in one place that can be measured and tuned.
"""

from __future__ import annotations

from collections import Counter
from time import perf_counter
from typing import Callable

from ..events.event import Event
from ..rules.loader import LoadResult
from ..output.format import HOSTNAME, Alert, OutputFormat
from ..rules.ruleset import CompiledRule, RuleSet


EVAL_SAMPLE_MASK = 127    # time one event in 128: timing every event would cost more than it tells


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
        # Rules and their outputs travel together so a hot reload swaps both in one step.
        self._rules: tuple[RuleSet, dict[str, OutputFormat]] = (ruleset, outputs)
        self.first_only = rule_matching == "first"
        self.hostname = hostname
        self.events = 0
        self.events_by_type: Counter[str] = Counter()
        self.alerts_by_rule: Counter[str] = Counter()
        self.alerts_by_priority: Counter[str] = Counter()
        #: called with the rule evaluation time of one event in EVAL_SAMPLE_MASK + 1 (metrics)
        self.on_eval_time: Callable[[float], None] | None = None

    @classmethod
    def from_load(cls, result: LoadResult, ruleset: RuleSet | None = None, rule_matching: str = "first") -> "Engine":
        return cls(ruleset or result.ruleset, result.outputs, rule_matching)

    @property
    def ruleset(self) -> RuleSet:
        return self._rules[0]

    def swap(self, ruleset: RuleSet, outputs: dict[str, OutputFormat]) -> None:
        """Replace the rules between two events (a single assignment: an event is checked
        entirely against the old rules or entirely against the new ones)."""
        self._rules = (ruleset, outputs)

    def matching_rules(self, event: Event, ruleset: RuleSet | None = None) -> list[CompiledRule]:
        """The rules this event satisfies, in rule order (only the first with
        rule_matching=first)."""
        matched: list[CompiledRule] = []
        (ruleset or self._rules[0]).matcher_for(event.type)(event, matched)
        if len(matched) > 1:
            matched.sort(key=_order)
            if self.first_only:
                del matched[1:]
        return matched

    def process(self, event: Event) -> list[Alert]:
        ruleset, outputs = self._rules
        self.events += 1
        self.events_by_type[event.type] += 1
        if self.on_eval_time is not None and not self.events & EVAL_SAMPLE_MASK:
            started = perf_counter()
            matched = self.matching_rules(event, ruleset)
            self.on_eval_time(perf_counter() - started)
        else:
            matched = self.matching_rules(event, ruleset)
        alerts = []
        for rule in matched:
            self.alerts_by_rule[rule.name] += 1
            self.alerts_by_priority[rule.priority] += 1
            text, fields = outputs[rule.name].render(event)
            alerts.append(Alert(event.ts, rule.name, rule.priority, rule.source, rule.sorted_tags,
                                text, fields, self.hostname))
        return alerts
