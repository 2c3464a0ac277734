"""The condition syntax tree: immutable nodes and their canonical text.

Step 2 of the pipeline (rule text -> *syntax tree* -> resolved -> compiled ...).  Nodes are
frozen so that a macro's tree can be shared by every rule that uses it without copies.  Each
node remembers `pos`, the 0-based offset in the condition text it was parsed from, so that a
later step (resolver, compiler) can point an error at the right column.  `pos` does not take
part in equality, so two trees that mean the same compare equal.

`render()` prints a tree the way libsinsp's `as_string` does (Falco's loader tests compare
this text), e.g. ``(evt.type = open and proc.name in (ash, bash))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Union


@dataclass(frozen=True)
class FieldRef:
    """A field as written: `proc.aname[2]` -> name='proc.aname', arg='2'.
    `evt.arg.flags` keeps its whole dotted name; `x[""]` has arg '' (present but empty)."""

    name: str
    arg: str | None = None
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        if self.arg is None:
            return self.name
        return f"{self.name}[{_quote_arg(self.arg)}]"


@dataclass(frozen=True)
class Transformer:
    """`tolower(proc.name)`, `basename(fd.name)`, `join(",", (a.b, c.d))`...
    `args` holds fields, transformers, string/number constants (StrConst) and, for `join`,
    one ListOperand of those."""

    name: str
    args: tuple["TransformerArg", ...]
    arg: str | None = None
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        # libsinsp writes a list argument without blanks too: `join(",",(a,b))`
        inner = ",".join("(" + ",".join(i.render() for i in a.items) + ")"
                         if isinstance(a, ListOperand) else a.render() for a in self.args)
        tail = "" if self.arg is None else f"[{_quote_arg(self.arg)}]"
        return f"{self.name}({inner}){tail}"


@dataclass(frozen=True)
class StrConst:
    """A constant (quoted or bare, already unescaped)."""

    value: str
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        return quote_value(self.value)


@dataclass(frozen=True)
class ListOperand:
    """A parenthesised list of constants `(a, "b c", d)`; inside transformer args it may also
    hold fields/transformers."""

    items: tuple["TransformerArg", ...]
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        return "(" + ", ".join(i.render() for i in self.items) + ")"


@dataclass(frozen=True)
class FieldOperand:
    """The right side `val(proc.pname)` or a transformer on the right: another field of the
    same event."""

    operand: Union[FieldRef, Transformer]
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        if isinstance(self.operand, FieldRef):
            return f"val({self.operand.render()})"
        return self.operand.render()


@dataclass(frozen=True)
class IdentOperand:
    """A bare identifier after `in`/`intersects`/`pmatch` without parentheses (`x in foo`):
    a one-element constant list."""

    name: str
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        return f"({quote_value(self.name)})"


TransformerArg = Union[FieldRef, Transformer, StrConst, ListOperand]
Operand = Union[FieldRef, Transformer]
RightSide = Union[StrConst, ListOperand, FieldOperand, IdentOperand]


@dataclass(frozen=True)
class Compare:
    """`lhs op rhs`; `exists` has rhs None; `modifier` is oneof/anyof/allof (0.44+)."""

    lhs: Operand
    op: str
    rhs: RightSide | None = None
    modifier: str | None = None
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        if self.rhs is None:
            return f"{self.lhs.render()} {self.op}"
        op = self.op if self.modifier is None else f"{self.op} {self.modifier}"
        return f"{self.lhs.render()} {op} {self.rhs.render()}"


@dataclass(frozen=True)
class MacroRef:
    name: str
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        return self.name


@dataclass(frozen=True)
class Not:
    child: "Node"
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        return f"not {self.child.render()}"


@dataclass(frozen=True)
class And:
    children: tuple["Node", ...]
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        return "(" + " and ".join(c.render() for c in self.children) + ")"


@dataclass(frozen=True)
class Or:
    children: tuple["Node", ...]
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        return "(" + " or ".join(c.render() for c in self.children) + ")"


@dataclass(frozen=True)
class MacroUse:
    """A macro reference after resolution: the macro's resolved body, still labelled with
    its name, so errors inside it point at the macro and the engine can evaluate a shared
    macro once per event.  Prints as its body (resolved conditions show no macro names)."""

    name: str
    body: "Node"
    pos: int = field(default=0, compare=False)

    def render(self) -> str:
        return self.body.render()


Node = Union[And, Or, Not, Compare, MacroRef, MacroUse]


def _cached_hash(self: Any) -> int:
    """Interior nodes are dict keys and set members in the rule index (shared conditions are
    counted, measured and looked up by value), and a dataclass hash walks the whole subtree
    on every call.  The tree is immutable, so each node's hash is computed once and kept."""
    cached: int | None = self.__dict__.get("_hash")
    if cached is None:
        cached = hash((type(self).__name__, *(getattr(self, f.name) for f in fields(self) if f.compare)))
        object.__setattr__(self, "_hash", cached)
    return cached


for _interior in (Compare, Not, And, Or, MacroUse):
    _interior.__hash__ = _cached_hash  # type: ignore[method-assign]

_QUOTE_TRIGGERS = set(' ="\'\\\0\b\f\n\r\t')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote_value(value: str) -> str:
    """Print a constant raw, or quoted when it holds a blank, `=`, a quote, a backslash or a
    control character (libsinsp's rule; `,()` alone do not trigger quoting)."""
    if value and not (_QUOTE_TRIGGERS & set(value)):
        return value
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def _quote_arg(arg: str) -> str:
    return arg if arg and not any(c in arg for c in '[]"\' \t\n') else quote_value(arg) if arg else '""'


def walk(node: Node) -> "list[Node]":
    """Every node of a tree, parents before children."""
    out: list[Node] = [node]
    if isinstance(node, (And, Or)):
        for child in node.children:
            out.extend(walk(child))
    elif isinstance(node, Not):
        out.extend(walk(node.child))
    elif isinstance(node, MacroUse):
        out.extend(walk(node.body))
    return out
