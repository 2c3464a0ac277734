"""`%tolower(proc.name)`, `%join(",", (proc.name, fd.name))`, `%getopt(...)[t]` in outputs.

Pipeline step: output compilation (format.py calls this for a `%` followed by a transformer
name and `(`).  libsinsp's formatter reads a field *or a transformer* after `%`, with the
condition language's syntax, so the transformer is parsed by the condition parser and typed and
bound by the condition compiler: one definition of what a transformer means.

What the JSON `output_fields` get is libsinsp's default: the plain fields used inside the
transformer (`proc.name` for `%tolower(proc.name)`), never the transformed text, which only
the alert text shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .. import fields as field_registry
from ..condition.compiler import Compiler
from ..errors import ConditionSyntaxError, RuleError
from ..fields.render import renderer
from ..syntax.nodes import Compare, FieldRef, ListOperand, Transformer
from ..syntax.parser import parse_condition

#: a transformer's name and its opening parenthesis right after `%` (and an optional width)
TRANSFORMER_AT = re.compile(r"(tolower|toupper|b64|basename|len|join|concat|getopt)\(")
_QUOTED = re.compile(r""""(?:[^"]|(?<=\\)")*(?<!\\)"|'(?:[^']|(?<=\\)')*(?<!\\)'""")
_ARG = re.compile(r"""\[(?:"(?:[^"]|(?<=\\)")*(?<!\\)"|'(?:[^']|(?<=\\)')*(?<!\\)'|[^\[\]"'\t\n\v\f\r ]+)\]""")


@dataclass(frozen=True)
class TransformedField:
    """A compiled `%transformer(...)`: its value for the text, the plain fields inside it for
    the JSON `output_fields`."""

    text: str
    extract: Callable[[Any], Any]
    render: Callable[[Any], str]
    inner: tuple[field_registry.BoundField, ...]


def _extent(text: str, start: int) -> int:
    """Where the transformer call starting at `start` (its name) ends: after the `)` that
    closes it and a `[arg]` glued to it.  -1 when it never closes."""
    depth, i = 0, text.index("(", start)
    while i < len(text):
        char = text[i]
        if char in "\"'":
            quoted = _QUOTED.match(text, i)
            if quoted is None:
                return -1
            i = quoted.end()
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                arg = _ARG.match(text, i + 1)
                return arg.end() if arg else i + 1
        i += 1
    return -1


def _fields(node: Any, out: list[FieldRef]) -> None:
    if isinstance(node, FieldRef):
        out.append(node)
    elif isinstance(node, Transformer):
        for arg in node.args:
            _fields(arg, out)
    elif isinstance(node, ListOperand):
        for item in node.items:
            _fields(item, out)


def compile_transformed(text: str, start: int) -> tuple[TransformedField, int]:
    """The transformer whose name starts at `start` in an output, and where it ends; RuleError
    (with Falco's "invalid formatting token" words) when it does not parse or compile."""
    end = _extent(text, start)
    expr = text[start:end] if end > 0 else text[start:].split(None, 1)[0]
    try:
        if end < 0:
            raise RuleError("expected a ')' token closing the transformer")
        check = parse_condition(f"{expr} exists")
        if not isinstance(check, Compare) or not isinstance(check.lhs, Transformer):
            raise RuleError("not a transformer")
        operand = Compiler().operand(check.lhs)
        refs: list[FieldRef] = []
        _fields(check.lhs, refs)
        inner = tuple(field_registry.bind(ref) for ref in refs)
    except (ConditionSyntaxError, RuleError) as err:
        raise RuleError(f"invalid formatting token %{expr}: {err.reason}", start - 1) from None
    return TransformedField(expr, operand.get, renderer(operand.ftype, operand.multi), inner), end
