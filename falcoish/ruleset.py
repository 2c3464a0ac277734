"""Compiled rules indexed by event type, and Falco's rule selection.

Step 6 of the pipeline.  Why an index: a busy host produces hundreds of thousands of events
a second and a rule set has hundreds of rules, but a given event type concerns only a few
of them.  Each event type maps to the tuple of rules that can match it, in evaluation order
(first definition order, as Falco), computed once per selection.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, NamedTuple

from .collector import PRIORITIES
from .compiler import Compiler, bind_event_field
from .errors import Location
from .nodes import And, MacroUse, Node
from .specialize import macro_uses, specialize

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


Matcher = Callable[[Any, list[CompiledRule]], None]
Item = tuple[CompiledRule, tuple[Node, ...]]


def _compile_for_events(tree: Node, memo: frozenset[str]) -> Predicate:
    return Compiler(bind_event_field, memo=memo).compile(tree)


def _conjuncts(tree: Node) -> tuple[Node, ...]:
    """Top-level `and` operands, looking through macros (`open_write and x` -> the
    operands of open_write's body, then x)."""
    if isinstance(tree, And):
        return tuple(c for child in tree.children for c in _conjuncts(child))
    if isinstance(tree, MacroUse) and isinstance(tree.body, And):
        return _conjuncts(tree.body)
    return (tree,)


def _nothing(event: Any, out: list[CompiledRule]) -> None:
    return None


class _MatcherBuilder:
    """Turns the rules of one event type into a decision tree of shared conditions.

    Rules are lists of conjuncts.  The conjunct most rules share becomes a guard checked
    once: the rules that contain it continue below it (without it), the others beside it;
    and so on until no conjunct is shared.  `open_write`-style checks that dozens of rules
    start with are thus evaluated once per event, and an event that fails one skips every
    rule behind it.  Checks have no side effects, so the order of conjuncts is free."""

    def __init__(self, compile_tree: Callable[[Node, frozenset[str]], Predicate]) -> None:
        self.compile_tree = compile_tree
        self.memo: frozenset[str] = frozenset()

    def build(self, items: list[Item]) -> Matcher:
        shared = Counter(n for _, conj in items for c in conj for n in set(macro_uses(c)))
        self.memo = frozenset(name for name, uses in shared.items() if uses > 1)
        return self._node(items)

    def _node(self, items: list[Item]) -> Matcher:
        if not items:
            return _nothing
        popularity = Counter(c for _, conj in items for c in set(conj))
        guard, uses = popularity.most_common(1)[0] if popularity else (None, 0)
        if guard is None or uses < 2:
            return self._leaves(items)
        inside = [(rule, tuple(c for c in conj if c != guard)) for rule, conj in items if guard in conj]
        beside = [item for item in items if guard not in item[1]]
        check = self.compile_tree(guard, self.memo)
        below, other = self._node(inside), self._node(beside)
        if other is _nothing:
            def guarded(e: Any, out: list[CompiledRule]) -> None:
                if check(e):
                    below(e, out)
            return guarded

        def guarded_and_other(e: Any, out: list[CompiledRule]) -> None:
            if check(e):
                below(e, out)
            other(e, out)
        return guarded_and_other

    def _leaves(self, items: list[Item]) -> Matcher:
        always = tuple(rule for rule, conj in items if not conj)
        checks = tuple((rule, self.compile_tree(conj[0] if len(conj) == 1 else And(conj), self.memo))
                       for rule, conj in items if conj)

        def leaves(e: Any, out: list[CompiledRule]) -> None:
            if always:
                out.extend(always)
            for rule, matches in checks:
                if matches(e):
                    out.append(rule)
        return leaves


class RuleSet:
    """All compiled rules (enabled or not) plus the index of the enabled ones.

    The index maps an event type to its *checks*: (rule, predicate) pairs in rule order,
    where each predicate is the rule's condition specialised for that type (see
    specialize.py) and macros shared by several rules of the bucket are evaluated once per
    event.  Buckets are built the first time an event of their type arrives, so loading
    stays fast however many event types the rules mention."""

    def __init__(self, rules: Iterable[CompiledRule],
                 compile_tree: Callable[[Node, frozenset[str]], Predicate] = _compile_for_events) -> None:
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
        self._compile_tree = compile_tree
        self._matchers: dict[str, Matcher] = {}

    def rules_for(self, event_type: str) -> tuple[CompiledRule, ...]:
        """The enabled rules an event of this type must be checked against, in order."""
        return self._index.get(event_type, self._catch_all)

    def matcher_for(self, event_type: str) -> Matcher:
        """`matcher(event, out)` appends to `out` every enabled rule the event satisfies
        (in no particular order); built the first time an event of this type arrives."""
        matcher = self._matchers.get(event_type)
        if matcher is None:
            matcher = self._matchers[event_type] = self._build_matcher(event_type)
        return matcher

    def _build_matcher(self, event_type: str) -> Matcher:
        items: list[Item] = []
        for rule in self.rules_for(event_type):
            tree = specialize(rule.condition, event_type)
            if tree is not False:
                items.append((rule, () if tree is True else _conjuncts(tree)))
        return _MatcherBuilder(self._compile_tree).build(items)

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
        return RuleSet(chosen, self._compile_tree)
