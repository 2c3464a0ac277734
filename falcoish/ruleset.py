"""Compiled rules indexed by event type, and Falco's rule selection.

Step 6 of the pipeline.  Why an index: a busy host produces hundreds of thousands of events
a second and a rule set has hundreds of rules, but a given event type concerns only a few
of them.  Each event type maps to the tuple of rules that can match it, in evaluation order
(first definition order, as Falco), computed once per selection.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Callable, Iterable

from . import fields as field_registry
from .collector import PRIORITIES
from .compiler import Compiler, bind_event_field
from .constants import parse_constant
from .errors import Location, RuleError
from .fieldtypes import Kind
from .nodes import And, Compare, FieldRef, ListOperand, MacroUse, Node, StrConst
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

    @cached_property
    def sorted_tags(self) -> tuple[str, ...]:
        """Tags as alerts carry them (sorted), computed once per rule, not per alert."""
        return tuple(sorted(self.tags))

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


DISPATCH_MIN_RULES = 4


_HASHABLE_KINDS = (Kind.STRING, Kind.INT, Kind.PORT, Kind.BOOL)


def _filable(node: Node) -> tuple[tuple[FieldRef, str], tuple[Any, ...]] | None:
    """((field, "eq"), typed constants) for `field = c` / `field == c` / `field in (c1...)`,
    ((field, "prefix"), prefixes) for `field startswith p`, on a single-valued field whose
    values compare exactly (strings, integers, booleans); else None."""
    if not (isinstance(node, Compare) and isinstance(node.lhs, FieldRef) and node.modifier is None):
        return None
    rhs = node.rhs
    if node.op in ("=", "==", "startswith") and isinstance(rhs, StrConst):
        texts: tuple[str, ...] = (rhs.value,)
    elif node.op == "in" and isinstance(rhs, ListOperand) and rhs.items \
            and all(isinstance(i, StrConst) for i in rhs.items):
        texts = tuple(i.value for i in rhs.items if isinstance(i, StrConst))
    else:
        return None
    try:
        bound = field_registry.bind(node.lhs)
        if bound.multi is not None or bound.ftype.kind not in _HASHABLE_KINDS:
            return None
        if node.op == "startswith":
            return ((node.lhs, "prefix"), texts) if bound.ftype.kind is Kind.STRING and texts[0] else None
        return (node.lhs, "eq"), tuple(parse_constant(bound.ftype, t) for t in texts)
    except (RuleError, ValueError):
        return None


def _prefix_dispatch(get: Callable[[Any], Any], subs: dict[Any, Matcher], others: Matcher) -> Matcher:
    """Look a value's prefixes up by the lengths the table holds (longest first)."""
    lengths = sorted({len(p) for p in subs}, reverse=True)

    def dispatch(e: Any, out: list[CompiledRule]) -> None:
        value = get(e)
        if value is not None:
            for n in lengths:
                if n <= len(value):
                    sub = subs.get(value[:n])
                    if sub is not None:
                        sub(e, out)
        others(e, out)
    return dispatch


def _nothing(event: Any, out: list[CompiledRule]) -> None:
    return None


class _MatcherBuilder:
    """Turns the rules of one event type into a decision tree of shared conditions.

    Rules are lists of conjuncts.  The conjunct most rules share becomes a guard checked
    once: the rules that contain it continue below it (without it), the others beside it;
    and so on until no conjunct is shared.  `open_write`-style checks that dozens of rules
    start with are thus evaluated once per event, and an event that fails one skips every
    rule behind it.  Where nothing is shared, rules testing one string field for equality are
    filed in a hash table by value (see `_dispatch`).  Checks have no side effects, so the order
    of conjuncts is free."""

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
            return self._dispatch(items) or self._leaves(items)
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

    def _dispatch(self, items: list[Item]) -> Matcher | None:
        """Rules that each test the same field for equality (`F = v`, `F in (v1, v2)`) or
        for a prefix (`F startswith p`), and share nothing else, are filed in a hash table:
        the field is extracted once per event and only the rules filed under its value (or
        under one of its prefixes) are looked at.  Keeps many similar rules
        (`proc.name = tool1`, `proc.name = tool2`, ...) from costing one check each per event."""
        by_key: dict[tuple[FieldRef, str], list[tuple[int, Node, tuple[Any, ...]]]] = {}
        for index, (_, conj) in enumerate(items):
            seen: set[tuple[FieldRef, str]] = set()
            for c in conj:
                found = _filable(c)
                if found is not None and found[0] not in seen:
                    seen.add(found[0])
                    by_key.setdefault(found[0], []).append((index, c, found[1]))
        candidates = [(len(entries), key) for key, entries in by_key.items() if len(entries) >= DISPATCH_MIN_RULES]
        if not candidates:
            return None
        ref, how = max(candidates, key=lambda nc: nc[0])[1]
        table: dict[Any, list[Item]] = {}
        filed: set[int] = set()
        for index, conjunct, values in by_key[(ref, how)]:
            rule, conj = items[index]
            rest = tuple(c for c in conj if c is not conjunct)
            filed.add(index)
            for value in set(values):
                table.setdefault(value, []).append((rule, rest))
        subs = {value: self._node(members) for value, members in table.items()}
        others = self._node([item for i, item in enumerate(items) if i not in filed])
        get = field_registry.bind(ref).extract
        if how == "prefix":
            return _prefix_dispatch(get, subs, others)

        def dispatch(e: Any, out: list[CompiledRule]) -> None:
            value = get(e)
            if value is not None:
                sub = subs.get(value)
                if sub is not None:
                    sub(e, out)
            others(e, out)
        return dispatch

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
