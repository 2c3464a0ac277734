"""One compiled rule: what the index, the decision tree and the engine hold.

Why its own module: the rule set (ruleset.py) builds decision trees (decision_tree.py) of
these, and both need the type; here neither has to import the other to name it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

from ..errors import Location
from ..rulefiles.collector import PRIORITIES
from ..syntax.nodes import Node

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

    @cached_property
    def sorted_tags(self) -> tuple[str, ...]:
        """Tags as alerts carry them (sorted), computed once per rule, not per alert."""
        return tuple(sorted(self.tags))

    @property
    def level(self) -> int:
        """0 = Emergency ... 7 = Debug (lower is more severe)."""
        return PRIORITIES.index(self.priority)
