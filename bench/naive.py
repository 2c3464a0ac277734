"""The naive baseline: walk each rule's resolved condition tree for every event.

What falcoish does once per rule at load time (constant typing, set building, glob and regex
preparation, the event-type index, shared sub-conditions, per-event macro memos), this
evaluator does again on every check of every event:

* every enabled rule is tried for every event, in rule order (no event-type index);
* the tree (`rule.condition`, falcoish's resolved tree: And / Or / Not / MacroUse / Compare)
  is walked with `isinstance` dispatch, a macro's body as many times as rules use it;
* field values come from `falcoish.fields.bind(ref).extract` (the binding of a field name is
  looked up in a dict, as an interpreter resolves a name; nothing else is cached);
* right-hand constants are converted to the field's type on every comparison, `in` lists
  are scanned linearly, globs go to the C library's `fnmatch(3)` and regexes to `re`.

It follows falcoish's (Falco's) semantics: an absent value makes a comparison false (and so
`not X` true), multi-valued fields (`proc.aname`, `fd.ip`...) match when any element does
(`!=` on connection ends: when no end does), modifiers apply the operator to every list
element.  `bench/run.py` checks on a sample that it finds the same rules as falcoish.

Usage (also what run.py does):
    result = falcoish.load_rules([...])
    naive = NaiveEvaluator(result.rules)
    names = naive.matching(event)              # every matching rule, rule order
    first = naive.matching(event, first=True)  # Falco's default: the first only
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fnmatch
import ipaddress
import re
import socket
from typing import Any, Iterable

from falcoish.fields import bind
from falcoish.syntax.nodes import (And, Compare, FieldOperand, FieldRef, IdentOperand, ListOperand, MacroUse,
                                   Not, Or, StrConst, Transformer)

__all__ = ["NaiveEvaluator"]

_FNM_CASEFOLD = 1 << 4


def _load_fnmatch() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        func = ctypes.CDLL(name).fnmatch
    except (OSError, AttributeError):
        return None
    func.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int)
    func.restype = ctypes.c_int
    return func


_LIBC_FNMATCH = _load_fnmatch()


def _enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _lower_ascii(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _glob(pattern: str, value: str, fold: bool) -> bool:
    if _LIBC_FNMATCH is not None:
        return bool(_LIBC_FNMATCH(_enc(pattern), _enc(value), _FNM_CASEFOLD if fold else 0) == 0)
    if fold:
        pattern, value = _lower_ascii(pattern), _lower_ascii(value)
    return fnmatch.fnmatchcase(value, pattern)


def _pmatch(paths: list[str], value: str) -> bool:
    """Does any search path equal a leading run of the value's `/` components?"""
    have = [c for c in value.split("/") if c]
    for path in paths:
        want = [c for c in path.split("/") if c]
        if not want:
            return True
        if len(have) < len(want):
            continue
        ok = True
        for w, h in zip(want, have):
            if any(ch in w for ch in "*?["):
                if not _glob(w, h, False):
                    ok = False
                    break
            elif w != h:
                ok = False
                break
        if ok:
            return True
    return False


def _convert(text: str, kind: str, bits: int, signed: bool) -> Any:
    """A constant's text as a value of the field's type (every call: no caching)."""
    if kind == "string":
        return text
    if kind in ("int", "abstime", "reltime"):
        value = int(text.strip())
        mask = (1 << bits) - 1
        if value < 0 or value > mask:
            value &= mask
            if signed and value >> (bits - 1):
                value -= 1 << bits
        return value
    if kind == "double":
        return float(int(text.strip()))
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError(f"bad boolean {text}")
        return text == "true"
    if kind == "port":
        if text.isdigit():
            return int(text) & 0xFFFF
        return socket.getservbyname(text)
    if kind == "bytebuf":
        return _enc(text)
    if kind == "ipaddr":
        if "/" in text:
            return ipaddress.ip_network(text, strict=False)
        return ipaddress.ip_address(text)
    if kind == "ipnet":
        return ipaddress.ip_network(text, strict=False)
    raise ValueError(f"no conversion to {kind}")


_NETWORKS = (ipaddress.IPv4Network, ipaddress.IPv6Network)


def _equal(value: Any, const: Any) -> bool:
    if isinstance(const, _NETWORKS):
        return bool(value in const)
    return bool(value == const)


class NaiveEvaluator:
    """Tree-walking evaluation of the enabled rules of a falcoish load (see module doc)."""

    def __init__(self, rules: Iterable[Any]) -> None:
        self.rules = sorted((r for r in rules if r.enabled), key=lambda r: r.order)
        self._bound: dict[FieldRef, Any] = {}

    # -- rules -------------------------------------------------------------------------------

    def matching(self, event: Any, first: bool = False) -> list[str]:
        """Names of the rules `event` satisfies, in rule order (only the first if `first`)."""
        out = []
        for rule in self.rules:
            if self.eval(rule.condition, event):
                out.append(rule.name)
                if first:
                    break
        return out

    # -- tree --------------------------------------------------------------------------------

    def eval(self, node: Any, event: Any) -> bool:
        if isinstance(node, And):
            for child in node.children:
                if not self.eval(child, event):
                    return False
            return True
        if isinstance(node, Or):
            for child in node.children:
                if self.eval(child, event):
                    return True
            return False
        if isinstance(node, Not):
            return not self.eval(node.child, event)
        if isinstance(node, MacroUse):
            return self.eval(node.body, event)
        if isinstance(node, Compare):
            return self.compare(node, event)
        raise TypeError(f"cannot evaluate {type(node).__name__}")

    # -- operands ----------------------------------------------------------------------------

    def operand(self, node: Any, event: Any) -> tuple[Any, str, int, bool, str | None]:
        """(value or None, type kind, bits, signed, multi) of a field, transformer or constant."""
        if isinstance(node, FieldRef):
            bound = self._bound.get(node)
            if bound is None:
                bound = self._bound[node] = bind(node)
            ftype = bound.ftype
            return bound.extract(event), ftype.kind.value, ftype.bits, ftype.signed, bound.multi
        if isinstance(node, StrConst):
            return node.value, "string", 64, True, None
        if isinstance(node, Transformer):
            return self.transform(node, event)
        raise TypeError(f"cannot evaluate operand {type(node).__name__}")

    def transform(self, node: Transformer, event: Any) -> tuple[Any, str, int, bool, str | None]:
        args: list[tuple[Any, str, int, bool, str | None]] = []
        for arg in node.args:
            if isinstance(arg, ListOperand):
                items = tuple(self.operand(i, event)[0] for i in arg.items)
                args.append((None if None in items else items, "string", 64, True, "list"))
            else:
                args.append(self.operand(arg, event))
        if any(a[0] is None for a in args):
            return None, "string", 64, True, None
        name = node.name
        value, kind, bits, signed, multi = args[0]

        def each(fn: Any) -> Any:
            if isinstance(value, tuple):
                out = tuple(fn(v) for v in value)
                return None if None in out else out
            return fn(value)

        if name == "tolower":
            return each(_lower_ascii), kind, bits, signed, multi
        if name == "toupper":
            return each(lambda v: "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in v)), \
                kind, bits, signed, multi
        if name == "basename":
            return each(lambda v: v.split("/")[-1]), kind, bits, signed, multi
        if name == "len":
            if multi == "list":
                return len(value), "int", 64, False, None
            return each(lambda v: len(_c_text(v).encode("utf-8", "surrogateescape"))
                        if isinstance(v, str) else len(v)), "int", 64, False, multi
        if name == "concat":
            return "".join(_c_text(a[0]) for a in args), "string", 64, True, None
        if name == "join":
            sep = _c_text(args[0][0])
            return sep.join(_c_text(_render(v)) for v in _flat(args[1][0])), "string", 64, True, None
        if name == "b64":  # approximate (lenient padding); the corpus does not use b64()
            import base64
            import binascii

            def decode(v: Any) -> Any:
                raw = v if isinstance(v, bytes) else _enc(v)
                try:
                    out = base64.b64decode(raw.rstrip(b"\0") + b"==", validate=False)
                except (binascii.Error, ValueError):
                    return None
                return out if isinstance(v, bytes) else _c_text(out.decode("utf-8", "surrogateescape"))
            return each(decode), kind, bits, signed, multi
        raise TypeError(f"naive evaluator has no transformer {name}")

    # -- checks ------------------------------------------------------------------------------

    def compare(self, node: Compare, event: Any) -> bool:
        value, kind, bits, signed, multi = self.operand(node.lhs, event)
        op = "=" if node.op == "==" else node.op
        if op == "exists":
            return value is not None
        if value is None:
            return False
        rhs = node.rhs
        if isinstance(rhs, FieldOperand):
            other = self.operand(rhs.operand, event)[0]
            if other is None:
                return False
            return _field_test(op, value, other)
        if isinstance(rhs, StrConst):
            texts = [rhs.value]
        elif isinstance(rhs, IdentOperand):
            texts = [rhs.name]
        elif isinstance(rhs, ListOperand):
            texts = [item.value for item in rhs.items if isinstance(item, StrConst)]
        else:
            raise TypeError(f"operator {op} without a value")

        if multi == "list":
            consts = [_convert(t, kind, bits, signed) for t in texts]
            if not consts:
                return False
            if op == "in":
                return all(any(_equal(v, c) for c in consts) for v in value)
            return any(any(_equal(v, c) for c in consts) for v in value)

        def test(v: Any) -> bool:
            if node.modifier is not None:
                results = [_scalar_test(op, v, t, kind, bits, signed) for t in texts]
                if not results:
                    return False
                if node.modifier == "anyof":
                    return any(results)
                if node.modifier == "allof":
                    return all(results)
                return results.count(True) == 1
            if op in ("in", "intersects"):
                return any(_equal(v, _convert(t, kind, bits, signed)) for t in texts)
            if op == "pmatch":
                return _pmatch(texts, v)
            return _scalar_test(op, v, texts[0], kind, bits, signed)

        if multi == "ends" and op == "!=":
            return all(test(v) for v in value)
        if multi in ("any", "ends"):
            return any(test(v) for v in value)
        return test(value)


def _scalar_test(op: str, v: Any, text: str, kind: str, bits: int, signed: bool) -> bool:
    if op in ("bcontains", "bstartswith"):
        needle = bytes.fromhex(text)
        return needle in v if op == "bcontains" else v.startswith(needle)
    if op in ("glob", "iglob"):
        return _glob(text, v, op == "iglob")
    if op == "regex":
        return re.fullmatch(text, v) is not None
    const = _convert(text, kind, bits, signed)
    if op == "=":
        return _equal(v, const)
    if op == "!=":
        return not _equal(v, const)
    if op == "<":
        return bool(v < const)
    if op == "<=":
        return bool(v <= const)
    if op == ">":
        return bool(v > const)
    if op == ">=":
        return bool(v >= const)
    if op == "contains":
        return const in v
    if op == "icontains":
        return _lower_ascii(const) in _lower_ascii(v)
    if op == "startswith":
        return bool(v.startswith(const))
    if op == "endswith":
        return bool(v.endswith(const))
    raise TypeError(f"naive evaluator has no operator {op}")


def _field_test(op: str, a: Any, b: Any) -> bool:
    """`a op val(b)`: both sides present values of one type."""
    if op in ("in", "intersects"):
        if isinstance(a, tuple):
            return set(a) <= set(b) if op == "in" else bool(set(a) & set(b))
        return bool(a == b)
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op in ("contains", "bcontains"):
        return b in a
    if op in ("startswith", "bstartswith"):
        return bool(a.startswith(b))
    if op == "endswith":
        return bool(a.endswith(b))
    if op == "icontains":
        return _lower_ascii(b) in _lower_ascii(a)
    if op in ("glob", "iglob"):
        return _glob(b, a, op == "iglob")
    raise TypeError(f"naive evaluator has no field operator {op}")


def _c_text(v: Any) -> str:
    """Text up to the first NUL, as a C consumer reads it."""
    if isinstance(v, bytes):
        v = v.decode("utf-8", "surrogateescape")
    text = v if isinstance(v, str) else _render(v)
    return text.split("\0", 1)[0]


def _render(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    return str(v)


def _flat(v: Any) -> list[Any]:
    if not isinstance(v, tuple):
        return [v]
    out: list[Any] = []
    for item in v:
        out.extend(_flat(item))
    return out
