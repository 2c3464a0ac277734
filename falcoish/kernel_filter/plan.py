"""Per event type: the OR of the relaxed rules, fitted to the probe, with its explanation.

Why keep each rule's own formula: `falcoish events --kernel-filter` must say which rule (and
which of its terms) keeps a type wide open, since one untestable term in one rule makes the
kernel pass every event of that type.  Fitting to the probe only ever widens (merges terms,
drops tests), so the result stays implied by every rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..rules.ruleset import CompiledRule
from ..rules.specialize import specialize
from .ir import (DNF, FALSE, MAX_TERMS, Test, TRUE, Untestable, atoms, drop_atoms, is_open, or_,
                 term_key, testable, widen)
from .relax import FieldMapper, Relaxer

#: tests one event type may use (the probe keeps one bit per test in a 64-bit word)
MAX_TESTS = 64


@dataclass(frozen=True)
class RuleFilter:
    """One rule's relaxed condition for one event type."""

    rule: str
    dnf: DNF

    @property
    def open(self) -> bool:
        return is_open(self.dnf)

    def untestable(self) -> list[str]:
        """The terms that leave this rule open (those of its first term with nothing testable)."""
        for term in sorted(self.dnf, key=lambda t: (len(t), term_key(t))):
            if not testable(term):
                return sorted(lit.atom.text for lit in term if isinstance(lit.atom, Untestable)) \
                    or ["(no condition beyond the event type)"]
        return []


@dataclass(frozen=True)
class TypeFilter:
    """The kernel filter of one event type: pass an event when `dnf` holds (or is unknown)."""

    event_type: str
    rules: tuple[RuleFilter, ...]
    dnf: DNF
    notes: tuple[str, ...] = ()

    @property
    def open(self) -> bool:
        """True when every event of the type passes (nothing to filter on)."""
        return is_open(self.dnf)

    @property
    def tests(self) -> list[Test]:
        return atoms(self.dnf)

    def open_because(self) -> list[tuple[str, list[str]]]:
        """(rule, untestable terms) for every rule that alone keeps the type open."""
        return [(r.rule, r.untestable()) for r in self.rules if r.open]

    def render(self) -> list[str]:
        """Readable lines for `falcoish events --kernel-filter`."""
        head = f"{self.event_type}: {len(self.rules)} rule(s)"
        if not self.rules:
            return [head + ": no rule needs it (passes only what the state table needs)"]
        if self.open:
            lines = [head + ": WIDE OPEN, every event passes; kept open by:"]
            for rule, terms in self.open_because():
                lines.append(f"    rule '{rule}': " + "; ".join(terms))
            return lines
        lines = [head + f": pass when any of {len(self.dnf)} term(s) holds ({len(self.tests)} kernel tests)"]
        for term in sorted(self.dnf, key=term_key):
            shown = [lit.render() for lit in sorted(testable(term), key=lambda lit: lit.render())]
            lines.append("    - " + " and ".join(shown))
        lines += [f"    note: {note}" for note in self.notes]
        return lines


def plan_type(rules: Sequence[CompiledRule], event_type: str, mapper: FieldMapper) -> TypeFilter:
    """The filter of `event_type` for these enabled rules."""
    relaxer = Relaxer(mapper, event_type)
    per_rule: list[RuleFilter] = []
    for rule in rules:
        tree = specialize(rule.condition, event_type)
        if tree is False:
            continue
        per_rule.append(RuleFilter(rule.name, TRUE if tree is True else relaxer.relax(tree)))
    combined, notes = fit(or_(*(r.dnf for r in per_rule)) if per_rule else FALSE)
    return TypeFilter(event_type, tuple(per_rule), combined, tuple(notes))


def union(a: TypeFilter, b: TypeFilter) -> TypeFilter:
    """A filter passing what either passes: used while rules are swapped on reload, so that
    no event either rule set needs is dropped in between."""
    combined, notes = fit(or_(a.dnf, b.dnf))
    return TypeFilter(a.event_type, a.rules + b.rules, combined, tuple(notes))


def fit(combined: DNF) -> tuple[DNF, list[str]]:
    """Widen a formula to the probe's limits; say what was given up."""
    notes: list[str] = []
    if len(combined) > MAX_TERMS:
        notes.append(f"{len(combined)} terms merged into {MAX_TERMS} to fit the probe")
        combined = widen(combined, MAX_TERMS)
    tests = atoms(combined)
    if len(tests) > MAX_TESTS:
        dropped = _least_used(combined, len(tests) - MAX_TESTS)
        notes.append(f"{len(dropped)} of {len(tests)} tests dropped to fit the probe: "
                     + ", ".join(t.render() for t in dropped[:5]) + (" ..." if len(dropped) > 5 else ""))
        combined = drop_atoms(combined, set(dropped))
    return combined, notes


def plan_filters(rules_for: "dict[str, Sequence[CompiledRule]]", mapper: FieldMapper) -> dict[str, TypeFilter]:
    """`plan_type` for every event type in `rules_for` (type -> its enabled rules)."""
    return {t: plan_type(rules, t, mapper) for t, rules in sorted(rules_for.items())}


def _least_used(dnf: DNF, count: int) -> list[Test]:
    uses: dict[Test, int] = {}
    for term in dnf:
        for lit in testable(term):
            if not isinstance(lit.atom, Untestable):
                uses[lit.atom] = uses.get(lit.atom, 0) + 1
    return sorted(uses, key=lambda t: (uses[t], t.render()))[:count]
