"""Operators, constant typing and their Falco edge cases (falco-language.md §1.4, §1.7, §8)."""

from __future__ import annotations

import ctypes
import ctypes.util
import locale
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from typing import Any, Iterator

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from falcoish.condition.constants import parse_constant, parse_int
from falcoish.errors import RuleError
from falcoish.events.fieldtypes import (ABSTIME, BOOL, BYTES, DOUBLE, INT64, IP, IPNET, PORT, RELTIME,
                                        STRING, UINT32, UINT64, FType, Kind)
from falcoish.condition.operators import (LIST_OPERATORS, MODIFIERS, OPERATORS, PathPrefixSet,
                                          check_operator, compile_glob, compile_regex, make_field_predicate,
                                          make_predicate)

INT16 = FType(Kind.INT, 16, True)
UINT8 = FType(Kind.INT, 8, False)

_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))
_FNMATCH = _LIBC.fnmatch
_FNMATCH.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
_FNM_CASEFOLD = 1 << 4


@pytest.fixture(scope="module")
def c_locale() -> Iterator[None]:
    """glibc fnmatch/sscanf as Falco runs them: the C locale (byte semantics)."""
    saved = locale.setlocale(locale.LC_ALL)
    locale.setlocale(locale.LC_ALL, "C")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def pred(op: str, ftype: FType, *constants: str, multi: str | None = None,
         modifier: str | None = None) -> Any:
    return make_predicate(op, ftype, multi, list(constants), modifier)


# -- the operator set ------------------------------------------------------------------------


def test_operator_sets() -> None:
    assert OPERATORS == {"=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains",
                         "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob",
                         "regex", "pmatch", "in", "intersects", "exists"}
    assert LIST_OPERATORS == {"in", "intersects", "pmatch"}
    assert MODIFIERS == {"oneof", "anyof", "allof"}


# -- allowed operator x type (§1.4 table) ---------------------------------------------------

NUMERIC = {"=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects", "exists"}
ALLOWED: list[tuple[FType, set[str]]] = [
    (INT64, NUMERIC), (UINT32, NUMERIC), (INT16, NUMERIC), (PORT, NUMERIC), (ABSTIME, NUMERIC),
    (RELTIME, NUMERIC), (DOUBLE, NUMERIC),
    (BOOL, {"=", "==", "!=", "in", "intersects", "exists"}),
    (STRING, set(OPERATORS) - {"bcontains", "bstartswith"}),
    (BYTES, {"=", "==", "!=", "contains", "startswith", "endswith", "in", "intersects",
             "bcontains", "bstartswith", "exists"}),
    (IP, {"=", "==", "!=", "in", "intersects", "exists"}),
    (IPNET, {"=", "==", "!=", "in", "intersects", "exists"}),
]


@pytest.mark.parametrize("ftype,allowed", ALLOWED, ids=[str(t) for t, _ in ALLOWED])
def test_allowed_operator_table(ftype: FType, allowed: set[str]) -> None:
    for op in sorted(OPERATORS):
        if op in allowed:
            check_operator(op, ftype, None)
        else:
            with pytest.raises(RuleError, match=f"'{op}' operator not supported for"):
                check_operator(op, ftype, None)


def test_disallowed_messages_name_the_type_family() -> None:
    cases = [("contains", INT64, "numeric"), ("<", BOOL, "numeric"), ("bcontains", STRING, "string"),
             ("glob", BYTES, "buffer"), ("<", IP, "ip address and network")]
    for op, ftype, family in cases:
        with pytest.raises(RuleError) as info:
            check_operator(op, ftype, None)
        assert info.value.reason == f"'{op}' operator not supported for {family} filters"


@pytest.mark.parametrize("ftype", [STRING, UINT64, IP, BOOL], ids=str)
def test_list_fields_take_only_in_intersects_exists(ftype: FType) -> None:
    for op in sorted(OPERATORS):
        if op in {"in", "intersects", "exists"}:
            check_operator(op, ftype, "list")
        else:
            with pytest.raises(RuleError, match="list filters"):
                check_operator(op, ftype, "list")


def test_unknown_operator() -> None:
    with pytest.raises(RuleError, match="unrecognized"):
        check_operator("like", STRING, None)


# -- modifiers (§1.4, §8.28) ------------------------------------------------------------------


@pytest.mark.parametrize("op", ["=", "==", "!=", "contains", "icontains", "startswith", "endswith",
                                "glob", "iglob", "regex"])
def test_string_operators_take_modifiers(op: str) -> None:
    for modifier in sorted(MODIFIERS):
        check_operator(op, STRING, None, modifier)


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "in", "intersects", "pmatch", "exists"])
def test_numeric_and_list_operators_reject_modifiers(op: str) -> None:
    with pytest.raises(RuleError, match="modifier"):
        check_operator(op, STRING, None, "anyof")


def test_modifier_rules_for_ip_and_list_fields() -> None:
    check_operator("=", IP, None, "oneof")
    check_operator("!=", IPNET, None, "allof")
    with pytest.raises(RuleError):
        check_operator("in", IP, None, "anyof")
    with pytest.raises(RuleError):
        check_operator("in", STRING, "list", "anyof")
    with pytest.raises(RuleError, match="unrecognized operator modifier"):
        check_operator("=", STRING, None, "someof")


def test_modifier_semantics() -> None:
    oneof = pred("==", STRING, "a", "b", modifier="oneof")
    assert oneof("a") and not oneof("c")
    assert not pred("==", STRING, "a", "a", modifier="oneof")("a")  # two elements match
    assert not pred("==", STRING, "a", "b", modifier="allof")("a")
    assert pred("==", STRING, "a", "a", modifier="allof")("a")
    assert pred("==", STRING, "a", "b", modifier="anyof")("b")
    assert pred("!=", STRING, "a", "b", modifier="allof")("c")
    assert not pred("!=", STRING, "a", "b", modifier="allof")("a")
    assert pred("!=", STRING, "a", "b", modifier="anyof")("a")
    assert not pred("!=", STRING, "a", "a", modifier="anyof")("a")
    assert pred("!=", STRING, "a", "b", modifier="oneof")("a")
    assert not pred("!=", STRING, "a", "b", modifier="oneof")("c")
    assert pred("contains", STRING, "ab", "cd", modifier="allof")("abcd")
    assert not pred("contains", STRING, "ab", "xy", modifier="allof")("abcd")
    assert pred("contains", STRING, "ab", "bc", modifier="oneof")("abxx")
    assert not pred("contains", STRING, "ab", "bc", modifier="oneof")("abc")
    assert pred("startswith", STRING, "/usr", "/bin", modifier="anyof")("/bin/sh")
    assert not pred("endswith", STRING, ".so", ".a", modifier="anyof")("lib.c")
    assert pred("glob", STRING, "*.sh", "/tmp/*", modifier="allof")("/tmp/x.sh")
    assert pred("regex", STRING, "a+", "b+", modifier="oneof")("aaa")
    assert pred("=", INT64, "1", "2", modifier="anyof")(2)
    assert pred("=", IP, "10.0.0.1", "192.168.0.0/16", modifier="anyof")(IPv4Address("192.168.3.4"))
    assert pred("!=", IP, "10.0.0.0/8", "192.168.0.0/16", modifier="allof")(IPv4Address("1.1.1.1"))
    assert pred("bcontains", BYTES, "00ff", "6162", modifier="anyof")(b"xab")


@pytest.mark.parametrize("modifier", sorted(MODIFIERS))
@pytest.mark.parametrize("op", ["=", "!=", "contains"])
def test_modifier_with_empty_list_is_false(op: str, modifier: str) -> None:
    assert not pred(op, STRING, modifier=modifier)("a")
    assert not pred(op, STRING, modifier=modifier)("")


# -- every operator, per allowed type: one true and one false case -----------------------------

A = IPv4Address


def _numeric_cases() -> list[tuple[str, FType, tuple[str, ...], Any, Any]]:
    """Every numeric operator on every numeric type, around the constant 5."""
    cases: list[tuple[str, FType, tuple[str, ...], Any, Any]] = []
    for ftype in (INT64, UINT32, INT16, PORT, ABSTIME, RELTIME, DOUBLE):
        v = (lambda n: float(n)) if ftype.kind is Kind.DOUBLE else (lambda n: n)
        cases += [
            ("=", ftype, ("5",), v(5), v(6)), ("==", ftype, ("5",), v(5), v(4)),
            ("!=", ftype, ("5",), v(6), v(5)), ("<", ftype, ("5",), v(4), v(5)),
            ("<=", ftype, ("5",), v(5), v(6)), (">", ftype, ("5",), v(6), v(5)),
            (">=", ftype, ("5",), v(5), v(4)), ("in", ftype, ("1", "5"), v(5), v(3)),
            ("intersects", ftype, ("1", "5"), v(1), v(3)),
        ]
    return cases


CASES: list[tuple[str, FType, tuple[str, ...], Any, Any]] = _numeric_cases() + [
    # numeric specials: wrapping, services, doubles
    ("==", INT64, ("-5",), -5, 5), ("=", UINT32, ("-1",), 4294967295, 1),
    ("=", PORT, ("http",), 80, 81), ("in", PORT, ("ssh", "80"), 22, 23),
    ("<", DOUBLE, ("2",), 1.5, 2.0), (">", DOUBLE, ("2",), 2.5, 2.0), ("=", DOUBLE, ("2",), 2, 2.5),
    # bool
    ("=", BOOL, ("true",), True, False), ("==", BOOL, ("false",), False, True),
    ("!=", BOOL, ("true",), False, True),
    ("in", BOOL, ("false",), False, True), ("intersects", BOOL, ("true",), True, False),
    # strings
    ("=", STRING, ("abc",), "abc", "abd"), ("==", STRING, ("abc",), "abc", "ABC"),
    ("!=", STRING, ("abc",), "abd", "abc"), ("<", STRING, ("b",), "a", "b"),
    ("<=", STRING, ("b",), "b", "ba"), (">", STRING, ("b",), "ba", "b"), (">=", STRING, ("b",), "b", "a"),
    ("contains", STRING, ("bc",), "abcd", "acbd"), ("icontains", STRING, ("BC",), "aBcd", "abd"),
    ("startswith", STRING, ("ab",), "abc", "cab"), ("endswith", STRING, ("bc",), "abc", "bca"),
    ("glob", STRING, ("a*c",), "abbc", "abcd"), ("iglob", STRING, ("A*C",), "abbc", "abcd"),
    ("regex", STRING, ("a.c",), "abc", "abcd"), ("pmatch", STRING, ("/opt/dir",), "/opt/dir/x", "/opt/dir2"),
    ("in", STRING, ("a", "b"), "a", "c"), ("intersects", STRING, ("a", "b"), "b", "c"),
    # byte buffers
    ("=", BYTES, ("ab",), b"ab", b"abc"), ("==", BYTES, ("ab",), b"ab", b"a"), ("!=", BYTES, ("ab",), b"abc", b"ab"),
    ("contains", BYTES, ("b",), b"abc", b"ac"), ("startswith", BYTES, ("ab",), b"abc", b"bac"),
    ("endswith", BYTES, ("bc",), b"abc", b"bca"), ("bcontains", BYTES, ("6263",), b"abcd", b"acbd"),
    ("bstartswith", BYTES, ("6162",), b"abc", b"bac"), ("bcontains", BYTES, ("00FF",), b"x\x00\xffy", b"\xff\x00"),
    ("in", BYTES, ("ab", "cd"), b"cd", b"c"), ("intersects", BYTES, ("ab",), b"ab", b"a"),
    # addresses and networks
    ("=", IP, ("10.0.0.1",), A("10.0.0.1"), A("10.0.0.2")), ("==", IP, ("::1",), IPv6Address("::1"), A("0.0.0.1")), ("!=", IP, ("10.0.0.1",), A("10.0.0.2"), A("10.0.0.1")),
    ("=", IP, ("::1",), IPv6Address("::1"), A("127.0.0.1")), ("!=", IP, ("::1",), A("127.0.0.1"), IPv6Address("::1")),
    ("=", IP, ("10.0.0.0/8",), A("10.9.9.9"), A("11.0.0.1")), ("!=", IP, ("10.0.0.0/8",), A("11.0.0.1"), A("10.0.0.1")),
    ("in", IP, ("10.0.0.1", "::1"), IPv6Address("::1"), A("10.0.0.2")),
    ("in", IP, ("1.2.3.4", "172.16.0.0/12"), A("172.17.0.5"), A("172.32.0.1")),
    ("intersects", IP, ("10.0.0.1",), A("10.0.0.1"), A("10.0.0.3")),
    ("=", IPNET, ("10.0.0.0/8",), A("10.1.2.3"), A("11.0.0.1")), ("==", IPNET, ("::/0",), IPv6Address("::2"), A("1.1.1.1")), ("!=", IPNET, ("10.0.0.0/8",), A("11.0.0.1"), A("10.1.2.3")),
    ("=", IPNET, ("fd00::/8",), IPv6Address("fd12::1"), A("10.0.0.1")),
    ("in", IPNET, ("10.0.0.0/8", "192.168.0.0/16"), A("192.168.1.1"), A("172.16.0.1")),
    ("intersects", IPNET, ("10.0.0.0/8",), A("10.0.0.1"), A("9.0.0.1")),
]


@pytest.mark.parametrize("op,ftype,constants,true_value,false_value", CASES,
                         ids=[f"{c[1]} {c[0]} {','.join(c[2])}" for c in CASES])
def test_operator_true_and_false(op: str, ftype: FType, constants: tuple[str, ...],
                                 true_value: Any, false_value: Any) -> None:
    check = make_predicate(op, ftype, None, list(constants))
    assert check(true_value)
    assert not check(false_value)


def test_every_allowed_operator_has_a_case() -> None:
    covered = {(c[0], c[1].kind) for c in CASES}
    for ftype, allowed in ALLOWED:
        for op in allowed - {"exists"}:
            assert (op, ftype.kind) in covered, (op, ftype)


def test_value_of_another_type_never_compares_equal() -> None:
    assert not pred("=", STRING, "5")(5)
    assert not pred("=", INT64, "5")("5")
    assert pred("!=", INT64, "5")("5")


def test_exists_is_true_for_any_present_value() -> None:
    assert pred("exists", STRING)("") and pred("exists", INT64)(0) and pred("exists", BOOL)(False)


def test_in_with_empty_list_is_false() -> None:  # §8.7: `x in ()` is always false
    assert not pred("in", STRING)("a")
    assert not pred("in", STRING, multi="list")(("a",))
    assert not pred("intersects", STRING, multi="list")(())
    assert not pred("pmatch", STRING)("/")


# -- §8.14 (absent values) through the public API ---------------------------------------------


@pytest.fixture(scope="module")
def compile_condition() -> Any:
    api = pytest.importorskip("falcoish.api")
    return api.compile_condition


def test_absent_field_every_check_false_negation_true(compile_condition: Any) -> None:
    for text in ["proc.name != bash", "proc.name = bash", "proc.name exists",
                 "proc.name in (a, b)", "proc.name glob '*'", "proc.name pmatch (/)"]:
        assert not compile_condition(text).evaluate({}), text
        assert compile_condition(f"not {text}").evaluate({}), text
    assert compile_condition("proc.name != bash").evaluate({"proc.name": "sh"})


def test_len_of_absent_field_is_false(compile_condition: Any) -> None:  # §8.27
    assert not compile_condition("len(proc.pname) = 0").evaluate({})
    assert compile_condition("len(proc.pname) = 4").evaluate({"proc.pname": "bash"})


# -- §8.15 case sensitivity ----------------------------------------------------------------------


def test_case_sensitive_operators() -> None:
    for op, text in [("startswith", "/BIN"), ("endswith", "SH"), ("contains", "BIN"),
                     ("glob", "/BIN/*"), ("=", "/BIN/SH")]:
        assert not pred(op, STRING, text)("/bin/sh"), op
    assert pred("icontains", STRING, "BIN")("/bin/sh")
    assert pred("iglob", STRING, "/BIN/*")("/bin/sh")
    assert pred("icontains", STRING, "o_creat")("O_RDWR|O_CREAT")  # evt.arg.flags icontains o_creat
    # folding is ASCII only, as C tolower() in the C locale
    assert not pred("icontains", STRING, "é")("É")
    assert pred("icontains", STRING, "Straße")("STRAßE")


# -- §8.16 glob ----------------------------------------------------------------------------------


def test_glob_examples() -> None:
    assert pred("glob", STRING, "/home/*/.ssh/*")("/home/a/b/.ssh/k")  # * crosses '/'
    star = pred("glob", STRING, "a\\*b")  # bare a\*b, or 'a\\*b' quoted
    assert star("a*b") and not star("axb") and not star("a\\xb")
    negated = pred("glob", STRING, "[^a]")
    assert negated("b") and not negated("a")
    assert pred("glob", STRING, ".*")(".bashrc")  # leading dots are not special
    assert pred("glob", STRING, "[!a-c]x")("dx") and not pred("glob", STRING, "[!a-c]x")("bx")
    assert pred("glob", STRING, "[[:digit:]]?")("1/")
    assert pred("glob", STRING, "[")("[") and pred("glob", STRING, "[[")("[[")
    assert not pred("glob", STRING, "ab\\")("ab\\")  # trailing backslash never matches


def test_python_fnmatch_differs_from_glibc(c_locale: None) -> None:
    import fnmatch
    # Python treats '\' literally and '[^a]' as the characters '^' and 'a'.
    assert fnmatch.fnmatchcase("a*b", "a\\*b") is False
    assert _FNMATCH(b"a\\*b", b"a*b", 0) == 0
    assert fnmatch.fnmatchcase("b", "[^a]") is False
    assert compile_glob("[^a]")("b")


def test_glob_on_non_ascii_counts_bytes(c_locale: None) -> None:
    for pattern, value in [("?", "é"), ("??", "é"), ("[é]", "é"), ("[é][é]", "é"), ("*é*", "café!")]:
        want = _FNMATCH(pattern.encode(), value.encode(), 0) == 0
        assert compile_glob(pattern)(value) == want, (pattern, value)


_GLOB_PIECES = ["a", "b", "Z", "*", "?", "[", "]", "!", "^", "-", "\\", ":", "/", ".", "=",
                "[:alpha:]", "[:upper:]", "[:foo:]", "[.a.]", "[=a=]", "[.", "[!", "[]", "a-z", "é"]
_GLOB_CHARS = ["a", "b", "A", "Z", "z", "1", "[", "]", "-", "!", "^", "\\", ":", "/", ".", "=", "é"]


@settings(max_examples=3000, deadline=None)
@given(pattern=st.lists(st.sampled_from(_GLOB_PIECES), max_size=7).map("".join),
       value=st.lists(st.sampled_from(_GLOB_CHARS), max_size=7).map("".join),
       fold=st.booleans())
def test_glob_matches_glibc_fnmatch(c_locale: None, pattern: str, value: str, fold: bool) -> None:
    want = _FNMATCH(pattern.encode(), value.encode(), _FNM_CASEFOLD if fold else 0) == 0
    assert compile_glob(pattern, fold)(value) == want


@settings(max_examples=500, deadline=None)
@given(pattern=st.text(alphabet="ab*?/.", max_size=10), value=st.text(alphabet="ab/.", max_size=12))
def test_star_only_fast_path_matches_glibc(c_locale: None, pattern: str, value: str) -> None:
    for fold in (False, True):
        want = _FNMATCH(pattern.encode(), value.encode(), _FNM_CASEFOLD if fold else 0) == 0
        assert compile_glob(pattern, fold)(value) == want


# -- §8.17 regex ---------------------------------------------------------------------------------


def test_regex_full_match() -> None:
    assert pred("regex", STRING, "syscal.*")("syscall")
    assert not pred("regex", STRING, "yscal.*")("syscall")
    assert pred("regex", STRING, "[[:digit:]]{2,3}\\.x")("123.x")
    assert pred("regex", STRING, "a*?")("aaa")  # accepted: a nested quantifier
    assert pred("regex", STRING, "(a|ab)(c|bcd)")("abcd")


@pytest.mark.parametrize("pattern", ["\\d", "\\s", "\\w", "\\bx", "\\Ax", "\\pL", "(?i)a", "(?:a)", "("])
def test_regex_rejects_perl_syntax(pattern: str) -> None:
    with pytest.raises(RuleError, match="invalid regular expression"):
        pred("regex", STRING, pattern)


def test_regex_with_field_on_right_fails() -> None:
    with pytest.raises(RuleError):
        make_field_predicate("regex", STRING)
    with pytest.raises(RuleError):
        make_field_predicate("pmatch", STRING)


def test_regex_non_ascii_and_surrogates() -> None:
    assert compile_regex("caf.")("café")
    assert not compile_regex("x")("\udcff")


# -- §8.18 pmatch ---------------------------------------------------------------------------------


def test_pmatch_examples() -> None:
    opt = pred("pmatch", STRING, "/opt/dir")
    assert opt("/opt/dir/sub/f") and opt("/opt/dir") and not opt("/opt/dir2")
    assert not opt("/opt")  # shorter than the search path
    assert opt("opt//dir/") and pred("pmatch", STRING, "opt/dir/")("/opt/dir/x")
    wild = pred("pmatch", STRING, "/opt/*/sub")
    assert wild("/opt/x/sub/f") and not wild("/opt/x/y/sub")
    everything = pred("pmatch", STRING, "/")
    assert everything("/anything") and everything("") and everything("relative")


def test_pmatch_trie_behaviour() -> None:
    paths = PathPrefixSet(["/usr/lib", "/usr", "/var/run", "/var/lib/[ab]*", "/etc/x"])
    assert paths.match("/usr/share") and paths.match("/var/run/docker.sock")
    assert paths.match("/var/lib/apt/lists") and not paths.match("/var/lib/dpkg")
    assert not paths.match("/var") and not paths.match("/etc") and paths.match("/etc/x/y")
    # a direct component that fails deeper still lets a glob sibling match
    mixed = PathPrefixSet(["/a/b/c", "/a/?/d"])
    assert mixed.match("/a/b/d/e") and mixed.match("/a/b/c") and not mixed.match("/a/b/e")
    longer_after = PathPrefixSet(["/a", "/a/b"])
    assert longer_after.match("/a/x")


# -- §8.19 in / intersects ---------------------------------------------------------------------


def test_intersects_on_scalar_is_in() -> None:
    for value in ["a", "b", "z"]:
        assert pred("in", STRING, "a", "b")(value) == pred("intersects", STRING, "a", "b")(value)


def test_list_fields_in_is_subset_intersects_overlap() -> None:
    subset = pred("in", STRING, "ipv4", "ipv6", multi="list")
    overlap = pred("intersects", STRING, "ipv4", "ipv6", multi="list")
    assert subset(("ipv4",)) and subset(("ipv4", "ipv6"))
    assert not subset(("ipv4", "unix")) and overlap(("ipv4", "unix"))
    assert not overlap(("file", "unix"))
    assert pred("in", UINT64, "1", "2", multi="list")((1, 2, 1))
    ips = pred("in", IP, "10.0.0.0/8", "::1", multi="list")
    assert ips((A("10.1.1.1"), IPv6Address("::1"))) and not ips((A("11.1.1.1"),))


# -- §8.20 - 22 numeric and typing ----------------------------------------------------------------


def test_numeric_compare_uses_field_type() -> None:
    assert pred("<", INT64, "0")(-1)  # fd.num < 0 for -1
    assert not pred(">", INT64, "4294967295")(-1)
    assert not pred(">", INT64, "4294967295")(5)
    pred(">", INT16, "-500")  # evt.cpu > -500 compiles
    assert pred(">", INT16, "-500")(0)
    assert pred("=", UINT32, "4294967296")(0)  # overflow wraps on 32-bit fields


def test_string_order_is_bytewise() -> None:  # fd.name > 1
    gt = pred(">", STRING, "1")
    assert gt("2") and gt("10") and not gt("0") and not gt("1")
    assert pred("<", STRING, "a")("Z")  # 'Z' (0x5a) < 'a' (0x61)
    assert pred(">", STRING, "z")("é")  # UTF-8 bytes above ASCII


def test_bool_typing_errors() -> None:
    with pytest.raises(RuleError):
        make_predicate("<", BOOL, None, ["true"])  # evt.is_io < true
    with pytest.raises(RuleError, match="TRUE"):
        make_predicate("=", BOOL, None, ["TRUE"])  # bool constants are lowercase


def test_double_takes_integer_constants_only() -> None:
    with pytest.raises(RuleError, match="1.0 is not a valid number"):
        make_predicate("=", DOUBLE, None, ["1.0"])
    assert pred("=", DOUBLE, "1")(1.0)


def test_bad_constants_are_rule_errors() -> None:
    for op, ftype, text in [("=", INT64, "0x1F"), ("=", INT64, "12 "), ("=", IP, "1.2.3"),
                            ("=", IPNET, "10.0.0.1"), ("=", PORT, "no-such-service-x"),
                            ("bcontains", BYTES, "abc"), ("bstartswith", BYTES, "zz"),
                            ("bcontains", BYTES, "61 62"), ("in", INT64, "x")]:
        with pytest.raises(RuleError):
            make_predicate(op, ftype, None, [text])


def test_scalar_operators_need_one_value() -> None:
    with pytest.raises(RuleError):
        make_predicate("=", STRING, None, ["a", "b"])


# -- constants (§1.7) ---------------------------------------------------------------------------


def test_parse_constant_types() -> None:
    assert parse_constant(STRING, " a b ") == " a b "
    assert parse_constant(BYTES, "aé") == b"a\xc3\xa9"
    assert parse_constant(BYTES, "\udcff") == b"\xff"
    assert parse_constant(BOOL, "false") is False
    assert parse_constant(PORT, "ssh") == 22 and parse_constant(PORT, "") == 0
    assert parse_constant(PORT, "65537") == 1
    assert parse_constant(IPNET, "10.1.2.3/8") == IPv4Network("10.0.0.0/8")
    assert parse_constant(DOUBLE, " -3") == -3.0
    assert parse_constant(INT64, " \t+7") == 7
    assert parse_constant(UINT32, "-1") == 4294967295
    assert parse_constant(UINT8, "257") == 1
    assert parse_constant(UINT64, "-1") == (1 << 64) - 1
    assert parse_constant(INT64, "9223372036854775808") == (1 << 63) - 1  # saturates


@pytest.mark.parametrize("ftype,text,message", [
    (INT64, "0x10", "0x10 is not a valid number"), (INT64, "1.0", "is not a valid number"),
    (INT64, "", "is not a valid number"), (INT64, "- 1", "is not a valid number"),
    (BOOL, "True", "unrecognized boolean value True"), (IP, "10.0.0", "unrecognized IPv4 address"),
    (IP, "::1::2", "unrecognized IPv6 address"), (IP, "::ffff:1.2.3.4", "unrecognized IPv4 address"),
    (IPNET, "10.0.0.0", "unrecognized IP network 10.0.0.0"), (IPNET, "10.0.0.0/33", "invalid netmask"),
    (PORT, "-1", "unrecognized protocol -1"), (PORT, "99999999999", "is not a valid number"),
])
def test_parse_constant_errors(ftype: FType, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_constant(ftype, text)


def _sscanf(fmt: bytes, ctype: Any, text: str) -> int | None:
    value, extra = ctype(), ctypes.c_char()
    count = _LIBC.sscanf(text.encode(), fmt, ctypes.byref(value), ctypes.byref(extra))
    return int(value.value) if count == 1 else None


def _ours(text: str, bits: int, signed: bool) -> int | None:
    try:
        return parse_int(text, bits, signed)
    except ValueError:
        return None


_NUMBER_TEXT = st.one_of(
    st.integers(min_value=-(1 << 70), max_value=1 << 70).map(str),
    st.text(alphabet=" \t+-0123456789xX.e", max_size=8),
    st.tuples(st.sampled_from(["", " ", "\t", "+", "-", " -"]),
              st.integers(min_value=0, max_value=1 << 66).map(str),
              st.sampled_from(["", " ", "x", "0"])).map("".join),
)


@settings(max_examples=1500, deadline=None)
@given(text=_NUMBER_TEXT)
def test_integer_parsing_matches_glibc_sscanf(c_locale: None, text: str) -> None:
    assume("\0" not in text)
    assert _ours(text, 32, True) == _sscanf(b"%d%c", ctypes.c_int32, text)
    assert _ours(text, 32, False) == _sscanf(b"%u%c", ctypes.c_uint32, text)
    assert _ours(text, 64, True) == _sscanf(b"%ld%c", ctypes.c_int64, text)
    assert _ours(text, 64, False) == _sscanf(b"%lu%c", ctypes.c_uint64, text)
    signed32 = _sscanf(b"%d%c", ctypes.c_int32, text)
    if signed32 is not None:  # 8/16-bit fields go through a 32-bit sscanf, then narrow
        assert _ours(text, 16, True) == ctypes.c_int16(signed32).value
    unsigned32 = _sscanf(b"%u%c", ctypes.c_uint32, text)
    if unsigned32 is not None:
        assert _ours(text, 8, False) == ctypes.c_uint8(unsigned32).value


# -- field-to-field comparisons (val()) ---------------------------------------------------------


def test_field_predicates() -> None:
    assert make_field_predicate("=", STRING)("a", "a")
    assert make_field_predicate("!=", INT64)(1, 2)
    assert make_field_predicate("<", STRING)("a", "b")
    assert make_field_predicate(">=", INT64)(3, 3)
    assert make_field_predicate("contains", STRING)("abc", "b")
    assert make_field_predicate("icontains", STRING)("ABC", "b")
    assert make_field_predicate("startswith", STRING)("abc", "ab")
    assert make_field_predicate("endswith", BYTES)(b"abc", b"bc")
    assert make_field_predicate("bcontains", BYTES)(b"abc", b"b")
    assert make_field_predicate("glob", STRING)("/tmp/x", "/tmp/*")
    assert not make_field_predicate("iglob", STRING)("/tmp/x", "/TMP/y*")
    assert make_field_predicate("in", STRING)("a", "a")
    assert make_field_predicate("in", STRING, "list")(("a",), ("a", "b"))
    assert not make_field_predicate("in", STRING, "list")(("a", "c"), ("a", "b"))
    assert make_field_predicate("intersects", STRING, "list")(("a", "c"), ("a", "b"))
    assert make_field_predicate("exists", INT64)(1, 2)
    with pytest.raises(RuleError):
        make_field_predicate("contains", INT64)
    with pytest.raises(RuleError):
        make_field_predicate("=", IPNET)
