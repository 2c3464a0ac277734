"""Evaluate a kernel filter formula in Python, with the probe's three-valued semantics.

Why: the property that matters (every event a rule matches passes the filter) is tested on
generated events, and the kernel's own evaluation is checked against this one.  A source
says what the kernel would know of an event through `Values`; a test whose value is unknown
satisfies a literal of either polarity.
"""

from __future__ import annotations

from typing import Protocol

from .ir import DNF, IntTest, StrTest, Test, Untestable, atoms, value_bytes


class Values(Protocol):
    """The kernel's view of one event."""

    def string(self, view: str) -> bytes | None:
        """The bytes of a string view, or None when the probe would not know them."""

    def integer(self, operand: str) -> int:
        """An integer operand, decoded as user space decodes it."""

    def window(self) -> int:
        """How many start positions the probe searches for a `contains` needle; in a longer
        string a needle not found in them is unknown."""


def holds(test: Test, values: Values, paymin: int = 0) -> bool | None:
    """True/False, or None when unknown.  `paymin`: the longest payload prefix the filter
    tests on this test's view (the probe's rule: a shorter payload leaves them all unknown)."""
    if isinstance(test, StrTest):
        s = values.string(test.view)
        if s is None:
            return None
        view = test.view
        if view.startswith("pay"):
            # a payload shorter than the longest prefix is unknown (the probe's rule, kfilter.c)
            prefixes = _encoded(view, test.prefix)
            if len(s) < max(paymin, *map(len, prefixes)) or test.eq or test.suffix or test.contains:
                return None
            return any(s.startswith(p) for p in prefixes)
        if (s in _encoded(view, test.eq) or any(s.startswith(p) for p in _encoded(view, test.prefix))
                or any(s.endswith(p) for p in _encoded(view, test.suffix))):
            return True
        window = values.window()
        needles = _encoded(view, test.contains)
        if any(0 <= s.find(p) < window for p in needles):
            return True
        if not needles or len(s) <= window:
            return False
        # the probe scans the whole string for these byte pairs (kfilter.c: "decided")
        only = not (test.eq or test.prefix or test.suffix)
        for pair in (b"..", b"/."):
            if only and all(pair in n for n in needles) and pair not in s:
                return False
        return None
    v = values.integer(test.operand) & test.mask
    if test.op == "in":
        return v in test.values
    if test.op == "any":
        return v != 0
    c = test.values[0]
    return {"lt": v < c, "le": v <= c, "gt": v > c, "ge": v >= c}[test.op]


def passes(dnf: DNF, values: Values) -> bool:
    """Would the probe send this event?"""
    memo: dict[Test, bool | None] = {}
    paymin: dict[str, int] = {}
    for test in atoms(dnf):
        if isinstance(test, StrTest) and test.view.startswith("pay"):
            longest = max((len(p) for p in _encoded(test.view, test.prefix)), default=0)
            paymin[test.view] = max(paymin.get(test.view, 0), longest)
    for term in dnf:
        ok = True
        for lit in term:
            atom = lit.atom
            if isinstance(atom, Untestable):
                continue
            if atom not in memo:
                memo[atom] = holds(atom, values, paymin.get(getattr(atom, "view", ""), 0))
            value = memo[atom]
            if value is not None and value != lit.positive:
                ok = False
                break
        if ok:
            return True
    return False


def _encoded(view: str, values: frozenset[str]) -> tuple[bytes, ...]:
    return tuple(value_bytes(view, v) for v in values)
