"""Compiled rules indexed by event type, and Falco's rule selection.

Step 6 of the pipeline.  Why an index: a busy host produces hundreds of thousands of events
a second and a rule set has hundreds of rules, but a given event type concerns only a few
of them.  Each event type maps to the tuple of rules that can match it, in evaluation order
(first definition order, as Falco), computed once per selection.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from .collector import PRIORITIES
from .errors import Location
from .nodes import Node

Predicate = Callable[[Any], bool]


@dataclass(frozen=True)
class CompiledRule:
    name: str
    priority: str
    desc: str
    output: str
    tags: frozenset[str]
    source: str
    enabled: bool
    condition: Node                 # resolved tree (for `render()` and explanations)
    matches: Predicate
    event_types: frozenset[str]
    all_types: bool                 # the condition does not restrict evt.type
    order: int
    location: Location = field(default_factory=Location, compare=False)

    @property
    def level(self) -> int:
        """0 = Emergency ... 7 = Debug (lower is more severe)."""
        return PRIORITIES.index(self.priority)


class RuleSet:
    """All compiled rules (enabled or not) plus the index of the enabled ones."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(sorted(rules, key=lambda r: r.order))
        self.enabled: tuple[CompiledRule, ...] = tuple(r for r in self.rules if r.enabled)
        self._catch_all = tuple(r for r in self.enabled if r.all_types)
        index: dict[str, list[CompiledRule]] = {}
        for rule in self.enabled:
            if not rule.all_types:
                for evtype in rule.event_types:
                    index.setdefault(evtype, []).append(rule)
        self._index: dict[str, tuple[CompiledRule, ...]] = {
            evtype: tuple(sorted(rules + list(self._catch_all), key=lambda r: r.order))
            for evtype, rules in index.items()
        }

    def rules_for(self, event_type: str) -> tuple[CompiledRule, ...]:
        """The enabled rules an event of this type must be checked against, in order."""
        return self._index.get(event_type, self._catch_all)

    @property
    def index(self) -> dict[str, tuple[CompiledRule, ...]]:
        return self._index

    def needed_event_types(self) -> frozenset[str] | None:
        """Event types the enabled rules need; None when some rule needs every type."""
        if self._catch_all:
            return None
        return frozenset(self._index)

    def select(self, *, disable_substrings: Iterable[str] = (), disable_tags: Iterable[str] = (),
               only_tags: Iterable[str] = (), only_rules: Iterable[str] = (),
               min_priority: str | None = None) -> "RuleSet":
        """Falco's selection: `-D` (name substring) and `-T` (tag) disable; `-t` (tag) and
        `--rule` (name) enable only the rules they name, even ones disabled in their file;
        rules less severe than `min_priority` are dropped and cannot be enabled again."""
        only_tags, only_rules = set(only_tags), set(only_rules)
        disable_substrings, disable_tags = list(disable_substrings), set(disable_tags)
        threshold = PRIORITIES.index(min_priority) if min_priority else len(PRIORITIES)
        chosen = []
        for rule in self.rules:
            enabled = rule.enabled
            if only_tags or only_rules:
                enabled = bool(rule.tags & only_tags) or rule.name in only_rules
            if any(s in rule.name for s in disable_substrings) or rule.tags & disable_tags:
                enabled = False
            if rule.level > threshold:
                enabled = False
            chosen.append(replace(rule, enabled=enabled) if enabled != rule.enabled else rule)
        return RuleSet(chosen)
