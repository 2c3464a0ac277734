"""Kernel filter formulas: tests the probe can evaluate, kept in disjunctive normal form.

Why DNF: the probe evaluates each test once per event into one bit, and then needs only a
loop over terms (`all required bits set, no forbidden bit set`), which stays small and
bounded for the BPF verifier whatever the rules look like.

Three-valued logic is built in: at run time a test may be *unknown* (a relative path, a
string cut at the probe's size limit, a process the probe has no name for), and an unknown
test satisfies a literal of either polarity, so an event that the kernel cannot judge
always passes.  `Untestable` literals stand for rule terms the kernel cannot evaluate at
all: they are always satisfied, and only remembered so that `falcoish events
--kernel-filter` can say which rule term keeps a type wide open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Union

#: a rule's relaxed condition is cut to at most this many terms before rules are combined
MAX_RULE_TERMS = 24
#: the probe loops over at most this many terms per event type
MAX_TERMS = 48


@dataclass(frozen=True, order=True)
class StrTest:
    """True when the string `view` equals one of `eq`, starts with one of `prefix`, ends with
    one of `suffix` or contains one of `contains` (one bit in the probe whatever the mix:
    `pmatch (/etc)` is `eq {/etc}` plus `prefix {/etc/}`)."""

    view: str
    eq: frozenset[str] = frozenset()
    prefix: frozenset[str] = frozenset()
    suffix: frozenset[str] = frozenset()
    contains: frozenset[str] = frozenset()
    label: str = field(default="", compare=False)

    def render(self) -> str:
        parts = []
        name = self.label or self.view
        if self.view.startswith("pay"):          # raw bytes: shown as the rules write them
            return " or ".join(f"{name} bstartswith {value_bytes(self.view, v).hex()}" for v in sorted(self.prefix))
        if self.eq:
            parts.append(f"{name} in ({_join(self.eq)})" if len(self.eq) > 1 else f"{name} = {_one(self.eq)}")
        for op, values in (("startswith", self.prefix), ("endswith", self.suffix), ("contains", self.contains)):
            if values:
                parts.append(f"{name} {op} " + (f"({_join(values)})" if len(values) > 1 else _one(values)))
        return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


def value_bytes(view: str, value: str) -> bytes:
    """The bytes a test value stands for: views of an I/O payload (`pay*`) hold raw bytes,
    carried one character per byte (latin-1) so that any byte can be a prefix; the other
    views are text (UTF-8)."""
    return value.encode("latin-1") if view.startswith("pay") else value.encode()


@dataclass(frozen=True, order=True)
class IntTest:
    """True when `operand & mask` compares true: `op` is `in` (any of `values`), `any` (some
    bit of `mask` set), or one of `lt le gt ge` against `values[0]` (signed or unsigned as
    the operand's kind says)."""

    operand: str
    op: str
    values: tuple[int, ...]
    mask: int = -1
    label: str = field(default="", compare=False)

    def render(self) -> str:
        if self.label and self.mask != -1:
            return self.label                  # a whole test with a name, e.g. evt.is_open_read
        name = self.label or self.operand
        lhs = name if self.mask == -1 else f"{name} & {_num(self.mask)}"
        if self.op == "any":
            return f"{name} & {_num(self.mask)} != 0"
        if self.op == "in":
            return f"{lhs} = {_num(self.values[0])}" if len(self.values) == 1 else \
                f"{lhs} in ({', '.join(_num(v) for v in self.values)})"
        return f"{lhs} {_OPS[self.op]} {self.values[0]}"


@dataclass(frozen=True, order=True)
class Untestable:
    """A rule term the kernel cannot evaluate (always satisfied); `text` is the term."""

    text: str

    def render(self) -> str:
        return self.text


Test = Union[StrTest, IntTest]
Atom = Union[StrTest, IntTest, Untestable]


@dataclass(frozen=True, order=True)
class Literal:
    atom: Atom
    positive: bool = True

    def negate(self) -> "Literal":
        return Literal(self.atom, not self.positive)

    def render(self) -> str:
        text = self.atom.render()
        if self.positive or isinstance(self.atom, Untestable):
            return text
        return f"not {text}"


Term = frozenset[Literal]
DNF = frozenset[Term]

TRUE: DNF = frozenset({frozenset()})
FALSE: DNF = frozenset()


def literal(atom: Atom, positive: bool = True) -> DNF:
    return frozenset({frozenset({Literal(atom, positive)})})


def untestable(text: str) -> DNF:
    return literal(Untestable(text))


def testable(term: Term) -> Term:
    """The literals of `term` the probe evaluates (untestable ones always hold).  Terms out of
    `simplify` hold either only testable literals or only untestable ones."""
    for lit in term:
        return frozenset() if isinstance(lit.atom, Untestable) else term
    return term


def is_open(dnf: DNF) -> bool:
    """Does this formula pass every event (some term has nothing the probe can test)?"""
    return any(not testable(term) for term in dnf)


def or_(*parts: DNF) -> DNF:
    terms: set[Term] = set()
    for part in parts:
        terms |= part
    return simplify(terms)


def and_(parts: Iterable[DNF], limit: int = MAX_RULE_TERMS) -> DNF:
    """Conjunction by distribution.  When a product would outgrow `limit`, the factor that
    tests nothing positively (typically an exception: `not a or not b`) is replaced by the
    literals all its terms share, else the larger side is widened (see `widen`)."""
    result = TRUE
    for part in sorted(parts, key=len):
        if not part:
            return FALSE
        if len(result) * len(part) > limit:
            if not any(lit.positive for term in part for lit in testable(term)):
                part = hull(part)
            elif len(part) > len(result):
                part = widen(part, max(1, limit // len(result)))
            else:
                result = widen(result, max(1, limit // len(part)))
        result = simplify([a | b for a in result for b in part])
        if len(result) > limit:
            result = widen(result, limit)
    return result


def hull(dnf: DNF) -> DNF:
    """One term implied by every term of `dnf`: the literals they all share."""
    terms = [testable(t) for t in dnf]
    if not terms:
        return FALSE
    common = frozenset.intersection(*terms)
    if common or any(terms):
        return frozenset({common})
    return simplify(dnf)


def simplify(terms: Iterable[Term]) -> DNF:
    """Drop contradictory terms (a test and its negation: the rule cannot match there) and
    terms absorbed by a smaller one; a term with nothing testable makes the formula open,
    and is then kept alone (it says why).  Untestable literals are dropped from terms that
    have testable ones (they always hold)."""
    clean: set[Term] = set()
    open_terms: list[Term] = []
    for term in terms:
        core = frozenset(lit for lit in term if not isinstance(lit.atom, Untestable))
        if not core:
            open_terms.append(term)
        elif not open_terms and not _contradictory(core):
            clean.add(core)
    if open_terms:                      # the same reason in every run: the first in order
        return frozenset({min(open_terms, key=lambda t: (len(t), term_key(t)))})
    kept: list[Term] = []
    for term in sorted(clean, key=len):
        if not any(other <= term for other in kept):
            kept.append(term)
    return frozenset(kept)


def widen(dnf: DNF, limit: int) -> DNF:
    """At most `limit` terms.  First negative literals are dropped (they reject few events and
    are what makes exceptions multiply terms), then the terms sharing the most literals are
    merged into the literals they share, in rounds.  Every step keeps each new term implied
    by the terms it replaces, so the result passes every event the original passes."""
    current = simplify(dnf)
    if len(current) <= limit:
        return current
    current = simplify(frozenset(lit for lit in t if lit.positive) or _NOTE_NEGATIVE for t in current)
    terms = sorted(current, key=term_key)          # a stable order: same rules, same filter
    while len(terms) > limit:
        scored = sorted(((_keeps(m := merge(a, b)), i, j, m) for i, a in enumerate(terms)
                         for j, b in enumerate(terms) if i < j), key=lambda x: (x[0], -x[1], -x[2]), reverse=True)
        used: set[int] = set()
        merged: list[Term] = []
        excess = len(terms) - limit
        for _, i, j, term in scored:
            if excess <= 0:
                break
            if i in used or j in used:
                continue
            used |= {i, j}
            merged.append(term or _NOTE_MERGED)
            excess -= 1
        terms = sorted(simplify([t for k, t in enumerate(terms) if k not in used] + merged), key=term_key)
    return frozenset(terms)


def merge(a: Term, b: Term) -> Term:
    """One term implied by each of `a` and `b`: the literals they share, plus, per string view
    (or integer operand) that both test positively, one test accepting what either accepts
    (`path in {x}` and `path in {y}` become `path in {x, y}`, not nothing)."""
    common = a & b
    out = set(common)
    left = _positive_by_key(a - common)
    right = _positive_by_key(b - common)
    for key in left.keys() & right.keys():
        joined = _union(left[key], right[key])
        if joined is not None:
            out.add(Literal(joined, True))
    return frozenset(out)


def _positive_by_key(term: Term) -> dict[tuple[str, ...], Test]:
    found: dict[tuple[str, ...], Test] = {}
    for lit in sorted(term, key=lit_key):
        atom = lit.atom
        if not lit.positive:
            continue
        if isinstance(atom, StrTest):
            found.setdefault(("s", atom.view), atom)
        elif isinstance(atom, IntTest) and atom.op == "in":
            found.setdefault(("i", atom.operand, str(atom.mask)), atom)
    return found


def _union(x: Test, y: Test) -> Test | None:
    if isinstance(x, StrTest) and isinstance(y, StrTest):
        return StrTest(x.view, x.eq | y.eq, x.prefix | y.prefix, x.suffix | y.suffix, x.contains | y.contains,
                       x.label if x.label == y.label else x.view)
    if isinstance(x, IntTest) and isinstance(y, IntTest):
        return IntTest(x.operand, "in", tuple(sorted(set(x.values) | set(y.values))), x.mask, "")
    return None


def lit_key(lit: Literal) -> tuple[str, str, bool]:
    """A total order on literals that is the same in every run (a frozenset's repr follows
    the per-process hash seed, so values are sorted first)."""
    atom = lit.atom
    if isinstance(atom, StrTest):
        canon = repr((atom.view, *(sorted(v) for v in (atom.eq, atom.prefix, atom.suffix, atom.contains))))
    else:
        canon = repr(atom)
    return type(atom).__name__, canon, lit.positive


def _keeps(term: Term) -> tuple[float, int]:
    """How much a merged term still filters: its estimated selectivity in bits, then its
    size.  Counting tests alone would rate `open for any access and name starts with /etc/`
    as high as `opened for reading and name = /dev/mem`; the first passes most opens."""
    return sum(_bits(lit.atom) for lit in term if lit.positive), len(term)


def _bits(atom: Test | Untestable) -> float:
    """A rough -log2(share of events passing): about 4 bits per literal character of the
    weakest alternative of a string test (an exact name a few more), the fraction of a small
    flag field an integer test leaves."""
    if isinstance(atom, StrTest):
        alternatives = [4.0 * len(v) + 4 for v in atom.eq] + \
            [4.0 * len(v) for v in (*atom.prefix, *atom.suffix, *atom.contains)]
        if not alternatives:
            return 0.0
        return max(0.0, min(alternatives) - math.log2(len(alternatives)))
    if isinstance(atom, IntTest):
        if atom.op == "in" and 0 < atom.mask < 1 << 16:
            return max(0.0, bin(atom.mask).count("1") - math.log2(len(atom.values)))
        return 4.0 if atom.op == "in" else 1.0
    return 0.0


def term_key(term: Term) -> list[tuple[str, str, bool]]:
    """A total order on terms."""
    return sorted(lit_key(lit) for lit in term)


def atoms(dnf: DNF) -> list[Test]:
    """The distinct tests of a formula, in a stable order."""
    found: set[Test] = {lit.atom for term in dnf for lit in term if not isinstance(lit.atom, Untestable)}
    return sorted(found, key=lambda a: (type(a).__name__, repr(a)))


def drop_atoms(dnf: DNF, dropped: set[Test]) -> DNF:
    """The formula with `dropped` tests replaced by "always true" (wider, still implied)."""
    note = Untestable("tests dropped to fit the probe")
    out = set()
    for term in dnf:
        kept = frozenset(lit for lit in term if lit.atom not in dropped)
        out.add(kept if kept or not term else frozenset({Literal(note)}))
    return simplify(out)


def _contradictory(term: Term) -> bool:
    positive = {lit.atom for lit in term if lit.positive}
    return any(not lit.positive and lit.atom in positive for lit in term)


_NOTE_NEGATIVE: Term = frozenset({Literal(Untestable("a term of negative tests only, dropped to fit the probe"))})
_NOTE_MERGED: Term = frozenset({Literal(Untestable("terms with nothing in common merged to fit the probe"))})
_OPS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _num(v: int) -> str:
    return f"0x{v:x}" if v > 9 else str(v)


def _one(values: frozenset[str]) -> str:
    return _quote(next(iter(values)))


def _join(values: frozenset[str], limit: int = 6) -> str:
    items = sorted(values)
    shown = ", ".join(_quote(v) for v in items[:limit])
    return shown + (f", ... {len(items) - limit} more" if len(items) > limit else "")


def _quote(value: str) -> str:
    from ..syntax.nodes import quote_value
    return quote_value(value)
