"""Condition text -> syntax tree.

Step 1 of the pipeline (rule text -> *syntax tree* -> resolved -> compiled ...).  Every macro,
rule and exception condition goes through `parse_condition`, so it is one LALR pass over
`grammar/condition.lark` (contextual lexer) whose Transformer builds the immutable
`falcoish.syntax.nodes` objects during the reductions, with no intermediate parse tree; results are
memoised by text because stock rules repeat the same macro bodies and list expansions.

The grammar does the parsing.  What lives here is what a grammar cannot say:
  * unescaping quoted strings (Falco's escape table and its errors);
  * the nesting-depth limit (Falco allows 1000 for rule conditions).  An LALR parser does not
    recurse, so instead of counting frames we pre-scan parentheses -- only when the text holds
    more than 1000 of them at all, so normal conditions pay one `str.count`;
  * turning Lark's exceptions into `ConditionSyntaxError` with a Falco-like reason and the
    offset of the offending character, using the parser's stack to tell which construct
    (group, list, transformer ...) was open when the input stopped making sense.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, Optional, Union, cast

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..errors import ConditionSyntaxError
from .nodes import (And, Compare, FieldOperand, FieldRef, IdentOperand, ListOperand, MacroRef, Node, Not, Or,
                    StrConst, TransformerArg)
from .nodes import Transformer as TransformerNode

__all__ = ["parse_condition", "MAX_DEPTH", "GRAMMAR_PATH"]

#: deepest parenthesis nesting accepted (Falco's limit for rule conditions)
MAX_DEPTH = 1000
GRAMMAR_PATH = Path(__file__).resolve().parent.parent.parent / "grammar" / "condition.lark"


# ---------------------------------------------------------------------- strings and fields

class _BadInput(Exception):
    """Raised inside grammar callbacks, which do not know the condition text."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "\\": "\\", " ": "\\", "/": "/"}
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")


def _unquote(raw: str, offset: int) -> str:
    """The value of the quoted string `raw` (both quotes included) that starts at `offset`.

    The lexer has already found the closing quote (the first one not preceded by a
    backslash); here each backslash escape is decoded left to right."""
    body = raw[1:-1]
    if "\\" not in body:
        return body
    quote = raw[0]
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1] if i + 1 < n else ""
        simple = _ESCAPES.get(esc)
        if simple is not None:
            out.append(simple)
            i += 2
        elif esc == quote:
            out.append(esc)
            i += 2
        elif esc in ('"', "'"):
            raise _BadInput(f"invalid \\{esc} escape in {quote}-quoted string", offset + 1 + i)
        elif esc == "x" and _HEX2.match(body, i + 2):
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        else:
            raise _BadInput(f"unsupported string escape sequence: \\{esc}", offset + 1 + i)
    return "".join(out)


def _pos(tok: Token) -> int:
    return tok.start_pos or 0


def _arg(bracketed: str, offset: int) -> str:
    """`[arg]` (brackets included, starting at `offset`) -> the argument value."""
    inner = bracketed[1:-1]
    if inner[0] in "\"'":
        return _unquote(inner, offset + 1)
    return inner


def _field(tok: Token) -> FieldRef:
    text = str(tok)
    start = _pos(tok)
    cut = text.find("[")
    if cut < 0:
        return FieldRef(text, None, start)
    return FieldRef(text[:cut], _arg(text[cut:], start + cut), start)


def _const(tok: Token) -> StrConst:
    """A QSTR, BARESTR or NUMBER token as a constant."""
    if tok.type == "QSTR":
        return StrConst(_unquote(str(tok), _pos(tok)), _pos(tok))
    return StrConst(str(tok), _pos(tok))


def _targ(item: Any) -> TransformerArg:
    """A transformer argument or list element: a token or an already built node."""
    if isinstance(item, Token):
        return _field(item) if item.type == "FIELD" else _const(item)
    assert isinstance(item, (TransformerNode, ListOperand))
    return item


class _Group:
    """A sub-expression together with where its text starts: `(a or b)` starts at the
    parenthesis, `not not a` at the first `not`, although neither makes a node of its own."""

    __slots__ = ("node", "start")

    def __init__(self, node: Node, start: int) -> None:
        self.node = node
        self.start = start


def _node(item: Union[Node, _Group]) -> Node:
    return item.node if isinstance(item, _Group) else item


def _start(item: Union[Node, _Group]) -> int:
    return item.start if isinstance(item, _Group) else item.pos


def _negate(count: int, item: Union[Node, _Group], start: int) -> Union[Node, _Group]:
    """`count` consecutive `not`s toggle: odd -> one Not node, even -> no node."""
    node = _node(item)
    return Not(node, start) if count % 2 else _Group(node, start)


# ---------------------------------------------------------------------------- tree builder

class _Build(Transformer[Token, Any]):
    """Called by the LALR parser at each reduction (rule names from condition.lark)."""

    def start(self, c: list[Any]) -> Node:
        return _node(c[0])

    def or_expr(self, c: list[Any]) -> Or:
        return Or(tuple(_node(x) for x in c), _start(c[0]))

    def and_expr(self, c: list[Any]) -> And:
        return And(tuple(_node(x) for x in c), _start(c[0]))

    def nots(self, c: list[Any]) -> Union[Node, _Group]:
        return _negate(len(c) - 1, c[-1], _pos(c[0]))

    def nots_paren(self, c: list[Any]) -> Union[Node, _Group]:
        return _negate(len(c) - 1, c[-1], _pos(c[0]))

    def group(self, c: list[Any]) -> _Group:
        return _Group(_node(c[1]), _pos(c[0]))

    def macro(self, c: list[Any]) -> MacroRef:
        tok = c[0]
        return MacroRef(str(tok), _pos(tok))

    def unary(self, c: list[Any]) -> Compare:
        lhs = _lhs(c[0])
        return Compare(lhs, str(c[1]), None, None, lhs.pos)

    def binary(self, c: list[Any]) -> Compare:
        lhs = _lhs(c[0])
        return Compare(lhs, str(c[1]), _rhs(c[2]), None, lhs.pos)

    def modified(self, c: list[Any]) -> Compare:
        lhs = _lhs(c[0])
        return Compare(lhs, str(c[1]), _rhs(c[3]), str(c[2]), lhs.pos)

    def val(self, c: list[Any]) -> FieldOperand:
        return FieldOperand(_field(c[1]), _pos(c[0]))

    def transformer(self, c: list[Any]) -> TransformerNode:
        name_tok = c[0]
        start = _pos(name_tok)
        last = c[-1]
        arg: Optional[str] = None
        if isinstance(last, Token) and last.type == "TARG":
            arg = _arg(str(last), _pos(last))
            c = c[:-1]
        args = tuple(_targ(x) for x in c[1:])
        return TransformerNode(str(name_tok)[:-1], args, arg, start)

    def tlist(self, c: list[Any]) -> ListOperand:
        return ListOperand(tuple(_targ(x) for x in c[1:]), _pos(c[0]))

    def list(self, c: list[Any]) -> ListOperand:
        return ListOperand(tuple(_const(t) for t in c[1:]), _pos(c[0]))


def _lhs(item: Any) -> Union[FieldRef, TransformerNode]:
    if isinstance(item, Token):
        return _field(item)
    assert isinstance(item, TransformerNode)
    return item


def _rhs(item: Any) -> Union[StrConst, ListOperand, FieldOperand, IdentOperand]:
    if isinstance(item, Token):
        if item.type == "IDENT":
            return IdentOperand(str(item), _pos(item))
        return _const(item)
    if isinstance(item, TransformerNode):
        return FieldOperand(item, item.pos)
    assert isinstance(item, (ListOperand, FieldOperand))
    return item


def _table_cache() -> str | bool:
    """Where Lark keeps the grammar's parse tables between runs (building them is a tenth of
    a cold start).  A private directory in the user's cache, never the shared temp directory:
    the file is unpickled on load, and a root daemon must not unpickle what another user can
    write.  False (no cache) when that directory cannot be made."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "falcoish"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        if base.stat().st_uid != os.getuid() or not os.access(base, os.W_OK):
            return False
    except OSError:
        return False
    return str(base / "condition-grammar.lark-cache")


_PARSER = Lark(
    GRAMMAR_PATH.read_text(encoding="utf-8"),
    parser="lalr",
    lexer="contextual",
    transformer=_Build(),
    maybe_placeholders=False,
    propagate_positions=False,
    cache=_table_cache(),
)


# ------------------------------------------------------------------------------- the API

@functools.lru_cache(maxsize=8192)
def parse_condition(text: str) -> Node:
    """Parse one Falco condition into a syntax tree; raise `ConditionSyntaxError`.

    Lists must already have been substituted (Falco does that textually, before parsing);
    identifiers are left as `MacroRef` / `IdentOperand` for the resolver."""
    if not text:
        raise ConditionSyntaxError("filter input string is empty", text, 0)
    if text.count("(") > MAX_DEPTH:
        _check_depth(text)
    try:
        result: Any = _PARSER.parse(text)  # a Node: the Transformer builds it, not a Tree
    except _BadInput as e:
        raise ConditionSyntaxError(e.reason, text, e.offset) from None
    except UnexpectedInput as e:
        reason, offset = _explain(e, text)
        raise ConditionSyntaxError(reason, text, offset) from None
    return cast(Node, result)


# ------------------------------------------------------------------------------ depth limit

_QSTR_RE = r""""(?:[^"]|(?<=\\)")*(?<!\\)"|'(?:[^']|(?<=\\)')*(?<!\\)'"""
_DEPTH_SCAN = re.compile(_QSTR_RE + r"""|\[[^\[\]"'\t\n\v\f\r ]+\]|[()]""")


def _check_depth(text: str) -> None:
    """Reject more than MAX_DEPTH nested parentheses (group, `not(`, list, transformer).

    Quoted strings and `[args]` are skipped; bare strings cannot hold parentheses.  Unbalanced
    text is left to the grammar to report."""
    depth = 0
    for m in _DEPTH_SCAN.finditer(text):
        tok = m.group()
        if tok == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise ConditionSyntaxError(f"exceeded max depth limit of {MAX_DEPTH}", text, m.start())
        elif tok == ")":
            depth -= 1


# ------------------------------------------------------------------------ error messages

_QSTR_AT = re.compile(_QSTR_RE)
_ARGBARE_AT = re.compile(r"""[^\[\]"'\t\n\v\f\r ]+""")
_KEYWORD_AT = re.compile(r"(and|or)(?![ \t\n\r\b(])")
_TRANSFORMERS = "'val', 'tolower', 'toupper', 'b64', 'basename', 'len', 'join', 'concat', 'getopt'"
_OPERATORS = ("'exists', '<=', '<', '>=', '>', '==', '=', '!=', 'glob', 'iglob', 'contains', "
              "'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', "
              "'intersects', 'in', 'pmatch'")
_OPENERS = frozenset({"LPAR", "NOT_LPAR", "TNAME", "VAL_LPAR"})
_BLANKS = " \t\n\r\b"


def _open_construct(stack: list[Any]) -> str:
    """What the innermost unclosed parenthesis on the parser's value stack belongs to:
    'group', 'list' (constants, or a list argument of a transformer), 'transformer' or ''."""
    closed = 0  # ")" already shifted but not yet reduced with their opener
    for i in range(len(stack) - 1, -1, -1):
        item = stack[i]
        if not isinstance(item, Token):
            continue
        if item.type == "_RPAR":
            closed += 1
        elif item.type in _OPENERS and closed:
            closed -= 1
        elif item.type in _OPENERS:
            if item.type in ("TNAME", "VAL_LPAR"):
                return "transformer"
            if item.type == "NOT_LPAR":
                return "group"
            before = stack[i - 1] if i else None
            kind = before.type if isinstance(before, Token) else ""
            return "list" if kind in ("LISTOP", "MOD", "TNAME", "_COMMA") else "group"
    return ""


def _transformer_is_lhs(stack: list[Any]) -> bool:
    """The stack ends with a transformer's ")" (LALR shares that state between the left side,
    the right side and transformer arguments): is it the left side of a check?"""
    closed = 0
    for i in range(len(stack) - 1, -1, -1):
        item = stack[i]
        if not isinstance(item, Token):
            continue
        if item.type == "_RPAR":
            closed += 1
        elif item.type in _OPENERS:
            closed -= 1
            if closed <= 0:
                before = stack[i - 1] if i else None
                kind = before.type if isinstance(before, Token) else ""
                if kind in ("STROP", "NUMOP", "LISTOP", "TNAME", "_COMMA"):
                    return False
                if kind == "LPAR":  # a group, unless that "(" opens a list inside a transformer
                    return _open_construct(stack[:i]) != "list"
                return True
    return True


def _field_arg_problem(text: str, offset: int) -> tuple[str, int]:
    """`offset` is a `[` glued to a field or transformer that did not lex as an argument."""
    at = offset + 1
    if at < len(text) and text[at] in "\"'":
        m = _QSTR_AT.match(text, at)
        if m is None:
            return "unterminated quoted string", at
        return "expected a ']' token", m.end()
    m = _ARGBARE_AT.match(text, at)
    if m is not None:
        return "expected a ']' token", m.end()
    return "expected a valid field argument: a quoted string or a bare string", at


def _last_token_text(e: UnexpectedInput, text: str, offset: int) -> str:
    history = getattr(e, "token_history", None)
    if history and history[-1] is not None:
        return str(history[-1]).strip()
    words = text[:offset].split()
    return words[-1] if words else ""


def _explain(e: UnexpectedInput, text: str) -> tuple[str, int]:
    """A Falco-like reason and the offset of the offending character for a Lark error."""
    offset: int = len(text)
    expected: set[str] = set()
    if isinstance(e, UnexpectedCharacters):
        offset = e.pos_in_stream or 0
        expected = set(e.allowed or ())
    elif isinstance(e, UnexpectedToken):
        if e.token.type != "$END":
            offset = _pos(e.token)
        expected = set(e.expected)
    else:  # UnexpectedEOF: not raised by the LALR parser, kept for completeness
        expected = set(getattr(e, "expected", ()) or ())
    offset = max(0, min(offset, len(text)))
    char = text[offset] if offset < len(text) else ""
    state = getattr(e, "state", None)
    stack: list[Any] = list(getattr(state, "value_stack", None) or [])

    if char in ("'", '"') and "QSTR" in expected and _QSTR_AT.match(text, offset) is None:
        return "unterminated quoted string", offset
    glued = offset > 0 and text[offset - 1] not in _BLANKS
    if char == "[" and glued and ("EXISTS" in expected or "TARG" in expected):
        return _field_arg_problem(text, offset)
    if "NOT" in expected:
        return "expected a '(' token, a field check, or an identifier", offset
    if "EXISTS" in expected and ("_AND" not in expected or _transformer_is_lhs(stack)):
        return f"expected a valid check operator: one of {_OPERATORS}", offset
    if "MOD" in expected:
        return f"expected a string value or a field with a valid transformer: {_TRANSFORMERS}", offset
    if "NUMBER" in expected and "VAL_LPAR" in expected:
        return f"expected a number value or a field with a valid transformer: {_TRANSFORMERS}", offset
    if "VAL_LPAR" in expected:
        return f"expected a list, an identifier, or a field with a valid transformer: {_TRANSFORMERS}", offset
    if "FIELD" in expected:
        if expected == {"FIELD"}:
            return "expected a field within 'val' transformer", offset
        if "LPAR" in expected:
            return ("expected field transformer argument: field, transformer, quoted string, "
                    "number, or transformer list"), offset
        return "expected transformer list argument: field, transformer, quoted string, or number", offset
    if "IDENT" in expected:
        return "expected a list or an identifier", offset
    if "BARESTR" in expected and "_RPAR" not in expected:
        return "expected a string value", offset

    construct = _open_construct(stack)
    keyword = _KEYWORD_AT.match(text, offset) if "_AND" in expected else None
    if keyword is not None and construct in ("group", ""):
        return f"expected blank or '(' after '{keyword.group(1)}'", keyword.end()
    if construct == "transformer":
        return "expected a ')' token closing the transformer", offset
    if construct:
        return "expected a ')' token", offset
    after = _last_token_text(e, text, offset)
    return f"unexpected token after '{after}', expecting 'or', 'and'", offset
