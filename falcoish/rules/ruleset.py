"""Compiled rules indexed by event type, and Falco's rule selection.

Step 6 of the pipeline.  Why an index: a busy host produces hundreds of thousands of events
a second and a rule set has hundreds of rules, but a given event type concerns only a few
of them.  Each event type maps to the tuple of rules that can match it, in evaluation order
(first definition order, as Falco), computed once per selection.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any, Iterable

from ..condition.compiler import Compiler, bind_event_field
from ..rulefiles.collector import PRIORITIES
from ..syntax.nodes import Node
from .compiled import CompiledRule as CompiledRule, Predicate as Predicate
from .decision_tree import CompileTree, Item, Matcher, TreeBuilder, conjuncts
from .selectivity import guess, measure
from .specialize import specialize


def _cached_compiler() -> CompileTree:
    """A compile function that reuses the closures of subtrees it compiled before (per memo
    set): replanning a type's tree then costs little more than the planning itself."""
    caches: dict[frozenset[str], dict[Node, Predicate]] = {}

    def compile_tree(tree: Node, memo: frozenset[str]) -> Predicate:
        return Compiler(bind_event_field, memo=memo, cache=caches.setdefault(memo, {})).compile(tree)
    return compile_tree


#: events of one type sampled before its decision tree is rebuilt with measured selectivity
LEARN_AFTER = 128
#: up to this many rules of a type, its first events are checked rule by rule (see _first_matcher)
GENERIC_FIRST_MAX_RULES = 40


class RuleSet:
    """All compiled rules (enabled or not) plus the index of the enabled ones.

    The index maps an event type to the rules that can match it; each rule's condition is
    specialised for that type (specialize.py) and the bucket becomes a decision tree of
    shared, ordered checks (decision_tree.py).  Nothing is planned at load time, so loading
    stays fast however many event types the rules mention.

    Why the tree is planned from events: the order of checks pays off only if the checks
    that reject this host's events run first, and how often a check holds cannot be read
    from the rules.  The first `learn_after` events of a type are checked without the tree
    (or with one planned on guessed odds, for many rules: see `_first_matcher`) and kept;
    the tree is then planned with the share of them on which each shared check held.
    `learn_after=0` plans at once on guessed odds."""

    def __init__(self, rules: Iterable[CompiledRule], learn_after: int = LEARN_AFTER) -> None:
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
        self._compile_tree = _cached_compiler()
        self.learn_after = learn_after
        self._matchers: dict[str, Matcher] = {}
        #: event types whose tree has been rebuilt from measured selectivity
        self.learned: set[str] = set()

    def rules_for(self, event_type: str) -> tuple[CompiledRule, ...]:
        """The enabled rules an event of this type must be checked against, in order."""
        return self._index.get(event_type, self._catch_all)

    def matcher_for(self, event_type: str) -> Matcher:
        """`matcher(event, out)` appends to `out` every enabled rule the event satisfies
        (in no particular order); built the first time an event of this type arrives."""
        matcher = self._matchers.get(event_type)
        if matcher is None:
            matcher = self._matchers[event_type] = self._first_matcher(event_type)
        return matcher

    def _items(self, event_type: str) -> list[Item]:
        items: list[Item] = []
        for rule in self.rules_for(event_type):
            tree = specialize(rule.condition, event_type)
            if tree is not False:
                items.append((rule, () if tree is True else conjuncts(tree)))
        return items

    def _first_matcher(self, event_type: str) -> Matcher:
        """What checks the first `learn_after` events of a type.  For a few rules, each
        rule's own compiled condition: building a tree about to be replanned would cost more
        than those few events.  For many rules, a tree planned on guessed odds: checking
        every rule would cost more (its closures are reused when the tree is replanned)."""
        rules = self.rules_for(event_type)
        if self.learn_after <= 0 or len(rules) > GENERIC_FIRST_MAX_RULES:
            planned = TreeBuilder(self._compile_tree, guess).build(self._items(event_type))
            if self.learn_after <= 0:
                return planned
        else:
            def planned(e: Any, out: list[CompiledRule]) -> None:
                for rule in rules:
                    if rule.matches(e):
                        out.append(rule)
        samples: list[Any] = []

        def learning(e: Any, out: list[CompiledRule]) -> None:
            planned(e, out)
            samples.append(e)
            if len(samples) >= self.learn_after:
                self._matchers[event_type] = self._learned_matcher(event_type, samples)
        return learning

    def _learned_matcher(self, event_type: str, samples: list[Any]) -> Matcher:
        """The type's tree, planned with the share of `samples` on which each check held.
        Only checks several rules share are measured (they decide the tree's shape); a
        check of one rule keeps its guessed odds, which only order that rule's checks."""
        items = self._items(event_type)
        uses = Counter(c for _, conj in items for c in set(conj))
        compile_alone = self._compile_tree
        shares = measure((c for c, n in uses.items() if n > 1), samples,
                         lambda node: compile_alone(node, frozenset()))
        self.learned.add(event_type)

        def odds(node: Node) -> float:
            share = shares.get(node)
            return guess(node) if share is None else share
        return TreeBuilder(self._compile_tree, odds).build(items)

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
        return RuleSet(chosen, self.learn_after)
