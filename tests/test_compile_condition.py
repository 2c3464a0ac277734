"""The Python API: compile a condition and evaluate it on plain field values.

Every operator is checked true, false and on an absent field (absent makes every check
false, so its negation true, as in Falco)."""

from __future__ import annotations

import pytest

import falcoish
from falcoish import ConditionSyntaxError, RuleError, compile_condition

# (condition, fields where true, fields where false); the field under test is absent in {}
OPERATOR_CASES = [
    ("proc.name = bash", {"proc.name": "bash"}, {"proc.name": "Bash"}),
    ("proc.name == bash", {"proc.name": "bash"}, {"proc.name": "sh"}),
    ("proc.name != bash", {"proc.name": "sh"}, {"proc.name": "bash"}),
    ("fd.num < 0", {"fd.num": -1}, {"fd.num": 0}),
    ("fd.num <= 3", {"fd.num": 3}, {"fd.num": 4}),
    ("fd.num > 2", {"fd.num": 3}, {"fd.num": 2}),
    ("fd.num >= 3", {"fd.num": 3}, {"fd.num": 2}),
    ("fd.name > 1", {"fd.name": "z"}, {"fd.name": "0"}),
    ("proc.cmdline contains -i", {"proc.cmdline": "bash -i"}, {"proc.cmdline": "bash -c"}),
    ("proc.cmdline icontains PASSWORD", {"proc.cmdline": "grep password"}, {"proc.cmdline": "grep pw"}),
    ("evt.buffer bcontains 6162", {"evt.buffer": "xabx"}, {"evt.buffer": "xbax"}),
    ("fd.name startswith /etc/", {"fd.name": "/etc/shadow"}, {"fd.name": "/tmp/etc/"}),
    ("evt.buffer bstartswith 7f454c46", {"evt.buffer": "\x7fELF..."}, {"evt.buffer": "MZ"}),
    ("fd.name endswith .pem", {"fd.name": "/k/a.pem"}, {"fd.name": "/k/a.pem.bak"}),
    ("fd.name glob '/home/*/.ssh/*'", {"fd.name": "/home/a/b/.ssh/k"}, {"fd.name": "/home/a/.sshx/k"}),
    ("fd.name iglob '*.PEM'", {"fd.name": "/x/a.pem"}, {"fd.name": "/x/a.pe"}),
    ("proc.name regex 'ba[s]h[0-9]*'", {"proc.name": "bash5"}, {"proc.name": "xbash"}),
    ("fd.name pmatch (/opt/dir, /srv)", {"fd.name": "/opt/dir/sub/f"}, {"fd.name": "/opt/dir2"}),
    ("proc.name in (bash, sh)", {"proc.name": "sh"}, {"proc.name": "zsh"}),
    ("proc.name intersects (bash, sh)", {"proc.name": "bash"}, {"proc.name": "zsh"}),
    ("proc.name exists", {"proc.name": "x"}, None),
    ("proc.name = oneof (a, b)", None, None),
    ("proc.name startswith anyof (ba, zs)", {"proc.name": "zsh"}, {"proc.name": "sh"}),
    ("fd.sip = 10.0.0.1", {"fd.sip": "10.0.0.1"}, {"fd.sip": "10.0.0.2"}),
    ("fd.net = 10.0.0.0/8", {"fd.net": ["10.1.2.3", "192.168.0.1"]}, {"fd.net": ["11.0.0.1"]}),
    ("proc.aname = sshd", {"proc.aname": ["bash", "sshd"]}, {"proc.aname": ["bash", "init"]}),
    ("proc.name = val(proc.pname)", {"proc.name": "a", "proc.pname": "a"}, {"proc.name": "a", "proc.pname": "b"}),
    ("tolower(proc.name) = bash", {"proc.name": "BaSh"}, {"proc.name": "zsh"}),
    ("len(proc.name) > 3", {"proc.name": "abcd"}, {"proc.name": "abc"}),
]


@pytest.mark.parametrize("cond,true_fields,false_fields", OPERATOR_CASES, ids=[c[0] for c in OPERATOR_CASES])
def test_operator_true_false_and_absent(cond: str, true_fields: dict | None, false_fields: dict | None) -> None:
    compiled = compile_condition(cond)
    if true_fields is not None:
        assert compiled.evaluate(true_fields) is True
    if false_fields is not None:
        assert compiled.evaluate(false_fields) is False
    assert compiled.evaluate({}) is False
    assert compile_condition(f"not ({cond})").evaluate({}) is True


def test_oneof_requires_exactly_one_match() -> None:
    cond = compile_condition("proc.name contains oneof (ba, sh)")
    assert cond.evaluate({"proc.name": "bax"})
    assert not cond.evaluate({"proc.name": "bash"})      # both match
    assert not cond.evaluate({"proc.name": "zzz"})


def test_not_equal_is_false_when_absent() -> None:
    assert compile_condition("proc.name != bash").evaluate({}) is False


def test_precedence_not_and_or() -> None:
    cond = compile_condition("proc.name = a or proc.name = b and fd.num = 1")
    assert cond.evaluate({"proc.name": "a", "fd.num": 2})          # a or (b and 1)
    assert not cond.evaluate({"proc.name": "b", "fd.num": 2})
    neg = compile_condition("not proc.name = a and fd.num = 1")     # (not a) and 1
    assert neg.evaluate({"proc.name": "b", "fd.num": 1})
    assert not neg.evaluate({"proc.name": "b", "fd.num": 2})
    assert compile_condition("not (proc.name = a and fd.num = 1)").evaluate({"proc.name": "b", "fd.num": 2})


@pytest.mark.parametrize("value,expected", [
    ('"a b"', "a b"), ("'a b'", "a b"), (r'"tab\there"', "tab\there"), (r'"q\"q"', 'q"q'),
    (r"'s\'s'", "s's"), (r'"back\\slash"', "back\\slash"), ("runc:[0:PARENT]", "runc:[0:PARENT]"),
    ("<NA>", "<NA>"), (r'"\x41"', "A"),
])
def test_quoting_and_escaping(value: str, expected: str) -> None:
    assert compile_condition(f"proc.name = {value}").evaluate({"proc.name": expected})


def test_macros_and_nested_lists() -> None:
    cond = compile_condition("spawned and proc.name in (all_shells)",
                             macros={"spawned": "evt.type in (execve, execveat)"},
                             lists={"basic": ["sh", "bash"], "all_shells": ["basic", "zsh"]})
    assert cond.evaluate({"evt.type": "execveat", "proc.name": "bash"})
    assert cond.evaluate({"evt.type": "execve", "proc.name": "zsh"})
    assert not cond.evaluate({"evt.type": "open", "proc.name": "zsh"})
    assert cond.render() == "(evt.type in (execve, execveat) and proc.name in (sh, bash, zsh))"


def test_macro_cycle_and_undefined_are_rule_errors() -> None:
    with pytest.raises(RuleError, match="reference loop"):
        compile_condition("a", macros={"a": "b", "b": "a"})
    with pytest.raises(RuleError, match="Undefined macro 'nope'"):
        compile_condition("proc.name = x and nope")


def test_unknown_field_and_type_mismatch_raise_rule_error() -> None:
    with pytest.raises(RuleError, match="proc.nmae"):
        compile_condition("proc.nmae = x")
    with pytest.raises(RuleError, match="not supported"):
        compile_condition("fd.num contains 1")
    with pytest.raises(RuleError, match="unknown event type"):
        compile_condition("evt.type = nosuchcall")
    with pytest.raises(RuleError):
        compile_condition("fd.num = abc")


def test_parse_condition_errors_carry_line_and_column() -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        falcoish.parse_condition("proc.name = a and\n (fd.num = 1")
    assert info.value.line == 2
    assert info.value.column >= 2


def test_not_equal_on_either_end_fields_means_neither_end() -> None:
    cond = compile_condition("fd.ip != 10.0.0.1")
    assert not cond.evaluate({"fd.ip": ["10.0.0.1", "10.0.0.2"]})
    assert cond.evaluate({"fd.ip": ["10.0.0.3", "10.0.0.2"]})
    # whereas bare proc.aname != x holds when *some* ancestor is not x (Falco's semantics)
    assert compile_condition("proc.aname != sshd").evaluate({"proc.aname": ["sshd", "bash"]})
