"""Resolved trees -> Python closures that answer "does this event match?".

Step 4 of the pipeline.  Why closures: every decision that does not depend on the event
(field lookup, argument parsing, constant conversion, operator choice, regex/glob
compilation, set building) is taken once here, so evaluating a rule is a chain of calls to
small prepared functions.  No rule text is ever turned into Python source (no eval/exec).

The compiler does not know where values come from: a `Binder` turns a field reference into
a getter.  The engine binds fields to Event extractors; `compile_condition(...).evaluate()`
binds them to a plain mapping, so a condition can be tested without building an event.
"""

from __future__ import annotations

import ipaddress
import operator
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Protocol

from .. import fields as field_registry
from ..errors import RuleError
from ..fields.render import renderer
from ..events.fieldtypes import STRING, FType, Kind
from ..syntax.nodes import (And, Compare, FieldOperand, FieldRef, IdentOperand, ListOperand, MacroRef,
                            MacroUse, Node, Not, Or, StrConst, Transformer)
from .operators import check_operator, make_field_predicate, make_predicate
from .transformers import TRANSFORMERS

Predicate = Callable[[Any], bool]
Getter = Callable[[Any], Any]
Warn = Callable[[str, int], None]


@dataclass(frozen=True)
class Operand:
    """A value source of a check: how to get it and what it is."""

    get: Getter
    ftype: FType
    multi: str | None
    key: str
    no_rhs: bool = False
    no_transformer: bool = False
    check_constant: Callable[[str], None] | None = None   # e.g. evt.type: known event names only


class Binder(Protocol):
    def __call__(self, ref: FieldRef) -> Operand: ...


def bind_event_field(ref: FieldRef) -> Operand:
    """Bind a field to its Event extractor (the engine's binder)."""
    bound = field_registry.bind(ref)
    spec = bound.spec
    return Operand(bound.extract, bound.ftype, bound.multi, bound.key, spec.no_rhs, spec.no_transformer,
                   spec.check_constant)


def bind_mapping_field(ref: FieldRef) -> Operand:
    """Bind a field to `mapping[canonical field text]` (values coerced to the field's type)."""
    bound = field_registry.bind(ref)
    key, ftype, multi = bound.key, bound.ftype, bound.multi
    coerce = _coercer(ftype)

    def get(mapping: Any) -> Any:
        value = mapping.get(key)
        if value is None:
            return None
        if multi:
            items = value if isinstance(value, (list, tuple)) else (value,)
            return tuple(coerce(v) for v in items)
        return coerce(value)

    return Operand(get, ftype, multi, key, bound.spec.no_rhs, bound.spec.no_transformer,
                   bound.spec.check_constant)


def _coercer(ftype: FType) -> Callable[[Any], Any]:
    if ftype.kind in (Kind.IP, Kind.IPNET):
        return lambda v: ipaddress.ip_address(v) if isinstance(v, str) else v
    if ftype.kind is Kind.BYTES:
        return lambda v: v.encode("latin-1") if isinstance(v, str) else v
    return lambda v: v


class InMacro(RuleError):
    """A compile error inside a macro's body; `macro` names the innermost macro."""

    def __init__(self, macro: str, error: RuleError) -> None:
        super().__init__(error.reason, error.offset, error.code)
        self.macro = macro


class Compiler:
    """Compiles resolved trees with one binder; collects warnings through `warn`."""

    def __init__(self, binder: Binder = bind_event_field, warn: Warn | None = None,
                 memo: frozenset[str] = frozenset(), cache: dict[Node, Predicate] | None = None) -> None:
        """`memo`: macros to evaluate at most once per event (their result is kept in
        `event.cache`); worth it for macros several rules of one event type share.
        `cache`: closures already compiled for subtrees (with this binder and memo), so
        recompiling rearranged trees (the rule index replans) reuses them."""
        self.binder = binder
        self.warn: Warn = warn or _quiet
        self.memo = memo
        self.cache = cache

    def compile(self, node: Node) -> Predicate:
        cache = self.cache
        if cache is None:
            return self._compile(node)
        compiled = cache.get(node)
        if compiled is None:
            compiled = cache[node] = self._compile(node)
        return compiled

    def _compile(self, node: Node) -> Predicate:
        if isinstance(node, And):
            return _all([self.compile(c) for c in node.children])
        if isinstance(node, Or):
            return self._or(node)
        if isinstance(node, Not):
            inner = self.compile(node.child)
            negated: Predicate | None = getattr(inner, "negated", None)
            return negated if negated is not None else (lambda e: not inner(e))
        if isinstance(node, MacroUse):
            try:
                body = self.compile(node.body)
            except InMacro:
                raise
            except RuleError as err:
                raise InMacro(node.name, err) from None
            return _memoized(node.name, body) if node.name in self.memo else body
        if isinstance(node, MacroRef):
            raise RuleError(f"Undefined macro '{node.name}' used in filter.", node.pos, "LOAD_ERR_VALIDATE")
        return self._compare(node)

    # -- checks ----------------------------------------------------------------------------

    def _compare(self, node: Compare) -> Predicate:
        lhs = self._operand(node.lhs)
        get = lhs.get
        if node.op == "exists":
            return lambda e: get(e) is not None
        try:
            check_operator(node.op, lhs.ftype, lhs.multi, node.modifier)
        except RuleError as err:
            raise RuleError(err.reason, node.pos) from None
        rhs = node.rhs
        if isinstance(rhs, FieldOperand):
            return self._field_compare(node, lhs, rhs)
        pred = self._value_predicate(node, lhs)
        fast = _fused(get, pred) if lhs.multi is None else None
        if fast is not None:
            return fast
        if lhs.multi == "ends" and node.op == "!=":
            # fd.ip/fd.port/fd.net/fd.proto != X: *neither* end of the connection is X
            return lambda e: (v := get(e)) is not None and all(map(pred, v))
        if lhs.multi in ("any", "ends"):
            return lambda e: (v := get(e)) is not None and any(map(pred, v))
        return lambda e: (v := get(e)) is not None and pred(v)

    def _value_predicate(self, node: Compare, lhs: Operand, warn: bool = True) -> Predicate:
        """The test a comparison with constants applies to the extracted value."""
        constants = self._constants(node, lhs, warn)
        try:
            return make_predicate(node.op, lhs.ftype, lhs.multi, constants, node.modifier)
        except RuleError as err:
            raise RuleError(err.reason, node.rhs.pos if node.rhs is not None else node.pos) from None

    def _or(self, node: Or) -> Predicate:
        """`a or b or ...`; comparisons of one field with constants (`fd.name startswith /a
        or fd.name startswith /b or fd.name = /c`, the shape of most path macros) become
        one check that extracts the field once (see `_any_value`)."""
        preds: list[Predicate | None] = [self.compile(c) for c in node.children]  # validates each
        groups: dict[FieldRef, list[int]] = {}
        for index, child in enumerate(node.children):
            if (isinstance(child, Compare) and isinstance(child.lhs, FieldRef) and child.modifier is None
                    and child.op != "exists" and isinstance(child.rhs, (StrConst, ListOperand, IdentOperand))):
                groups.setdefault(child.lhs, []).append(index)
        for ref, members in groups.items():
            lhs = self._operand(ref)
            if len(members) < 2 or lhs.multi is not None:
                continue
            tests = []
            for index in members:
                child = node.children[index]
                assert isinstance(child, Compare)
                tests.append(self._value_predicate(child, lhs, warn=False))  # warned above
                preds[index] = None
            preds[members[0]] = _any_value(lhs.get, tests)
        return _any([p for p in preds if p is not None])

    def _constants(self, node: Compare, lhs: Operand, warn: bool = True) -> list[str]:
        rhs = node.rhs
        if isinstance(rhs, StrConst):
            items: tuple[Any, ...] = (rhs,)
        elif isinstance(rhs, ListOperand):
            items = rhs.items
        elif isinstance(rhs, IdentOperand):
            items = (StrConst(rhs.name, rhs.pos),)
        else:
            raise RuleError(f"operator '{node.op}' needs a value", node.pos)
        values = []
        check = lhs.check_constant
        for item in items:
            if not isinstance(item, StrConst):
                raise RuleError("only constants are allowed in a value list", getattr(item, "pos", node.pos))
            if check is not None:
                try:
                    check(item.value)
                except ValueError as err:
                    raise RuleError(str(err), item.pos) from None
            if warn and self.warn is not _quiet and field_registry.is_field_name(item.value.strip()):
                self.warn(f"'{item.value}' may be a valid field misused as a const string value", item.pos)
            values.append(item.value)
        return values

    def _field_compare(self, node: Compare, lhs: Operand, rhs: FieldOperand) -> Predicate:
        right = self._operand(rhs.operand)
        if right.no_rhs:
            raise RuleError(f"field '{right.key}' cannot be used on the right of a comparison", rhs.pos)
        if (right.ftype, right.multi) != (lhs.ftype, lhs.multi):
            raise RuleError(f"field '{right.key}' has incompatible type {right.ftype} "
                            f"(left side is {lhs.ftype})", rhs.pos)
        try:
            pred2 = make_field_predicate(node.op, lhs.ftype)
        except RuleError as err:
            raise RuleError(err.reason, node.pos) from None
        lget, rget = lhs.get, right.get
        return lambda e: (a := lget(e)) is not None and (b := rget(e)) is not None and pred2(a, b)

    # -- operands --------------------------------------------------------------------------

    def operand(self, node: Any) -> Operand:
        """A field or transformer on its own, as an output's `%tolower(proc.name)` uses it."""
        return self._operand(node)

    def _operand(self, node: Any) -> Operand:
        if isinstance(node, FieldRef):
            try:
                return self.binder(node)
            except RuleError as err:
                raise RuleError(err.reason, node.pos if err.offset < 0 else err.offset) from None
        if isinstance(node, Transformer):
            return self._transformer(node)
        if isinstance(node, StrConst):
            value = node.value
            return Operand(lambda e: value, STRING, None, node.render())
        raise RuleError(f"unexpected operand {node!r}", getattr(node, "pos", -1))

    def _transformer(self, node: Transformer) -> Operand:
        spec = TRANSFORMERS.get(node.name)
        if spec is None:
            raise RuleError(f"unknown transformer '{node.name}'", node.pos)
        args = [self._list_operand(arg) if isinstance(arg, ListOperand) else self._transformer_arg(arg)
                for arg in node.args]
        types = [(a.ftype, a.multi) for a in args]
        try:
            ftype, multi = spec.output_type(types, node.arg)
            apply = spec.bind(types, node.arg)
        except RuleError as err:
            raise RuleError(err.reason, node.pos) from None
        getters = [a.get for a in args]
        if len(getters) == 1:
            only = getters[0]

            def get(e: Any) -> Any:
                value = only(e)
                return None if value is None else apply(value)
        else:
            def get(e: Any) -> Any:
                values = [g(e) for g in getters]
                return None if any(v is None for v in values) else apply(*values)
        return Operand(get, ftype, multi, node.render())

    def _transformer_arg(self, node: Any) -> Operand:
        operand = self._operand(node)
        if operand.no_transformer:
            raise RuleError(f"field '{operand.key}' does not support transformers", node.pos)
        return operand

    def _list_operand(self, node: ListOperand) -> Operand:
        """A literal list argument, `("-t", proc.name, 3)` or `()`.  libsinsp makes it one
        list-valued *string* field: its values are the elements' values in order, a number as
        its text, a list-valued element (`proc.args` split, `getopt(...)`) contributing every
        value; absent as soon as one element is.  So `join`, `getopt` and `len` see a list of
        strings however it was written, and need no case of their own for literals."""
        parts: list[tuple[Getter, Callable[[Any], str]]] = []
        for item in node.items:
            operand = self._transformer_arg(item)
            parts.append((operand.get, _list_text(operand.ftype)))

        def get(e: Any) -> Any:
            out: list[str] = []
            for part, text in parts:
                value = part(e)
                if value is None:
                    return None
                if type(value) is tuple:
                    out.extend(map(text, value))
                else:
                    out.append(text(value))
            return tuple(out)
        return Operand(get, STRING, "list", node.render())


def _list_text(ftype: FType) -> Callable[[Any], str]:
    """How one element value becomes a string of a literal list: strings as they are, other
    types as an output would show them (libsinsp renders numbers with their print format)."""
    if ftype.kind is Kind.STRING:
        return lambda v: v if isinstance(v, str) else str(v)
    return renderer(ftype, None)


def _quiet(message: str, pos: int) -> None:
    return None


def _memoized(key: str, body: Predicate) -> Predicate:
    def memo(e: Any) -> bool:
        cache = e.cache
        result: bool | None = cache.get(key)
        if result is None:
            result = cache[key] = bool(body(e))
        return result
    return memo


def _fused(get: Getter, pred: Any) -> Predicate | None:
    """One closure instead of two for the commonest checks: `field = c` and `field in (set)`.
    An absent value (None) never equals a constant nor belongs to a constant set, so no
    None test is needed; the `negated` attribute is the closure for `not (...)`, for which
    Falco's absent-field rule (the negation of a false check is true) gives `!=`/`not in`."""
    fused: Any
    if isinstance(pred, partial) and pred.func is operator.eq and len(pred.args) == 1:
        const = pred.args[0]
        fused = lambda e: get(e) == const  # noqa: E731
        fused.negated = lambda e: get(e) != const
        return fused  # type: ignore[no-any-return]
    hint = getattr(pred, "fuse", None)
    if hint is not None:
        op, text = hint
        if op == "startswith":
            fused = lambda e: (v := get(e)) is not None and v.startswith(text)  # noqa: E731
        elif op == "endswith":
            fused = lambda e: (v := get(e)) is not None and v.endswith(text)  # noqa: E731
        else:
            fused = lambda e: (v := get(e)) is not None and text in v  # noqa: E731
        return fused  # type: ignore[no-any-return]
    owner = getattr(pred, "__self__", None)
    if isinstance(owner, frozenset) and getattr(pred, "__name__", "") == "__contains__":
        fused = lambda e: get(e) in owner  # noqa: E731
        fused.negated = lambda e: get(e) not in owner
        return fused  # type: ignore[no-any-return]
    return None


def _any_value(get: Getter, tests: list[Predicate]) -> Predicate:
    """One field, several value tests, any may hold.  Equality and membership tests merge
    into one set, `startswith`/`endswith` tests into one tuple for the str method (which
    takes a tuple of alternatives); an absent value (None) fails them all, as each
    comparison alone would."""
    members: set[Any] = set()
    starts: list[str] = []
    ends: list[str] = []
    others: list[Predicate] = []
    for test in tests:
        owner = getattr(test, "__self__", None)
        hint = getattr(test, "fuse", None)
        if isinstance(test, partial) and test.func is operator.eq and len(test.args) == 1:
            members.add(test.args[0])
        elif isinstance(owner, frozenset) and getattr(test, "__name__", "") == "__contains__":
            members.update(owner)
        elif hint is not None and hint[0] == "startswith":
            starts.append(hint[1])
        elif hint is not None and hint[0] == "endswith":
            ends.append(hint[1])
        else:
            others.append(test)
    checks: list[Predicate] = list(others)
    if members:
        checks.insert(0, frozenset(members).__contains__)
    if starts:
        prefixes = tuple(starts)
        checks.insert(0, lambda v: v.startswith(prefixes))
    if ends:
        suffixes = tuple(ends)
        checks.insert(0, lambda v: v.endswith(suffixes))
    if len(checks) == 1:
        only = checks[0]
        return lambda e: (v := get(e)) is not None and only(v)
    chain = tuple(checks)

    def any_value(e: Any) -> bool:
        v = get(e)
        if v is None:
            return False
        for check in chain:
            if check(v):
                return True
        return False
    return any_value


# _all and _any mirror each other on purpose: the two- and three-operand cases are written
# out as single lambdas (no loop, no flag test) because they are the commonest shapes on the
# per-event path.
def _all(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda e: a(e) and b(e)
    if len(preds) == 3:
        a, b, c = preds
        return lambda e: a(e) and b(e) and c(e)
    chain = tuple(preds)

    def every(e: Any) -> bool:
        for pred in chain:
            if not pred(e):
                return False
        return True
    return every


def _any(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda e: a(e) or b(e)
    if len(preds) == 3:
        a, b, c = preds
        return lambda e: a(e) or b(e) or c(e)
    chain = tuple(preds)

    def some(e: Any) -> bool:
        for pred in chain:
            if pred(e):
                return True
        return False
    return some
