"""Comparison operators: which ones a field type allows, and the per-event test for each.

Pipeline step: called by the compiler (step 4) for every check of a condition.  Why this
module does the work up front: the closures returned by `make_predicate` run once per event
per rule, so everything that depends only on the rule (constant typing, hex decoding, regex
and glob compilation, pmatch tries, membership sets) is prepared here, once.  A returned
closure is usually a C-level callable (`frozenset.__contains__`,
`partial(operator.eq, constant)`) or a one-line lambda.

Semantics follow libsinsp (`filter_compare.cpp`, `sinsp_filtercheck.cpp`, `prefix_search.h`):

* strings compare as bytes: `=` exact, `<`... like strcmp, `icontains`/`iglob` fold ASCII only;
* `glob`/`iglob` are glibc `fnmatch(3)` with no flags (or FNM_CASEFOLD), C locale, matched by
  an automaton in time linear in the value, never by backtracking (`falcoish.condition.glob_match`);
* `regex` is RE2 in POSIX mode with longest match, anchored at both ends;
* `pmatch` is a path-prefix test on `/`-separated components (trie of components);
* modifiers `oneof`/`anyof`/`allof` apply the base operator to every list element.

The closures receive a *present* value: the compiler returns False for absent values and
handles multi-valued ("any") fields itself.  `multi == "list"` values are tuples.
"""

from __future__ import annotations

import functools

import ipaddress
import operator
from collections import Counter
from functools import partial
from typing import Any, Callable, Iterable, Sequence

from ..errors import RuleError
from ..events.fieldtypes import FType, Kind
from .constants import parse_constant, parse_ip, parse_ipnet, to_bytes
from .glob_match import ASCII_LOWER as _ASCII_LOWER
from .glob_match import ascii_lower, compile_glob
from .pmatch import PathPrefixSet
from .regex import compile_regex

__all__ = [
    "OPERATORS", "LIST_OPERATORS", "MODIFIERS", "check_operator", "make_predicate",
    "make_field_predicate", "compile_glob", "compile_regex", "PathPrefixSet", "ascii_lower",
]

Predicate = Callable[[Any], bool]
FieldPredicate = Callable[[Any, Any], bool]

OPERATORS: frozenset[str] = frozenset({
    "=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains", "startswith",
    "bstartswith", "endswith", "glob", "iglob", "regex", "pmatch", "in", "intersects", "exists",
})
LIST_OPERATORS: frozenset[str] = frozenset({"in", "intersects", "pmatch"})
MODIFIERS: frozenset[str] = frozenset({"oneof", "anyof", "allof"})

# Allowed operator x type (libsinsp flt_is_comparable), with its error wording.
_NUMERIC_OPS = frozenset({"=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects", "exists"})
_BOOL_OPS = frozenset({"=", "==", "!=", "in", "intersects", "exists"})
_STRING_OPS = OPERATORS - {"bcontains", "bstartswith"}
_BYTES_OPS = frozenset({"=", "==", "!=", "contains", "startswith", "endswith", "in", "intersects",
                        "bcontains", "bstartswith", "exists"})
_IP_OPS = frozenset({"=", "==", "!=", "in", "intersects", "exists"})
_LIST_FIELD_OPS = frozenset({"in", "intersects", "exists"})

_ALLOWED: dict[Kind, tuple[frozenset[str], str]] = {
    Kind.INT: (_NUMERIC_OPS, "numeric"),
    Kind.PORT: (_NUMERIC_OPS, "numeric"),
    Kind.ABSTIME: (_NUMERIC_OPS, "numeric"),
    Kind.RELTIME: (_NUMERIC_OPS, "numeric"),
    Kind.DOUBLE: (_NUMERIC_OPS, "numeric"),
    Kind.BOOL: (_BOOL_OPS, "numeric"),  # sic: libsinsp words bool errors as "numeric"
    Kind.STRING: (_STRING_OPS, "string"),
    Kind.BYTES: (_BYTES_OPS, "buffer"),
    Kind.IP: (_IP_OPS, "ip address and network"),
    Kind.IPNET: (_IP_OPS, "ip address and network"),
}

# Operators that take a modifier: the "string-like" ones, never orderings or list operators.
_MODIFIABLE = frozenset({"=", "==", "!=", "contains", "icontains", "bcontains", "startswith",
                         "bstartswith", "endswith", "glob", "iglob", "regex"})
_EQUALITY = frozenset({"=", "==", "!="})


def check_operator(op: str, ftype: FType, multi: str | None, modifier: str | None = None) -> None:
    """Raise RuleError unless `op` (with `modifier`) may be applied to a field of this type."""
    if op not in OPERATORS:
        raise RuleError(f"unrecognized filter comparison operator '{op}'")
    if multi == "list":
        if op not in _LIST_FIELD_OPS:
            raise RuleError(f"'{op}' operator not supported for list filters")
    elif op != "exists":
        allowed, family = _ALLOWED[ftype.kind]
        if op not in allowed:
            raise RuleError(f"'{op}' operator not supported for {family} filters")
    if modifier is None:
        return
    if modifier not in MODIFIERS:
        raise RuleError(f"unrecognized operator modifier '{modifier}'")
    if op not in _MODIFIABLE or multi == "list":
        raise RuleError(f"'{op}' operator does not support the '{modifier}' modifier")
    if ftype.kind in (Kind.IP, Kind.IPNET) and op not in _EQUALITY:
        raise RuleError(f"'{op}' operator does not support the '{modifier}' modifier on "
                        f"ip address and network filters")


# -- public factories --------------------------------------------------------------------


def make_predicate(op: str, ftype: FType, multi: str | None, constants: Sequence[str],
                   modifier: str | None = None) -> Predicate:
    """The test `value <op> constants` for a present value of a field of type `ftype`.

    `constants` are raw texts: one for scalar operators, every element for `in`,
    `intersects`, `pmatch` and modifiers.  Raises RuleError for a bad operator or constant.

    A test depends on nothing else, and the same ones recur (a list in every rule that
    uses it; every check again when the rule index plans a type's tree), so each is built
    once: sets, tries, globs and regexes are the costly part of compiling.
    """
    return _make_predicate(op, ftype, multi, tuple(constants), modifier)


@functools.lru_cache(maxsize=8192)
def _make_predicate(op: str, ftype: FType, multi: str | None, constants: tuple[str, ...],
                    modifier: str | None) -> Predicate:
    check_operator(op, ftype, multi, modifier)
    if op == "exists":
        return _always_true
    if op == "==":
        op = "="
    try:
        if modifier is not None:
            return _modified(op, ftype, list(constants), modifier)
        if multi == "list":
            return _list_field(op, ftype, constants)
        if op in LIST_OPERATORS:
            if op == "pmatch":
                return PathPrefixSet(constants).match if constants else _always_false
            return _membership(ftype, constants)
        if len(constants) != 1:
            raise RuleError(f"'{op}' operator requires exactly one value, got {len(constants)}")
        return _single(op, ftype, constants[0])
    except ValueError as err:  # constant conversion
        raise RuleError(str(err)) from None


def make_field_predicate(op: str, ftype: FType, multi: str | None = None) -> FieldPredicate:
    """The test `lhs <op> rhs` where both sides are present values of the same type
    (`lhs op val(other.field)`).  `pmatch` and `regex` take no field on the right."""
    if op in ("pmatch", "regex"):
        raise RuleError(f"'{op}' operator cannot be used with a field on the right-hand side")
    if ftype.kind is Kind.IPNET:
        raise RuleError("ip network fields cannot be compared with a field on the right-hand side")
    check_operator(op, ftype, multi)
    if op == "exists":
        return lambda a, b: True
    if op in ("in", "intersects"):
        if multi == "list":
            return _subset if op == "in" else _overlaps
        return _eq_or_list(op)
    kind = ftype.kind
    if op in ("=", "=="):
        return _op_eq
    if op == "!=":
        return _op_ne
    if op in _ORDER:
        return _ORDER[op]
    if op == "contains" or op == "bcontains":
        return lambda a, b: b in a
    if op == "startswith" or op == "bstartswith":
        return lambda a, b: a.startswith(b)
    if op == "endswith":
        return lambda a, b: a.endswith(b)
    if op == "icontains":
        return lambda a, b: ascii_lower(b) in ascii_lower(a)
    if op in ("glob", "iglob") and kind is Kind.STRING:
        fold = op == "iglob"
        cache: dict[str, Predicate] = {}

        def glob_field(a: Any, b: Any) -> bool:
            matcher = cache.get(b)
            if matcher is None:
                if len(cache) > 256:
                    cache.clear()
                matcher = cache[b] = compile_glob(b, fold)
            return matcher(a)
        return glob_field
    raise RuleError(f"'{op}' operator not supported with a field on the right-hand side")


# -- helpers shared by the factories -------------------------------------------------------


def _always_true(value: Any) -> bool:
    return True


def _always_false(value: Any) -> bool:
    return False


def _op_eq(a: Any, b: Any) -> bool:
    return bool(a == b)


def _op_ne(a: Any, b: Any) -> bool:
    return bool(a != b)


def _subset(a: Any, b: Any) -> bool:
    return set(b).issuperset(a)


def _overlaps(a: Any, b: Any) -> bool:
    return not set(b).isdisjoint(a)


def _eq_or_list(op: str) -> FieldPredicate:
    # The compiler may not say the field is a list; look at the value itself.
    def test(a: Any, b: Any) -> bool:
        if type(a) is tuple:
            return (_subset if op == "in" else _overlaps)(a, b)
        return bool(a == b)
    return test


_ORDER: dict[str, FieldPredicate] = {
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}

def _typed(ftype: FType, text: str) -> Any:
    return parse_constant(ftype, text)


def _hex_bytes(op: str, text: str) -> bytes:
    if len(text) % 2 or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise RuleError(f"'{op}' requires an even-length hexadecimal string, got '{text}'")
    return bytes.fromhex(text)


def _ip_constant(ftype: FType, text: str) -> Any:
    """IP fields accept addresses, and networks (`a.b.c.d/n`) meaning membership."""
    if ftype.kind is Kind.IPNET or "/" in text:
        return parse_ipnet(text)
    return parse_ip(text)


_NETWORK = (ipaddress.IPv4Network, ipaddress.IPv6Network)


def _single(op: str, ftype: FType, text: str) -> Predicate:
    kind = ftype.kind
    if kind is Kind.STRING:
        return _string_single(op, text)
    if kind is Kind.BYTES:
        if op == "bcontains" or op == "bstartswith":
            needle = _hex_bytes(op, text)
            op = "contains" if op == "bcontains" else "startswith"
        else:
            needle = to_bytes(text)
        return _bytes_single(op, needle)
    if kind is Kind.IP or kind is Kind.IPNET:
        const = _ip_constant(ftype, text)
        if isinstance(const, _NETWORK):
            net = const
            if op == "=":
                return net.__contains__
            return lambda v: v not in net
        return _compare_with(op, const)
    # numbers and bools: compare with the constant converted to the field's type
    const = _typed(ftype, text)
    return _compare_with(op, const)


_REVERSED = {"=": operator.eq, "!=": operator.ne, "<": operator.gt, "<=": operator.ge,
             ">": operator.lt, ">=": operator.le}


def _compare_with(op: str, const: Any) -> Predicate:
    """`value <op> const` as `partial(operator.x, const)`: a C-level call with no Python
    frame, and (unlike a bound `const.__eq__`) never a truthy NotImplemented when a value
    of another type shows up."""
    try:
        return partial(_REVERSED[op], const)
    except KeyError:
        raise RuleError(f"'{op}' operator not supported for this type") from None


def _string_method(op: str, text: str) -> Predicate:
    """contains/startswith/endswith; `fuse` tells the compiler which str method this is, so it
    can call it on the extracted value directly (one closure instead of two per check)."""
    pred: Any
    if op == "contains":
        pred = lambda v: text in v  # noqa: E731
    elif op == "startswith":
        pred = lambda v: v.startswith(text)  # noqa: E731
    else:
        pred = lambda v: v.endswith(text)  # noqa: E731
    pred.fuse = (op, text)
    return pred  # type: ignore[no-any-return]


def _string_single(op: str, text: str) -> Predicate:
    if op in ("=", "!=", "<", "<=", ">", ">="):
        # str order is code point order, which is UTF-8 byte order: strcmp semantics.
        return _compare_with(op, text)
    if op in ("contains", "startswith", "endswith"):
        return _string_method(op, text)
    if op == "icontains":
        needle = ascii_lower(text)
        return lambda v: needle in (v.lower() if v.isascii() else v.translate(_ASCII_LOWER))
    if op == "glob":
        return compile_glob(text, False)
    if op == "iglob":
        return compile_glob(text, True)
    if op == "regex":
        return compile_regex(text)
    raise RuleError(f"'{op}' operator not supported for string filters")


def _bytes_single(op: str, needle: bytes) -> Predicate:
    if op == "=" or op == "!=":
        return _compare_with(op, needle)
    if op == "contains":
        return lambda v: needle in v
    if op == "startswith":
        return lambda v: v.startswith(needle)
    if op == "endswith":
        return lambda v: v.endswith(needle)
    raise RuleError(f"'{op}' operator not supported for buffer filters")


def _member_values(ftype: FType, constants: Iterable[str]) -> tuple[frozenset[Any], tuple[Any, ...]]:
    """Constants converted for set membership: (hashable values, IP networks)."""
    kind = ftype.kind
    values: list[Any] = []
    nets: list[Any] = []
    for text in constants:
        if kind is Kind.IP or kind is Kind.IPNET:
            const = _ip_constant(ftype, text)
            (nets if isinstance(const, _NETWORK) else values).append(const)
        elif kind is Kind.BYTES:
            values.append(to_bytes(text))
        else:
            values.append(parse_constant(ftype, text))
    return frozenset(values), tuple(nets)


def _membership(ftype: FType, constants: Sequence[str]) -> Predicate:
    """Scalar `in` / `intersects`: equal to any element (an IP inside any network)."""
    members, nets = _member_values(ftype, constants)
    if not nets:
        return members.__contains__
    if not members:
        if len(nets) == 1:
            return nets[0].__contains__  # type: ignore[no-any-return]
        return lambda v: any(v in n for n in nets)
    return lambda v: v in members or any(v in n for n in nets)


def _list_field(op: str, ftype: FType, constants: Sequence[str]) -> Predicate:
    """List-valued field (value is a tuple): `in` = every element is in the set (subset),
    `intersects` = at least one is.  An empty right-hand list is always false."""
    if not constants:
        return _always_false
    members, nets = _member_values(ftype, constants)
    if nets:
        one = _membership(ftype, constants)
        if op == "in":
            return lambda v: all(map(one, v))
        return lambda v: any(map(one, v))
    if op == "in":
        return members.issuperset
    return lambda v: not members.isdisjoint(v)


def _modified(op: str, ftype: FType, constants: list[str], modifier: str) -> Predicate:
    """`op oneof|anyof|allof (c1, c2, ...)`: the base operator against every element."""
    if not constants:
        return _always_false
    kind = ftype.kind
    hashable_eq = kind not in (Kind.IP, Kind.IPNET) and op in ("=", "!=")
    if hashable_eq:
        typed = [to_bytes(t) if kind is Kind.BYTES else parse_constant(ftype, t) for t in constants]
        members = frozenset(typed)
        counts = Counter(typed)
        n = len(typed)
        if op == "=":
            if modifier == "anyof":
                return members.__contains__
            if modifier == "oneof":
                return lambda v: counts.get(v, 0) == 1
            # allof: equal to every element
            if len(members) == 1:
                return _compare_with("=", next(iter(members)))
            return _always_false
        # "!="
        if modifier == "allof":
            return lambda v: v not in members
        if modifier == "anyof":
            if len(members) == 1:
                return _compare_with("!=", next(iter(members)))
            return _always_true
        return lambda v: n - counts.get(v, 0) == 1  # oneof: differs from exactly one element
    if kind is Kind.STRING and modifier == "anyof":
        if op == "startswith":
            prefixes = tuple(constants)
            return lambda v: v.startswith(prefixes)
        if op == "endswith":
            suffixes = tuple(constants)
            return lambda v: v.endswith(suffixes)
    preds = tuple(_single(op, ftype, text) for text in constants)
    if modifier == "anyof":
        return lambda v: any(p(v) for p in preds)
    if modifier == "allof":
        return lambda v: all(p(v) for p in preds)

    def exactly_one(v: Any) -> bool:
        found = False
        for p in preds:
            if p(v):
                if found:
                    return False
                found = True
        return found
    return exactly_one
