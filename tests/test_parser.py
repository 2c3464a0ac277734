"""The condition parser: grammar, precedence, lexical edge cases, errors and positions.

Edge cases follow docs section 8 items 1-13 of shared/docs/falco-language.md (libs
`filter_parser.ut.cpp` behaviour)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falcoish.errors import ConditionSyntaxError
from falcoish.syntax.nodes import (And, Compare, FieldOperand, FieldRef, IdentOperand, ListOperand, MacroRef,
                                   Node, Not, Or, StrConst, Transformer, walk)
from falcoish.syntax.parser import MAX_DEPTH, parse_condition

P = parse_condition
CORPUS = Path("/work/shared/corpus/falco-rules")


def F(name: str, arg: str | None = None) -> FieldRef:
    return FieldRef(name, arg)


def S(value: str) -> StrConst:
    return StrConst(value)


def M(name: str) -> MacroRef:
    return MacroRef(name)


def L(*values: str) -> ListOperand:
    return ListOperand(tuple(S(v) for v in values))


def C(lhs: FieldRef | Transformer, op: str, rhs: object = None, modifier: str | None = None) -> Compare:
    return Compare(lhs, op, rhs, modifier)  # type: ignore[arg-type]


def err(text: str) -> ConditionSyntaxError:
    with pytest.raises(ConditionSyntaxError) as info:
        P(text)
    return info.value


def value_of(text: str) -> str:
    """The constant on the right of `fd.name = <text>`."""
    node = P(f"fd.name = {text}")
    assert isinstance(node, Compare) and isinstance(node.rhs, StrConst)
    return node.rhs.value


# ------------------------------------------------------------------------------ precedence

def test_and_binds_tighter_than_or() -> None:  # §8.1
    assert P("a and b or c and d") == Or((And((M("a"), M("b"))), And((M("c"), M("d")))))
    assert P("a or b and c") == Or((M("a"), And((M("b"), M("c")))))


def test_not_binds_tighter_than_and() -> None:  # §8.1
    assert P("not a and b") == And((Not(M("a")), M("b")))
    assert P("not a or b") == Or((Not(M("a")), M("b")))
    assert P("not fd.name = x and b") == And((Not(C(F("fd.name"), "=", S("x"))), M("b")))


def test_chains_are_nary() -> None:
    assert P("a and b and c and d") == And((M("a"), M("b"), M("c"), M("d")))
    assert P("a or b or c") == Or((M("a"), M("b"), M("c")))
    assert P("a or b and c and d or e") == Or((M("a"), And((M("b"), M("c"), M("d"))), M("e")))


def test_parentheses_keep_their_own_node() -> None:
    assert P("(a and b) and c") == And((And((M("a"), M("b"))), M("c")))
    assert P("a and (b and c)") == And((M("a"), And((M("b"), M("c")))))
    assert P("(a or b) and c") == And((Or((M("a"), M("b"))), M("c")))
    assert P("((a))") == M("a")
    assert P("(a and b)") == And((M("a"), M("b")))


def test_canonical_render_of_precedence() -> None:
    assert P("a and b or c and d").render() == "((a and b) or (c and d))"
    assert P("not a and b").render() == "(not a and b)"
    assert P("evt.type=open and proc.name in (ash, bash)").render() == \
        "(evt.type = open and proc.name in (ash, bash))"


# ------------------------------------------------------------------------------ not

@pytest.mark.parametrize("text, expected", [
    ("not a", Not(M("a"))),
    ("not not a", M("a")),
    ("not not not a", Not(M("a"))),
    ("not (not a)", Not(Not(M("a")))),
    ("not not(a)", M("a")),
    ("not(a)", Not(M("a"))),
    ("not (a)", Not(M("a"))),
    ("not\ta", Not(M("a"))),
    ("not\na", Not(M("a"))),
    ("not not not not not(not not(not m))", Not(Not(M("m")))),  # §8.2
    ("not not a and b", And((M("a"), M("b")))),
])
def test_not_runs_toggle(text: str, expected: Node) -> None:
    assert P(text) == expected


def test_not_needs_blank_or_paren() -> None:
    assert P("notb") == M("notb")
    assert P("not_macro") == M("not_macro")
    assert P("a and notb") == And((M("a"), M("notb")))
    assert P("macro and not_macro") == And((M("macro"), M("not_macro")))
    assert P("not") == M("not")  # a lone `not` is an identifier, as upstream


# ------------------------------------------------------------------------------ keywords

@pytest.mark.parametrize("text", ["(a)and(b)", "(a) and (b)", "a and(b)", "(a)and b", "a and\nb", "a\band b"])
def test_keyword_spacing_accepted(text: str) -> None:  # §8.3
    assert P(text) == And((M("a"), M("b")))


def test_keyword_after_quoted_string_needs_no_blank() -> None:
    assert P('fd.name = "v"and m') == And((C(F("fd.name"), "=", S("v")), M("m")))
    assert P("fd.name in (a)or m") == Or((C(F("fd.name"), "in", L("a")), M("m")))
    assert P("fd.num > 1and m") == And((C(F("fd.num"), ">", S("1")), M("m")))


@pytest.mark.parametrize("text, column, reason", [  # §8.3
    ("a andb", 6, "expected blank or '(' after 'and'"),
    ("a orb", 5, "expected blank or '(' after 'or'"),
    ("a and", 6, "expected blank or '(' after 'and'"),
    ("aand b", 6, "unexpected token after 'aand', expecting 'or', 'and'"),
    ("a and or b", 10, "unexpected token after 'or', expecting 'or', 'and'"),
    ("and a", 5, "unexpected token after 'and', expecting 'or', 'and'"),
    ("a not b", 3, "unexpected token after 'a', expecting 'or', 'and'"),
    ("a AND b", 3, "unexpected token after 'a', expecting 'or', 'and'"),
    ("a and ", 7, "expected a '(' token, a field check, or an identifier"),
    ("a and\fb", 6, "expected blank or '(' after 'and'"),
])
def test_keyword_errors(text: str, column: int, reason: str) -> None:
    e = err(text)
    assert e.reason == reason
    assert e.column == column


def test_keywords_are_lowercase_only() -> None:
    assert P("AND") == M("AND")
    assert P("Not") == M("Not")


# ------------------------------------------------------------------------------ operators

@pytest.mark.parametrize("op", ["=", "==", "!=", "contains", "icontains", "bcontains", "startswith",
                                "bstartswith", "endswith", "glob", "iglob", "regex"])
def test_string_operators(op: str) -> None:
    assert P(f"fd.name {op} abc") == C(F("fd.name"), op, S("abc"))
    assert P(f'fd.name {op} "a b"') == C(F("fd.name"), op, S("a b"))
    assert P(f"fd.name {op}\tabc") == C(F("fd.name"), op, S("abc"))


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
@pytest.mark.parametrize("number", ["0", "12", "-1", "+7", "1.5", "1.", "1.5e+3", "2E-10", "0x1F", "0XaB"])
def test_numeric_operators(op: str, number: str) -> None:
    assert P(f"fd.num {op} {number}") == C(F("fd.num"), op, S(number))
    assert P(f"fd.num{op}{number}") == C(F("fd.num"), op, S(number))


@pytest.mark.parametrize("op", ["in", "intersects", "pmatch"])
def test_list_operators(op: str) -> None:
    assert P(f"fd.name {op} (a, b)") == C(F("fd.name"), op, L("a", "b"))
    assert P(f"fd.name {op}(a)") == C(F("fd.name"), op, L("a"))
    assert P(f"fd.name {op} ()") == C(F("fd.name"), op, L())
    assert P(f"fd.name {op} lst") == C(F("fd.name"), op, IdentOperand("lst"))


def test_list_operators_need_no_blank_after_them() -> None:
    # upstream quirk kept: `in` is matched as a prefix, the rest is the identifier operand
    assert P("x.y inx") == C(F("x.y"), "in", IdentOperand("x"))
    assert P("x.y intersectsfoo") == C(F("x.y"), "intersects", IdentOperand("foo"))


def test_exists() -> None:
    assert P("fd.name exists") == C(F("fd.name"), "exists")
    assert P("test.op existsand macro") == And((C(F("test.op"), "exists"), M("macro")))  # §8.4
    assert P("(fd.name exists)") == C(F("fd.name"), "exists")


def test_operator_text_is_kept_as_written() -> None:
    assert P("fd.name = a").render() == "fd.name = a"
    assert P("fd.name == a").render() == "fd.name == a"
    assert P("fd.name=a") != P("fd.name==a")


def test_operators_without_blanks() -> None:  # §8.5
    assert P("x.y =/bin") == C(F("x.y"), "=", S("/bin"))
    assert P("x.y !=v") == C(F("x.y"), "!=", S("v"))
    assert P("x.y >1") == C(F("x.y"), ">", S("1"))
    assert P("x.y in()") == C(F("x.y"), "in", L())
    assert P("x.y=a") == C(F("x.y"), "=", S("a"))


OPS_MESSAGE = "expected a valid check operator"


@pytest.mark.parametrize("text, column, reason", [
    ("test.op ExIsTs", 9, OPS_MESSAGE),  # §8.4
    ("x.y contains/bin", 5, OPS_MESSAGE),  # §8.5
    ("x.y contains", 5, OPS_MESSAGE),
    ("x.y", 4, OPS_MESSAGE),
    ("x.y IN (a)", 5, OPS_MESSAGE),
    ("x.y === a", 7, "expected a string value or a field with a valid transformer"),
    ("x.y > abc", 7, "expected a number value or a field with a valid transformer"),  # §8.6
    ("x.y > 1e5", 8, "unexpected token after '1', expecting 'or', 'and'"),
    ("a.b = b = 1", 9, "unexpected token after 'b', expecting 'or', 'and'"),
    ("macro > 12", 7, "unexpected token after 'macro', expecting 'or', 'and'"),
    ("x.y = ", 7, "expected a string value or a field with a valid transformer"),
])
def test_operator_errors(text: str, column: int, reason: str) -> None:
    e = err(text)
    assert e.reason.startswith(reason)
    assert e.column == column


def test_hex_and_odd_constants() -> None:  # §8.6
    assert P("x.y > 0x1F") == C(F("x.y"), ">", S("0x1F"))
    assert P("x.y = 0xAAA.1") == C(F("x.y"), "=", S("0xAAA.1"))
    assert P("a.b = not") == C(F("a.b"), "=", S("not"))


# ------------------------------------------------------------------------------ modifiers

@pytest.mark.parametrize("mod", ["oneof", "anyof", "allof"])
@pytest.mark.parametrize("op", ["==", "=", "!=", "contains", "startswith", "glob"])
def test_modifiers(op: str, mod: str) -> None:
    assert P(f"proc.name {op} {mod} (a, b)") == C(F("proc.name"), op, L("a", "b"), mod)
    assert P(f"proc.name {op} {mod} ()") == C(F("proc.name"), op, L(), mod)
    assert P(f"proc.name {op} {mod} lst") == C(F("proc.name"), op, IdentOperand("lst"), mod)


def test_modifier_words_as_values() -> None:  # §8.13
    assert P("proc.name == oneof (a)") == C(F("proc.name"), "==", L("a"), "oneof")
    assert P("proc.name == oneof") == C(F("proc.name"), "==", S("oneof"))
    assert P("proc.name == oneof and y") == And((C(F("proc.name"), "==", S("oneof")), M("y")))
    assert P("proc.name == anyof or y") == Or((C(F("proc.name"), "==", S("anyof")), M("y")))
    assert P("proc.name == allofx") == C(F("proc.name"), "==", S("allofx"))
    assert P("proc.name == oneof andy") == C(F("proc.name"), "==", IdentOperand("andy"), "oneof")
    assert P("proc.name == oneof (a)").render() == "proc.name == oneof (a)"


@pytest.mark.parametrize("text, column", [  # §8.13
    ("proc.name == oneof(a)", 19),
    ("proc.name ==oneof (a)", 19),
    ("proc.name in oneof (a)", 20),
    ("proc.name > oneof (a)", 13),
    ("proc.name == oneof \"a\"", 20),
])
def test_modifier_errors(text: str, column: int) -> None:
    assert err(text).column == column


# ------------------------------------------------------------------------------ lists

def test_list_literals() -> None:
    assert P("fd.name in (a, \"b c\", 'd')") == C(F("fd.name"), "in", L("a", "b c", "d"))
    assert P("fd.name in ( a ,b\t,\nc )") == C(F("fd.name"), "in", L("a", "b", "c"))
    assert P('fd.name in ("a,b", "(x)")') == C(F("fd.name"), "in", L("a,b", "(x)"))
    assert P("fd.name in (shell_binaries)") == C(F("fd.name"), "in", L("shell_binaries"))


def test_list_element_is_one_bare_token() -> None:  # §8.8
    assert P(r"x.y in (0a!@#:/\.;$%^&*[]{}|)") == C(F("x.y"), "in", L(r"0a!@#:/\.;$%^&*[]{}|"))


def test_empty_list() -> None:  # §8.7
    assert P("x.y in ()") == C(F("x.y"), "in", L())
    assert P("not x.y in ()") == Not(C(F("x.y"), "in", L()))
    assert P("x.y in ( )") == C(F("x.y"), "in", L())


@pytest.mark.parametrize("text, column, reason", [  # §8.7, §8.8, §8.12
    ("x.y in (a,)", 11, "expected a string value"),
    ("x.y in (,a)", 9, "expected a ')' token"),
    ("x.y in (a,,b)", 11, "expected a string value"),
    ("x.y in (", 9, "expected a ')' token"),
    ("x.y in (a", 10, "expected a ')' token"),
    ("x.y in (a b)", 11, "expected a ')' token"),
    ("x.y in (b64(y.z))", 12, "expected a ')' token"),
    ("x.y in (a=b)", 10, "expected a ')' token"),
    ('x.y in "a"', 8, "expected a list, an identifier, or a field with a valid transformer"),
    ("x.y in /bin", 8, "expected a list, an identifier, or a field with a valid transformer"),
    ("x.y in foo.bar", 11, "unexpected token after 'foo', expecting 'or', 'and'"),
])
def test_list_errors(text: str, column: int, reason: str) -> None:
    e = err(text)
    assert e.reason.startswith(reason)
    assert e.column == column


def test_ident_operand() -> None:
    assert P("proc.name in foo") == C(F("proc.name"), "in", IdentOperand("foo"))
    assert P("proc.name in foo").render() == "proc.name in (foo)"
    assert P("proc.name intersects foo_1") == C(F("proc.name"), "intersects", IdentOperand("foo_1"))
    assert P("proc.name pmatch foo and b") == And((C(F("proc.name"), "pmatch", IdentOperand("foo")), M("b")))


# ------------------------------------------------------------------------------ strings

@pytest.mark.parametrize("text, value", [
    ('"a\\bz"', "a\bz"), ('"a\\fz"', "a\fz"), ('"a\\nz"', "a\nz"), ('"a\\rz"', "a\rz"),
    ('"a\\tz"', "a\tz"), ("'a\\tz'", "a\tz"),
    ('"a\\\\z"', "a\\z"), ("'a\\\\z'", "a\\z"),
    ('"a\\/z"', "a/z"), ("'a\\/z'", "a/z"),
    ('"a\\"b"', 'a"b'),  # §8.9
    ("'a\\'b'", "a'b"),
    ('"bad \\ escape"', "bad \\escape"),  # §8.9: backslash-space keeps only the backslash
    ('"\\x41\\x2f"', "A/"),
    ('"\\x00"', "\x00"),
    ("'a\"b'", 'a"b'),
    ('"a\'b"', "a'b"),
    ('""', ""),
    ("''", ""),
    ('"a b=c,(d)"', "a b=c,(d)"),
    ('"a\\\\""', 'a\\"'),  # §8.10: the quote after `\\` does not terminate
    ('"a\\\\" and b"', 'a\\" and b'),
    ('"multi\nline"', "multi\nline"),
])
def test_quoted_strings(text: str, value: str) -> None:
    assert value_of(text) == value


@pytest.mark.parametrize("text, column, reason", [  # §8.9, §8.10
    ('fd.name = "a\\d"', 13, "unsupported string escape sequence: \\d"),
    ('fd.name = "a\\."', 13, "unsupported string escape sequence: \\."),
    ("fd.name = '\\$'", 12, "unsupported string escape sequence: \\$"),
    ('fd.name = "\\x4"', 12, "unsupported string escape sequence: \\x"),
    ('fd.name = "\\xZZ"', 12, "unsupported string escape sequence: \\x"),
    ("fd.name = 'a\\\"b'", 13, "invalid \\\" escape in '-quoted string"),
    ('fd.name = "a\\\'b"', 13, "invalid \\' escape in \"-quoted string"),
    ('fd.name = "abc', 11, "unterminated quoted string"),
    ('fd.name = "a\\\\"', 11, "unterminated quoted string"),
    ('fd.name = "a\\"', 11, "unterminated quoted string"),
    ("fd.name = 'abc", 11, "unterminated quoted string"),
    ('fd.name in (a, "b)', 16, "unterminated quoted string"),
    ('proc.env["HOME] = x', 10, "unterminated quoted string"),
    ('proc.env["H\\dME"] = x', 12, "unsupported string escape sequence: \\d"),
    ('fd.name = "x" "y"', 15, "unexpected token after '\"x\"', expecting 'or', 'and'"),
])
def test_string_errors(text: str, column: int, reason: str) -> None:
    e = err(text)
    assert e.reason == reason
    assert e.column == column


@pytest.mark.parametrize("text", ["/usr/bin/*", "runc:[0:PARENT]", "<NA>", "a\\b", "!x", "a.b.c", "x|y",
                                  "tolowerx", "0xAAA.1", "-", "évé", "a\bb"])
def test_bare_strings(text: str) -> None:
    assert value_of(text) == text


def test_bare_string_ends_at_delimiters() -> None:
    assert P("(fd.name = a)") == C(F("fd.name"), "=", S("a"))
    assert err("fd.name = a=b").column == 12
    assert err("fd.name = a,b").column == 12
    assert err("fd.name = a'b'").column == 12
    assert err("fd.name = a\fb").column == 12  # form-feed is not a blank


def test_bare_field_name_on_the_right_is_a_string() -> None:
    assert P("proc.name = proc.pname") == C(F("proc.name"), "=", S("proc.pname"))


# ------------------------------------------------------------------------------ fields

@pytest.mark.parametrize("text, field", [  # §8.11
    ("proc.aname[2]", F("proc.aname", "2")),
    ("evt.arg.flags", F("evt.arg.flags")),
    ("evt.arg[0]", F("evt.arg", "0")),
    ("proc.env[HOME]", F("proc.env", "HOME")),
    ('x.y["a b"]', F("x.y", "a b")),
    ("x.y['a b']", F("x.y", "a b")),
    ('x.y[""]', F("x.y", "")),
    ("container.mount.dest[/proc*]", F("container.mount.dest", "/proc*")),
    ("x.y[a(b),=]", F("x.y", "a(b),=")),
    ('x.y["a\\tb"]', F("x.y", "a\tb")),
    ("a1.b_2.C3", F("a1.b_2.C3")),
])
def test_field_arguments(text: str, field: FieldRef) -> None:
    node = P(f"{text} exists")
    assert node == C(field, "exists")


def test_empty_argument_is_distinct_from_none() -> None:
    assert P('x.y[""] exists') != P("x.y exists")
    assert P('x.y[""] exists').render() == 'x.y[""] exists'


@pytest.mark.parametrize("text, column, reason", [  # §8.11
    ("evt.arg[] exists", 9, "expected a valid field argument: a quoted string or a bare string"),
    ("x.y[ a ] exists", 5, "expected a valid field argument: a quoted string or a bare string"),
    ("x.y[a", 6, "expected a ']' token"),
    ("x.y[a b] exists", 6, "expected a ']' token"),
    ("x.y[a]] exists", 7, OPS_MESSAGE),
    ("x.y [a] exists", 5, OPS_MESSAGE),
    ('x.y["a"b] exists', 8, "expected a ']' token"),
    ("_a.b exists", 1, "expected a '(' token, a field check, or an identifier"),
    ("a.1b exists", 2, "unexpected token after 'a', expecting 'or', 'and'"),
    ("1a", 1, "expected a '(' token, a field check, or an identifier"),
    ("a-b", 2, "unexpected token after 'a', expecting 'or', 'and'"),
])
def test_field_errors(text: str, column: int, reason: str) -> None:
    e = err(text)
    assert e.reason.startswith(reason)
    assert e.column == column


# ------------------------------------------------------------------------------ transformers

def T(name: str, *args: object, arg: str | None = None) -> Transformer:
    return Transformer(name, tuple(args), arg)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["tolower", "toupper", "b64", "basename", "len"])
def test_simple_transformers_left_and_right(name: str) -> None:
    assert P(f"{name}(proc.name) = x") == C(T(name, F("proc.name")), "=", S("x"))
    assert P(f"proc.name = {name}(proc.pname)") == C(F("proc.name"), "=", FieldOperand(T(name, F("proc.pname"))))
    assert P(f"{name}(proc.name) exists") == C(T(name, F("proc.name")), "exists")


def test_nested_and_multi_argument_transformers() -> None:
    assert P("toupper(tolower(proc.name)) = X") == C(T("toupper", T("tolower", F("proc.name"))), "=", S("X"))
    assert P("len(proc.args) > 3") == C(T("len", F("proc.args")), ">", S("3"))
    assert P("proc.name = tolower( proc.pname )") == \
        C(F("proc.name"), "=", FieldOperand(T("tolower", F("proc.pname"))))
    assert P('join(",", (proc.name, tolower(proc.pname), "x", 3)) = a') == C(
        T("join", S(","), ListOperand((F("proc.name"), T("tolower", F("proc.pname")), S("x"), S("3")))), "=", S("a"))
    assert P("join(\"-\", ()) = a") == C(T("join", S("-"), ListOperand(())), "=", S("a"))
    assert P('concat(proc.name, "-", proc.pid) = a') == C(T("concat", F("proc.name"), S("-"), F("proc.pid")), "=", S("a"))
    assert P('getopt(proc.args, "f:")[f] = x') == C(T("getopt", F("proc.args"), S("f:"), arg="f"), "=", S("x"))
    assert P('proc.name = getopt(proc.args, "f:")["f"]') == \
        C(F("proc.name"), "=", FieldOperand(T("getopt", F("proc.args"), S("f:"), arg="f")))
    assert P("tolower(proc.env[HOME]) = x") == C(T("tolower", F("proc.env", "HOME")), "=", S("x"))
    assert P("fd.num > len(proc.name)") == C(F("fd.num"), ">", FieldOperand(T("len", F("proc.name"))))
    assert P("proc.name in tolower(proc.pname)") == C(F("proc.name"), "in", FieldOperand(T("tolower", F("proc.pname"))))


def test_transformer_name_needs_paren_glued() -> None:
    assert P("proc.name = tolowerx") == C(F("proc.name"), "=", S("tolowerx"))
    assert P('proc.name = "tolower(a.b)"') == C(F("proc.name"), "=", S("tolower(a.b)"))
    assert P("tolower") == M("tolower")


@pytest.mark.parametrize("text, column, reason", [  # §8.12
    ("b64 (x.y) exists", 5, "unexpected token after 'b64', expecting 'or', 'and'"),
    ("val(x.y) exists", 4, "unexpected token after 'val', expecting 'or', 'and'"),
    ("x.y = b64 (a.b)", 11, "unexpected token after 'b64', expecting 'or', 'and'"),
    ("tolower() = 1", 9, "expected field transformer argument"),
    ("tolower(abc) = 1", 9, "expected field transformer argument"),
    ("tolower(x.y = 1", 13, "expected a ')' token closing the transformer"),
    ("tolower(x.y) [a] = 1", 14, OPS_MESSAGE),
    ("x.y = tolower(val(a.b))", 15, "expected field transformer argument"),
    ("join(\",\", (a.b,)) = x", 16, "expected transformer list argument"),
    ("join(\",\", (abc)) = x", 12, "expected transformer list argument"),
    ("x.y = val(tolower(a.b))", 11, "expected a field within 'val' transformer"),
    ("x.y = val(a.b)[c]", 15, "unexpected token after ')', expecting 'or', 'and'"),
    ("x.y = val(a.b", 14, "expected a ')' token closing the transformer"),
    ("x.y = val (a.b)", 11, "unexpected token after 'val', expecting 'or', 'and'"),
    ("tolower(x.y) foo", 14, OPS_MESSAGE),
    ("(tolower(x.y) foo)", 15, OPS_MESSAGE),
    ("x.y = tolower(a.b) c", 20, "unexpected token after ')', expecting 'or', 'and'"),
    ("(x.y = tolower(a.b)[1] c)", 24, "expected a ')' token"),
    ("x.y = concat(a.b, tolower(c.d) e.f)", 32, "expected a ')' token closing the transformer"),
    ("join(\",\", (tolower(a.b) c.d)) = x", 25, "expected a ')' token"),
])
def test_transformer_errors(text: str, column: int, reason: str) -> None:
    e = err(text)
    assert e.reason.startswith(reason)
    assert e.column == column


def test_val() -> None:
    assert P("proc.name = val(proc.pname)") == C(F("proc.name"), "=", FieldOperand(F("proc.pname")))
    assert P("proc.name = val( proc.pname )") == C(F("proc.name"), "=", FieldOperand(F("proc.pname")))
    assert P("proc.aname[1] != val(proc.aname[2])") == \
        C(F("proc.aname", "1"), "!=", FieldOperand(F("proc.aname", "2")))
    assert P("fd.num < val(evt.num)") == C(F("fd.num"), "<", FieldOperand(F("evt.num")))
    assert P("proc.name in val(proc.pname)") == C(F("proc.name"), "in", FieldOperand(F("proc.pname")))
    assert P("proc.name = val(proc.pname)").render() == "proc.name = val(proc.pname)"


# ------------------------------------------------------------------------------ blanks, empty

def test_blanks() -> None:
    assert P("  a\t\r\n and\bb\n") == And((M("a"), M("b")))
    assert P("\n(\na\n)\n") == M("a")
    assert P("fd.name\n=\nx") == C(F("fd.name"), "=", S("x"))


def test_empty_input() -> None:
    e = err("")
    assert e.reason == "filter input string is empty"
    assert (e.offset, e.line, e.column) == (0, 1, 1)
    assert err("  \n ").reason == "expected a '(' token, a field check, or an identifier"


@pytest.mark.parametrize("text, column, reason", [
    ("(a", 3, "expected a ')' token"),
    ("(a and b", 9, "expected a ')' token"),
    ("(a b)", 4, "expected a ')' token"),
    ("not(a", 6, "expected a ')' token"),
    ("a)", 2, "unexpected token after 'a', expecting 'or', 'and'"),
    ("()", 2, "expected a '(' token, a field check, or an identifier"),
    (")", 1, "expected a '(' token, a field check, or an identifier"),
    ("a b", 3, "unexpected token after 'a', expecting 'or', 'and'"),
    ("x.y = a b", 9, "unexpected token after 'a', expecting 'or', 'and'"),
])
def test_structure_errors(text: str, column: int, reason: str) -> None:
    e = err(text)
    assert e.reason == reason
    assert e.column == column


def test_error_line_and_column_on_multiline_text() -> None:
    e = err("a and\n  b c")
    assert (e.line, e.column, e.offset) == (2, 5, 10)
    assert "line 2, column 5" in str(e)


# ------------------------------------------------------------------------------ depth

def test_depth_limit() -> None:
    ok = "(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH
    assert P(ok) == M("a")
    deep = "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1)
    e = err(deep)
    assert e.reason == f"exceeded max depth limit of {MAX_DEPTH}"
    assert e.offset == MAX_DEPTH
    nots = "not (" * (MAX_DEPTH + 5) + "a" + ")" * (MAX_DEPTH + 5)
    assert err(nots).reason.startswith("exceeded max depth")
    transformers = "tolower(" * (MAX_DEPTH + 1) + "a.b" + ")" * (MAX_DEPTH + 1) + " exists"
    assert err(transformers).reason.startswith("exceeded max depth")


def test_parentheses_inside_strings_do_not_count_toward_depth() -> None:
    many = ", ".join(['"(("'] * (MAX_DEPTH + 1))
    node = P(f"fd.name in ({many})")
    assert isinstance(node, Compare) and isinstance(node.rhs, ListOperand)
    assert len(node.rhs.items) == MAX_DEPTH + 1


def test_long_flat_chains_do_not_recurse() -> None:
    node = P(" and ".join(f"m{i}" for i in range(20000)))
    assert isinstance(node, And) and len(node.children) == 20000
    node = P("not " * 5001 + "a")
    assert node == Not(M("a"))


# ------------------------------------------------------------------------------ positions

def test_positions() -> None:
    text = "not (proc.name in (a, 'b') and tolower(fd.name) = val(x.y[1])) or m"
    node = P(text)
    assert isinstance(node, Or) and node.pos == 0
    neg, macro = node.children
    assert isinstance(neg, Not) and neg.pos == 0
    assert isinstance(macro, MacroRef) and macro.pos == text.index("m", text.index(" or "))
    conj = neg.child
    assert isinstance(conj, And) and conj.pos == text.index("proc.name")
    first, second = conj.children
    assert isinstance(first, Compare) and first.pos == 5 and first.lhs.pos == 5
    assert isinstance(first.rhs, ListOperand) and first.rhs.pos == text.index("(a")
    assert [i.pos for i in first.rhs.items] == [text.index("a,"), text.index("'b'")]
    assert isinstance(second, Compare) and second.pos == text.index("tolower")
    assert isinstance(second.lhs, Transformer) and second.lhs.args[0].pos == text.index("fd.name")
    rhs = second.rhs
    assert isinstance(rhs, FieldOperand) and rhs.pos == text.index("val(")
    assert rhs.operand.pos == text.index("x.y")


def test_position_of_groups_and_not_runs() -> None:
    assert P("(a or b) and c").pos == 0
    assert P("  a and b").pos == 2
    node = P("not not a and b")
    assert isinstance(node, And) and node.pos == 0 and node.children[0].pos == 8
    node = P("x.y = \"q\" or  z.w in foo")
    assert isinstance(node, Or)
    cmp2 = node.children[1]
    assert isinstance(cmp2, Compare) and cmp2.pos == 14
    assert isinstance(cmp2.rhs, IdentOperand) and cmp2.rhs.pos == 21


def test_every_pos_points_at_the_node_text() -> None:
    text = "evt.type = open and not proc.name in (bash, sh) or (fd.num > 3 and m)"
    for node in walk(P(text)):
        if isinstance(node, MacroRef):
            assert text.startswith(node.name, node.pos)
        elif isinstance(node, Compare):
            assert isinstance(node.lhs, FieldRef) and text.startswith(node.lhs.name, node.pos)
        elif isinstance(node, Not):
            assert text.startswith("not", node.pos)


# ------------------------------------------------------------------------------ render round trip

ROUND_TRIP = [
    "a and b or c and d",
    "not a and b",
    "not (a or not m)",
    "(a and b) and (c or d) and not (e or f)",
    "evt.type = open and proc.name in (ash, bash, \"a b\")",
    "fd.name startswith /etc and fd.name glob '/usr/bin/*'",
    "proc.name == oneof (a, b) and proc.name != allof (c)",
    "fd.num >= -1 and fd.num < 0x10 and fd.num <= 1.5e+3",
    "proc.aname[2] = sh and proc.env[HOME] contains root and x.y[\"a b\"] exists",
    'x.y[""] = "" and fd.name = "a=b" and fd.name = "tab\\there" and fd.name = \'q"uote\'',
    "tolower(proc.name) = val(proc.pname) and toupper(basename(fd.name)) = X",
    "len(proc.args) > 2 and proc.name in tolower(proc.pname)",
    "fd.name in () and not fd.name pmatch (/opt, /etc)",
    'fd.name = "bad \\ escape" and fd.name contains "a\\\\b"',
    "proc.cmdline contains runc:[0:PARENT] and fd.name = <NA>",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_render_round_trip(text: str) -> None:
    tree = P(text)
    assert P(tree.render()) == tree
    assert P(tree.render()).render() == tree.render()


def test_render_limits() -> None:
    """Shapes whose canonical text (libs as_string) does not parse back to the same tree."""
    assert P(P("not (not m)").render()) == M("m")  # printed `not not m`
    tree = P("proc.name in foo")
    assert P(tree.render()).render() == tree.render()  # IdentOperand prints as a list


def test_render_of_ident_operand_is_stable() -> None:
    tree = P("proc.name in foo")
    assert P(tree.render()) == C(F("proc.name"), "in", L("foo"))
    assert P(tree.render()).render() == tree.render()


# ------------------------------------------------------------------------------ caching

def test_results_are_cached_and_shared() -> None:
    text = "proc.name in (a, b) and fd.num > 1"
    assert P(text) is P(text)


# ------------------------------------------------------------------------------ properties

VOCAB = ["a", "m", "x.y", "proc.name", "and", "or", "not", "not(", "(", ")", "=", "==", "!=", "<", ">=",
         "in", "intersects", "pmatch", "exists", "contains", "glob", "oneof", "val(", "tolower(", "join(",
         ",", "\"", "'", "\"s t\"", "'q'", "\\", "[", "]", "[1]", "/bin/*", "0x1F", "-1", "1.5e+3", " ",
         "\t", "\n", "\b", "\f", "é", "\x00"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(VOCAB), max_size=25).map(" ".join),
    st.lists(st.sampled_from(VOCAB), max_size=25).map("".join),
))
def test_any_text_parses_or_raises_syntax_error(text: str) -> None:
    try:
        node = P(text)
    except ConditionSyntaxError as e:
        assert 0 <= e.offset <= len(text)
        assert e.reason
        assert e.line >= 1 and e.column >= 1
    else:
        assert isinstance(node, (And, Or, Not, Compare, MacroRef))


# ------------------------------------------------------------------------------ upstream corpus

def _corpus_conditions() -> list[tuple[str, str, str]]:
    found = []
    for name in ("falco_rules", "falco-incubating_rules", "falco-sandbox_rules"):
        for item in yaml.safe_load((CORPUS / f"{name}.yaml").read_text()) or []:
            if isinstance(item, dict) and "condition" in item and ("macro" in item or "rule" in item):
                found.append((name, str(item.get("macro") or item.get("rule")), str(item["condition"])))
    return found


@pytest.mark.skipif(not CORPUS.is_dir(), reason="upstream rules corpus not present")
def test_every_upstream_condition_parses() -> None:
    conditions = _corpus_conditions()
    assert len(conditions) > 300
    failures = []
    for file, name, condition in conditions:
        try:
            P(condition)
        except ConditionSyntaxError as e:
            failures.append(f"{file}: {name}: {e}")
    assert failures == []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="upstream rules corpus not present")
def test_upstream_conditions_render_round_trip() -> None:
    for _file, _name, condition in _corpus_conditions():
        tree = P(condition)
        constants = [n for n in walk(tree) if isinstance(n, Compare) and isinstance(n.rhs, StrConst)]
        if any(c.rhs.value.endswith("\\") for c in constants if isinstance(c.rhs, StrConst)):
            continue  # a value ending in a backslash cannot be written quoted (libs quirk)
        assert P(tree.render()) == tree


def test_parse_tables_are_cached_privately_and_a_bad_cache_is_rebuilt(tmp_path: Path) -> None:
    import subprocess
    import sys
    code = "import falcoish; print(falcoish.compile_condition('proc.name in (a, b)').evaluate({'proc.name': 'b'}))"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    cache = tmp_path / "falcoish" / "condition-grammar.lark-cache"
    for damage in (None, b"not a pickle"):
        if damage is not None:
            cache.write_bytes(damage)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "True"
        assert cache.stat().st_size > 1000                  # (re)written: real tables
    assert cache.parent.stat().st_mode & 0o077 == 0         # a directory only its owner can write
