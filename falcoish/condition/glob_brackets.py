"""glibc's bracket expressions (`[...]` in `fnmatch(3)`, C locale): what each one matches.

Why a simulation rather than a character class: Falco's `glob`/`iglob` are glibc `fnmatch`,
and glibc parses a bracket expression anew for every string byte it is tried on, stopping at
the first member that matches and then skipping to the closing `]` by a *different* loop.
The two loops disagree on malformed input (`[=`, `[.`, a class name cut short, an escaped
`]`, no closing `]` at all: then `[` is an ordinary character), so what a bracket matches,
and where the pattern resumes after it, can depend on the byte.

Neither loop's path depends on the byte, only where it stops does: `_item` is one turn of
the member loop, reporting the tests it makes instead of making them, and `_skip_step` one
turn of the skip loop.  `Brackets.table` walks those turns once for all 256 byte values
and `falcoish.condition.glob_match` builds its automaton from the tables.

Patterns are bytes followed by at least four NULs: glibc reads a C string, so a NUL is the
end, and the lookaheads below (`p[k + 3]`) never run off the buffer.
"""

from __future__ import annotations

from array import array

__all__ = ["Brackets", "FAIL", "LITERAL", "PAD", "fold_byte"]

PAD = b"\0\0\0\0"  # appended to every pattern (see the module docstring)

_BACKSLASH, _LBRACKET, _RBRACKET = 0x5C, 0x5B, 0x5D
_COLON, _EQUALS, _DOT, _DASH = 0x3A, 0x3D, 0x2E, 0x2D
FAIL = -1      # the bracket cannot match this byte
LITERAL = -2   # no closing bracket: glibc matches `[` literally and rescans after it


def _ctype_classes() -> dict[bytes, frozenset[int]]:
    """The POSIX character classes of the C locale, as byte sets."""
    rng = range(256)
    upper = {c for c in rng if 0x41 <= c <= 0x5A}
    lower = {c for c in rng if 0x61 <= c <= 0x7A}
    digit = {c for c in rng if 0x30 <= c <= 0x39}
    alpha = upper | lower
    punct = {c for c in rng if 0x21 <= c <= 0x7E} - alpha - digit
    classes = {
        "alpha": alpha, "upper": upper, "lower": lower, "digit": digit, "alnum": alpha | digit,
        "xdigit": digit | {c for c in rng if chr(c) in "abcdefABCDEF"},
        "space": {0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D}, "blank": {0x20, 0x09},
        "cntrl": set(range(0x20)) | {0x7F}, "punct": punct,
        "graph": set(range(0x21, 0x7F)), "print": set(range(0x20, 0x7F)),
    }
    return {name.encode(): frozenset(chars) for name, chars in classes.items()}


_CLASSES = _ctype_classes()

_ALL = (1 << 256) - 1
_NONE = [-1] * 256
_UPPER = sum(1 << c for c in range(0x41, 0x5B))
_CLASS_MASKS = {name: sum(1 << c for c in chars) for name, chars in _CLASSES.items()}

Test = tuple[int, int]  # (bytes it accepts as a 256-bit mask, index its skip loop starts at)


def fold_byte(c: int, fold: bool) -> int:
    """C `tolower` in the C locale when `fold` (FNM_CASEFOLD), else the byte itself."""
    return c + 32 if fold and 0x41 <= c <= 0x5A else c


def _range_mask(lo: int, hi: int, fold: bool) -> int:
    """Bytes b with lo <= fold(b) <= hi: glibc compares the folded string byte."""
    raw = ((1 << (hi + 1)) - (1 << lo)) if lo <= hi else 0
    if not fold:
        return raw
    return (raw & ~_UPPER) | ((raw >> 32) & _UPPER)


def _dotted_end(p: bytes, k: int) -> int:
    """Index of the first `.]` at or after k, or -1 if a NUL (the pattern's end) comes first.
    Found with C-speed searches: the character-by-character loop is what glibc does, but a
    pattern with many unclosed `[.` must not cost quadratic Python time."""
    dot = p.find(b".]", k)
    return -1 if dot < 0 or p.find(0, k) < dot else dot


def _collating_symbol(p: bytes, k: int) -> tuple[int, int]:
    """`[.x.]` with p[k] == '.': (symbol byte, index after `.]`), or (FAIL, _) when it is
    unterminated or longer than one character (the C locale has no named symbols)."""
    dot = _dotted_end(p, k + 1)
    if dot < 0 or dot - k - 1 != 1:
        return FAIL, k
    return p[k + 1], dot + 2


def _skip_step(p: bytes, k: int) -> tuple[bool, int]:
    """One turn of glibc's loop that, after a member matched, skips to the closing `]`.
    (True, result) when it ends: the index after `]`, LITERAL (pattern end) or FAIL;
    (False, k') to go on at k'.  Its state is k alone, which lets callers remember results."""
    c = p[k]
    k += 1
    if c == 0:
        return True, LITERAL
    if c == _BACKSLASH:
        return (True, LITERAL) if p[k] == 0 else (False, k + 1)
    if c == _LBRACKET and p[k] == _COLON:
        start, length = k, 0
        while True:
            k += 1
            length += 1
            if length == 256:
                return True, FAIL
            if p[k] == _COLON and p[k + 1] == _RBRACKET:
                return False, k + 2
            if p[k] < 0x61 or p[k] >= 0x7A:
                return False, start
    if c == _LBRACKET and p[k] == _EQUALS:
        if p[k + 1] == 0 or p[k + 2] != _EQUALS or p[k + 3] != _RBRACKET:
            return True, FAIL
        return False, k + 4
    if c == _LBRACKET and p[k] == _DOT:
        dot = _dotted_end(p, k + 1)
        return (True, FAIL) if dot < 0 else (False, dot + 2)
    if c == _RBRACKET:
        return True, k
    return False, k


def _item(p: bytes, i: int, fold: bool) -> tuple[tuple[Test, ...], int]:
    """One turn of glibc's bracket loop, for the member whose first character is p[i - 1].

    Returns the tests it makes, in order (a byte matching one stops the loop and skips from
    that test's index), and where the loop goes on: the next turn's index (its character
    is again p[index - 1]), or LITERAL / FAIL for the bytes no test took.  Whether a `]`
    there ends the bracket is the caller's business: not on the first turn."""
    c = p[i - 1]
    tests: list[Test] = []
    normal = have_cold = False
    cold = 0
    if c == _BACKSLASH:
        if p[i] == 0:
            return (), FAIL
        c = fold_byte(p[i], fold)
        i += 1
        normal = True
    elif c == _LBRACKET and p[i] == _COLON:
        k = i
        name = bytearray()
        is_class = True
        while True:
            if len(name) == 256:
                return (), FAIL
            k += 1
            cc = p[k]
            if cc == _COLON and p[k + 1] == _RBRACKET:
                k += 2
                break
            if cc < 0x61 or cc >= 0x7A:  # not a-y: not a class name after all
                is_class = False
                break
            name.append(cc)
        if not is_class:
            c, normal = _LBRACKET, True
        else:
            members = _CLASS_MASKS.get(bytes(name))
            if members is None:
                return (), FAIL
            tests.append((members, k))
            c, i = p[k], k + 1
    elif c == _LBRACKET and p[i] == _EQUALS:
        sym = p[i + 1]
        if sym != 0 and p[i + 2] == _EQUALS and p[i + 3] == _RBRACKET:
            tests.append((1 << sym, i + 4))
            c, i = p[i + 4], i + 5
        else:
            c, normal = _LBRACKET, True
    elif c == 0:
        return (), LITERAL
    elif c == _LBRACKET and p[i] == _DOT:
        sym, k = _collating_symbol(p, i)
        if sym == FAIL:
            return (), FAIL
        if not (p[k] == _DASH and p[k + 1] != 0):
            tests.append((1 << sym, k))
        cold, c, i, have_cold = sym, p[k], k + 1, True
    else:
        c = fold_byte(c, fold)
        normal = True
    if normal:
        if not (p[i] == _DASH and p[i + 1] != 0 and p[i + 1] != _RBRACKET):
            tests.append((_range_mask(c, c, fold), i))
        cold, c, have_cold = c, p[i], True
        i += 1
    if have_cold and c == _DASH and p[i] != _RBRACKET:
        cend = p[i]
        i += 1
        if cend == _LBRACKET and p[i] == _DOT:
            cend, i = _collating_symbol(p, i)
            if cend == FAIL:
                return tuple(tests), FAIL
        else:
            if cend == _BACKSLASH:
                cend = p[i]
                i += 1
            if cend == 0:
                return tuple(tests), FAIL
            cend = fold_byte(cend, fold)
        tests.append((_range_mask(cold, cend, fold), i))
        i += 1
    return tuple(tests), i


class Brackets:
    """The bracket expressions of one padded pattern: for the one opening at an index, which
    string bytes it matches and where the pattern resumes for each.

    Everything is worked out on first use and remembered per pattern index, because a
    pattern can come from an event (`glob val(other.field)`): one turn of glibc's loops is
    computed once however many brackets share it, so a pattern full of unclosed `[`s costs
    time in proportion to its length, not its length squared.
    """

    __slots__ = ("p", "fold", "_items", "_skips", "_chains")

    def __init__(self, p: bytes, fold: bool) -> None:
        self.p = p
        self.fold = fold
        self._items: dict[int, tuple[tuple[Test, ...], int]] = {}
        self._skips: dict[int, int] = {}
        # turn index -> (how the loop ends: index after `]`, LITERAL or FAIL; whether a
        # skip from some test on the way finds a `]`; skip start of the first test taking `[`)
        self._chains: dict[int, tuple[int, bool, int]] = {}

    def _item(self, i: int) -> tuple[tuple[Test, ...], int]:
        found = self._items.get(i)
        if found is None:
            found = self._items[i] = _item(self.p, i, self.fold)
        return found

    def _skip(self, k: int) -> int:
        """Where glibc's skip loop started at k ends (index after `]`, LITERAL or FAIL)."""
        seen: list[int] = []
        skips = self._skips
        while k not in skips:
            seen.append(k)
            done, k = _skip_step(self.p, k)
            if done:
                result = k
                break
        else:
            result = skips[k]
        for index in seen:
            skips[index] = result
        return result

    def _chain(self, i: int) -> tuple[int, bool, int]:
        """The rest of the bracket loop from turn i (not the first turn: a `]` ends it)."""
        path: list[tuple[int, tuple[Test, ...]]] = []
        chains = self._chains
        while True:
            known = chains.get(i)
            if known is not None:
                result = known
                break
            if self.p[i - 1] == _RBRACKET:
                result = chains[i] = (i, False, -1)
                break
            tests, nxt = self._item(i)
            path.append((i, tests))
            if nxt < 0:
                result = (nxt, False, -1)
                break
            i = nxt
        end, closes, bracket_skip = result
        for index, tests in reversed(path):
            closes = closes or any(self._skip(k) >= 0 for _, k in tests)
            bracket_skip = next((k for mask, k in tests if mask >> _LBRACKET & 1), bracket_skip)
            chains[index] = (end, closes, bracket_skip)
        return end, closes, bracket_skip

    def table(self, start: int) -> array[int]:
        """For each byte, the index the pattern resumes at after the bracket whose `[` is at
        start - 1, or -1 where it does not match.  An unclosed bracket is a literal `[`
        resuming at start."""
        p = self.p
        negate = p[start] == 0x21 or p[start] == 0x5E  # '!' or '^'
        i = start + 2 if negate else start + 1
        tests, nxt = self._item(i)
        end, closes, bracket_skip = (nxt, False, -1) if nxt < 0 else self._chain(nxt)
        if end < 0 and not closes and not any(self._skip(k) >= 0 for _, k in tests):
            # no `]` is ever reached: every byte fails except `[`, which may be literal
            k = next((k for mask, k in tests if mask >> _LBRACKET & 1), bracket_skip)
            table = array("l", _NONE)
            if (self._skip(k) if k >= 0 else end) == LITERAL:
                table[_LBRACKET] = start
            return table
        outcomes: list[tuple[int, int]] = []
        undecided = _ALL
        while True:
            for mask, k in tests:
                hit = mask & undecided
                if hit:
                    result = self._skip(k)
                    outcomes.append((hit, FAIL if negate and result >= 0 else result))
                    undecided &= ~hit
            if not undecided:
                break
            if nxt < 0:
                outcomes.append((undecided, nxt))
                break
            if p[nxt - 1] == _RBRACKET:
                outcomes.append((undecided, nxt if negate else FAIL))
                break
            tests, nxt = self._item(nxt)
        table = array("l", _NONE)
        for mask, result in outcomes:
            if result == LITERAL:
                if mask >> _LBRACKET & 1:
                    table[_LBRACKET] = start
            elif result >= 0:
                while mask:
                    low = mask & -mask
                    table[low.bit_length() - 1] = result
                    mask ^= low
        return table
