"""Falco's `glob`/`iglob`: glibc `fnmatch(pattern, value, 0)` (or `FNM_CASEFOLD`), C locale,
in time linear in the value.

Why not a translated regular expression: the value is chosen by whoever runs the process
(its command line, its file names), and a backtracking regex engine tries the ways a
pattern such as `*a*a*a*a*a*a*a*a*a*a*[b]` can split `aaaa...a` one by one: the number of
ways grows like the length to the power of the number of `*`s, so one crafted `exec`
stalled detection for everyone (bench/glob_hostile.py: 17 s for 40 characters).

Here the pattern is a nondeterministic automaton whose states are pattern indexes (`?`,
a literal or a bracket move one step, `*` loops on itself, a bracket can resume at several
indexes, see `falcoish.condition.glob_brackets`), and a value is read once, byte by byte, carrying
the set of indexes reachable so far.  Each set is interned as a deterministic state whose
transitions are remembered, so the usual cost per byte is one list lookup; a new state costs
time in proportion to the pattern.  The number of remembered states is capped (a pattern
can have exponentially many), so memory stays bounded and the worst case is
O(len(value) * len(pattern)), with no backtracking at all.

Values are matched as their UTF-8 bytes, as libsinsp does: `?` and brackets consume one
byte, like in C.  Patterns made of literal text and `*` only (the usual case) skip the
automaton: leftmost placement of each literal piece is optimal when `*`s separate them, so
`str.startswith`/`find`/`endswith` decide in linear time at C speed.
"""

from __future__ import annotations

import operator
from functools import partial
from typing import Any, Callable

from .glob_brackets import PAD, Brackets, fold_byte

__all__ = ["compile_glob", "ascii_lower", "ASCII_LOWER", "GlobAutomaton"]

Predicate = Callable[[Any], bool]

MAX_STATES = 256  # remembered deterministic states per pattern (each holds a 256-entry row)

_STAR, _QUESTION, _BACKSLASH, _LBRACKET = 0x2A, 0x3F, 0x5C, 0x5B
_SPECIAL = frozenset((_STAR, _QUESTION, _BACKSLASH, _LBRACKET))
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only (C `tolower` in the C locale); other characters are untouched."""
    return text.lower() if text.isascii() else text.translate(ASCII_LOWER)


def _utf8(text: str) -> bytes:
    """The bytes libsinsp would hold: UTF-8, raw bytes carried as U+DC80..U+DCFF restored.
    Another lone surrogate (only a JSON escape makes one) is encoded as itself, so a value
    and a pattern taken from events agree, and a pattern never gains a wildcard from it."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


class _State:
    """A set of pattern indexes the automaton can be in, with its remembered moves."""

    __slots__ = ("positions", "row", "accept", "final")

    def __init__(self, positions: frozenset[int], accept: bool, final: bool) -> None:
        self.positions = positions
        self.row: list[_State | None] = [None] * 256
        self.accept = accept
        # dead (no index left) or certain (a trailing `*` is reachable): the rest of the
        # value cannot change the answer
        self.final = final


class GlobAutomaton:
    """The matcher for one pattern: `match(value)`."""

    __slots__ = ("p", "end", "fold", "brackets", "tables", "states", "start", "_start_set",
                 "prefix")

    def __init__(self, pattern: bytes, fold: bool) -> None:
        self.p = pattern + PAD
        self.end = len(pattern)
        self.fold = fold
        self.brackets = Brackets(self.p, fold)
        self.tables: dict[int, Any] = {}
        self.states: dict[frozenset[int], _State] = {}
        # A literal start (`/proc/` in `/proc/[0-9]*/mem`) is compared at C speed; the
        # automaton starts after it.  Case folding compares per byte, so only without it.
        literal = 0
        if not fold:
            while literal < self.end and pattern[literal] not in _SPECIAL:
                literal += 1
        self.prefix = pattern[:literal]
        start: set[int] = set()
        self._closure(literal, start)
        self._start_set = frozenset(start)
        self.start = self._intern(self._start_set)

    def match(self, value: str) -> bool:
        """Does the whole value match the pattern?"""
        data = _utf8(value)
        prefix = self.prefix
        if prefix:
            if not data.startswith(prefix):
                return False
            data = data[len(prefix):]
        state = self.start
        if state.final:
            return state.accept
        for byte in data:
            nxt = state.row[byte]
            if nxt is None:
                nxt = self._move(state, byte)
            if nxt.final:
                return nxt.accept
            state = nxt
        return state.accept

    def _closure(self, pos: int, into: set[int]) -> None:
        """Add `pos` and what `*`s let it reach without reading: a run of `*`s is kept as its
        last one (they are interchangeable), then the index after the run."""
        p, end = self.p, self.end
        star = -1
        while pos < end and p[pos] == _STAR:
            star = pos
            pos += 1
        if star >= 0:
            into.add(star)
        into.add(pos)

    def _intern(self, positions: frozenset[int]) -> _State:
        state = self.states.get(positions)
        if state is None:
            if len(self.states) >= MAX_STATES:
                # forget every remembered state: a hostile pattern with exponentially many
                # cannot grow memory, and it only costs recomputing moves
                self.states = {}
                self.start = self._new_state(self._start_set)
                if positions == self._start_set:
                    return self.start
            state = self._new_state(positions)
        return state

    def _new_state(self, positions: frozenset[int]) -> _State:
        end = self.end
        accept = end in positions
        certain = any(pos == end - 1 and self.p[pos] == _STAR for pos in positions)
        state = _State(positions, accept or certain, certain or not positions)
        self.states[positions] = state
        return state

    def _move(self, state: _State, byte: int) -> _State:
        p, end, fold = self.p, self.end, self.fold
        folded = fold_byte(byte, fold)
        reached: set[int] = set()
        for pos in state.positions:
            if pos >= end:
                continue
            c = p[pos]
            if c == _STAR:  # the last of a run: loops, and reaches what follows the run
                self._closure(pos, reached)
            elif c == _QUESTION:
                self._closure(pos + 1, reached)
            elif c == _BACKSLASH:
                # an escaped byte is literal; a trailing backslash never matches
                if pos + 1 < end and folded == fold_byte(p[pos + 1], fold):
                    self._closure(pos + 2, reached)
            elif c == _LBRACKET:
                table = self.tables.get(pos)
                if table is None:
                    table = self.tables[pos] = self.brackets.table(pos + 1)
                resume = table[byte]
                if resume >= 0:
                    self._closure(resume, reached)
            elif folded == fold_byte(c, fold):
                self._closure(pos + 1, reached)
        nxt = self._intern(frozenset(reached))
        state.row[byte] = nxt
        return nxt


def _literal_glob(pattern: str, fold: bool) -> Predicate | None:
    """Fast path for patterns whose only special character is `*` (the common case)."""
    if any(c in pattern for c in "?[\\"):
        return None
    if fold:
        pattern = ascii_lower(pattern)
    parts = pattern.split("*")
    if len(parts) == 1:
        if fold:
            return lambda v: ascii_lower(v) == pattern
        return partial(operator.eq, pattern)
    head, tail, middle = parts[0], parts[-1], tuple(p for p in parts[1:-1] if p)
    fixed = len(head) + len(tail)

    def match(v: Any) -> bool:
        if fold:
            v = v.lower() if v.isascii() else v.translate(ASCII_LOWER)
        if len(v) < fixed or not v.startswith(head) or not v.endswith(tail):
            return False
        pos, stop = len(head), len(v) - len(tail)
        for part in middle:  # leftmost placement of each piece is optimal for `*`
            pos = v.find(part, pos, stop)
            if pos < 0:
                return False
            pos += len(part)
        return True

    if not middle:
        if fold:
            return match
        if not tail:
            return lambda v: v.startswith(head)
        if not head:
            return lambda v: v.endswith(tail)
    elif not head and not tail and len(middle) == 1 and not fold:
        needle = middle[0]
        return lambda v: needle in v
    return match


def compile_glob(pattern: str, fold: bool = False) -> Predicate:
    """A matcher equivalent to glibc `fnmatch(pattern, value, 0)` (`FNM_CASEFOLD` if fold),
    linear in the value's length for a given pattern."""
    fast = _literal_glob(pattern, fold)
    if fast is not None:
        return fast
    return GlobAutomaton(_utf8(pattern), fold).match
