"""Transformers: typing (compile errors) and values (falco-language.md §1.6, §8.26-27)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from falcoish.errors import RuleError
from falcoish.events.fieldtypes import BOOL, BYTES, INT64, IP, STRING, UINT64, FType
from falcoish.condition.transformers import TRANSFORMERS, b64_decode, getopt_scan

S = (STRING, None)
SL = (STRING, "list")


def out(name: str, *types: Any, arg: str | None = None) -> Any:
    return TRANSFORMERS[name].output_type(list(types), arg)


def bound(name: str, *types: Any, arg: str | None = None) -> Any:
    return TRANSFORMERS[name].bind(list(types), arg)


def test_registry() -> None:
    assert set(TRANSFORMERS) == {"tolower", "toupper", "b64", "basename", "len", "join",
                                 "concat", "getopt"}


# -- typing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tolower", "toupper", "basename"])
def test_string_transformers_types(name: str) -> None:
    assert out(name, S) == S
    assert out(name, SL) == SL
    for bad in [(INT64, None), (BYTES, None), (BOOL, None), (IP, None)]:
        with pytest.raises(RuleError, match=f"is not supported by '{name}' transformer"):
            out(name, bad)
    with pytest.raises(RuleError, match="exactly one argument"):
        out(name, S, S)
    with pytest.raises(RuleError, match="field arguments"):
        out(name, S, arg="x")


def test_b64_and_len_types() -> None:
    assert out("b64", S) == S and out("b64", (BYTES, None)) == (BYTES, None)
    with pytest.raises(RuleError):
        out("b64", (INT64, None))
    assert out("len", S) == (UINT64, None)
    assert out("len", (BYTES, None)) == (UINT64, None)
    assert out("len", (INT64, "list")) == (UINT64, None)  # any list: element count
    with pytest.raises(RuleError, match="'len' transformer"):
        out("len", (INT64, None))
    # nesting: the output type feeds the next transformer
    with pytest.raises(RuleError):
        out("tolower", out("len", S))


def test_multivalue_transformer_types() -> None:
    assert out("join", S, SL) == S
    assert out("join", S, [S, (INT64, None)]) == S  # join(",", (a, b))
    with pytest.raises(RuleError, match="exactly 2 arguments"):
        out("join", S)
    with pytest.raises(RuleError, match="separator"):
        out("join", SL, SL)
    with pytest.raises(RuleError, match="second argument must be a list"):
        out("join", S, S)
    assert out("concat", S, S, S) == S
    with pytest.raises(RuleError, match="at least 2"):
        out("concat", S)
    with pytest.raises(RuleError, match="must be strings"):
        out("concat", S, (INT64, None))
    with pytest.raises(RuleError, match="must be strings"):
        out("concat", S, SL)
    assert out("getopt", SL, S) == SL
    assert out("getopt", SL, S, arg="t") == S
    with pytest.raises(RuleError, match="single option character"):
        out("getopt", SL, S, arg="tt")
    with pytest.raises(RuleError, match="first argument must be a list"):
        out("getopt", S, S)
    with pytest.raises(RuleError, match="optstring"):
        out("getopt", SL, SL)
    with pytest.raises(RuleError, match="must be strings"):
        out("getopt", (UINT64, "list"), S)


# -- values -----------------------------------------------------------------------------------


def test_case_and_basename() -> None:
    assert bound("tolower", S)("AbC-é-É") == "abc-é-É"  # ASCII only, like C tolower()
    assert bound("toupper", S)("AbC-é") == "ABC-é"
    assert bound("basename", S)("/usr/bin/bash") == "bash"
    assert bound("basename", S)("bash") == "bash"
    assert bound("basename", S)("/usr/bin/") == ""
    assert bound("tolower", SL)(("A", "B")) == ("a", "b")
    assert TRANSFORMERS["toupper"].apply(("a", "b")) == ("A", "B")
    assert TRANSFORMERS["basename"].apply("/a/b") == "b"


def test_b64_decodes() -> None:  # §8.26: b64 decodes, it does not encode
    assert bound("b64", S)("aGVsbG8=") == "hello"
    assert bound("b64", S)("aGVsbG8") == "hello"  # padding optional
    assert bound("b64", (BYTES, None))(b"AP8=") == b"\x00\xff"
    assert bound("b64", S)("") == ""
    assert TRANSFORMERS["b64"].apply("YWJj") == "abc"
    assert TRANSFORMERS["b64"].apply(("YQ", "Yg")) == ("a", "b")


@pytest.mark.parametrize("text", ["a", "abcde", "aGVsbG8=!", "aGV sbG8=", "aGVs\nbG8=", "YR==",
                                  "YWI=x", "=", "==", "é", "-_-_", "YQ==="])
def test_b64_undecodable_is_none(text: str) -> None:
    assert bound("b64", S)(text) is None
    assert TRANSFORMERS["b64"].apply(("YQ", text)) is None


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=40), pad=st.booleans())
def test_b64_roundtrip(data: bytes, pad: bool) -> None:
    text = base64.b64encode(data)
    if not pad:
        text = text.rstrip(b"=")
    assert b64_decode(text) == data


def test_len() -> None:
    assert bound("len", S)("bash") == 4
    assert bound("len", S)("é") == 2  # bytes, as libsinsp measures
    assert bound("len", S)("ab\0cd") == 2  # strnlen
    assert bound("len", (BYTES, None))(b"ab\0cd") == 5
    assert bound("len", SL)(("a", "b", "c")) == 3  # §8.27: len of a list counts elements
    assert bound("len", SL)(()) == 0
    assert TRANSFORMERS["len"].apply(("x", "y")) == 2


def test_join_and_concat() -> None:
    join = bound("join", S, SL)
    assert join(",", ("a", "b", "c")) == "a,b,c"
    assert join(",", ()) == ""
    assert bound("join", S, [S, (INT64, None)])("-", ("a", 7)) == "a-7"
    assert TRANSFORMERS["join"].apply(" ", ("x", ("y", "z"), True)) == "x y z true"
    assert bound("concat", S, S)("/usr/", "bin") == "/usr/bin"
    assert TRANSFORMERS["concat"].apply("a", "b", "c") == "abc"


def test_getopt() -> None:
    argv = ("-n", "-tvalue", "-x", "-o", "out", "file", "-z")
    assert getopt_scan(argv, "nt:o:") == ("n", "t", "value", "?", "o", "out")
    assert getopt_scan(argv, "nt:o:", "t") == "value"
    assert getopt_scan(argv, "nt:o:", "o") == "out"
    assert getopt_scan(argv, "nt:o:", "n") == "n"
    assert getopt_scan(argv, "nt:o:", "z") is None  # after the first operand
    assert getopt_scan(("-ab", "--long", "-c", "--", "-d"), "abcd") == ("a", "b", "c")
    assert getopt_scan(("-t",), "t:") == ("",)  # missing value
    assert getopt_scan(("-t",), "t:", "t") == ""
    assert getopt_scan(("-t", "1", "-t", "2"), "t:", "t") == "2"  # last one wins
    assert getopt_scan(("-:",), ":a") == ("?",)
    assert bound("getopt", SL, S, arg="c")(("-c", "echo hi"), "c:") == "echo hi"
    assert bound("getopt", SL, S)(("-c", "echo hi"), "c:") == ("c", "echo hi")
    assert TRANSFORMERS["getopt"].apply(("-c", "x"), "c:", "c") == "x"


def test_bind_checks_types_too() -> None:
    with pytest.raises(RuleError):
        TRANSFORMERS["tolower"].bind([(INT64, None)])


def _ftype_strategy() -> st.SearchStrategy[FType]:
    return st.sampled_from([STRING, BYTES, INT64, BOOL, IP, UINT64])


@given(ftype=_ftype_strategy(), multi=st.sampled_from([None, "list"]))
def test_output_types_are_well_formed(ftype: FType, multi: str | None) -> None:
    for spec in TRANSFORMERS.values():
        try:
            result = spec.output_type([(ftype, multi)])
        except RuleError:
            continue
        assert isinstance(result[0], FType) and result[1] in (None, "list", "any")


# -- literal lists as transformer arguments, through `falcoish run` ---------------------------

LIST_RULES = """\
- rule: Join literal
  desc: join over a literal list mixing constants, numbers, fields and a list-valued field
  condition: >
    evt.type = openat and
    join(",", ("a", proc.name, 7, getopt(("-n", "-q"), "nq"), proc.args))
    = "a,cat,7,n,q,-n /etc/shadow"
  output: joined
  priority: WARNING
- rule: Getopt literal
  desc: getopt over a literal argv
  condition: evt.type = openat and getopt(("-t", fd.name, "-v"), "t:v")[t] = "/etc/passwd"
  output: getopt
  priority: WARNING
- rule: Empty list
  desc: an empty literal list is a list of no values
  condition: >
    evt.type = openat and fd.name = /etc/hosts and len(()) = 0 and join("-", ()) = ""
    and getopt((), "t:") exists and not getopt((), "t:")[t] exists
  output: empty
  priority: WARNING
- rule: Absent element
  desc: one absent element makes the whole list absent
  condition: evt.type = openat and fd.name = /etc/group and not join(",", ("x", proc.pname)) exists
  output: absent
  priority: WARNING
"""


def test_literal_list_arguments_compile_and_evaluate_like_libsinsp(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from falcoish.cli.main import main

    from .eventkit import open_file, process
    rules = tmp_path / "rules.yaml"
    rules.write_text(LIST_RULES)
    records = [
        open_file("/etc/shadow", thread=process("cat", ["-n", "/etc/shadow"])),
        open_file("/etc/shadow", thread=process("cat", ["/etc/shadow"])),   # near miss
        open_file("/etc/passwd"),
        open_file("/etc/hosts"),
        open_file("/etc/group", ancestors=[]),                               # no parent known
        open_file("/etc/group"),                                             # parent bash: no alert
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["run", "--no-defaults", "-r", str(rules), "-e", str(events)]) == 0
    alerts = [line.split(" ")[2] for line in capsys.readouterr().out.splitlines()
              if line[:2].isdigit()]
    assert alerts == ["joined", "getopt", "empty", "absent"]


# -- transformers in outputs (libsinsp's formatter reads a field or a transformer after `%`) ----

OUTPUT_RULES = """\
- rule: Transformed output
  desc: transformers after %
  condition: evt.type = openat
  output: >-
    up=%toupper(proc.name) j=%join(",", (proc.name, fd.name, 7)) opt=%getopt(("-n", proc.name), "n")
    t=%getopt(("-t", "x y"), "t:")[t] n=%len(proc.args)x w=[%8basename(fd.name)]
  priority: WARNING
"""


def test_transformers_in_outputs_render_and_list_their_plain_fields(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from falcoish.cli.main import main

    from .eventkit import open_file, process
    rules = tmp_path / "rules.yaml"
    rules.write_text(OUTPUT_RULES)
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(open_file("/etc/shadow", thread=process("cat", ["-n", "/etc/shadow"])))
                      + "\n")
    assert main(["run", "--no-defaults", "--json", "-r", str(rules), "-e", str(events)]) == 0
    alert = json.loads(capsys.readouterr().out.splitlines()[0])
    assert alert["output"].split(": Warning ", 1)[1].startswith(
        "up=CAT j=cat,/etc/shadow,7 opt=(n) t=x y n=14x w=[shadow  ] ")
    fields = alert["output_fields"]
    assert fields["proc.name"] == "cat" and fields["fd.name"] == "/etc/shadow"
    assert fields["proc.args"] == "-n /etc/shadow"
    assert not [key for key in fields if "(" in key]   # transformed values stay out of JSON


@pytest.mark.parametrize("output, reason", [
    ("%tolower(proc.nope)", "invalid formatting token %tolower(proc.nope): filter_check called "
                            "with nonexistent field proc.nope"),
    ('%join(",", proc.name)', "join() second argument must be a list"),
    ("%len(proc.name and more", "invalid formatting token %len(proc.name: expected a ')' token"),
])
def test_bad_transformers_in_outputs_are_output_errors(
        tmp_path: Any, capsys: pytest.CaptureFixture[str], output: str, reason: str) -> None:
    from falcoish.cli.main import main
    rules = tmp_path / "rules.yaml"
    rules.write_text("- rule: r\n  desc: d\n  condition: evt.type = openat\n"
                     f"  output: '{output}'\n  priority: WARNING\n")
    assert main(["validate", "--no-defaults", "-r", str(rules)]) != 0
    out = capsys.readouterr()
    assert "LOAD_ERR_COMPILE_OUTPUT" in out.out + out.err and reason in out.out + out.err
