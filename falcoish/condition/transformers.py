"""Field transformers: `tolower(x)`, `toupper(x)`, `b64(x)`, `basename(x)`, `len(x)`,
`join(sep, list)`, `concat(a, b, ...)`, `getopt(argv, optstring)[c]`.

Pipeline step: the compiler (step 4) asks `output_type` while typing a condition, so a
transformer on the wrong type is a compile error as in Falco, and the operator check then
sees the transformed type (`len(...)` is a uint64, so `len(proc.name) > 3` is numeric).  At
run time the transformer's function maps the extracted value; returning None makes the value
absent, which makes the check false (Falco's behaviour for undecodable base64, or a getopt
option that is not there).  The compiler calls the function only with present values.

Values follow the field types: str for strings, bytes for buffers, tuples for list-valued
inputs.  String transformers work on bytes the C way: ASCII-only case mapping, lengths in
UTF-8 bytes up to the first NUL.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, Union

from ..errors import RuleError
from ..events.fieldtypes import STRING, UINT64, FType, Kind

__all__ = ["TRANSFORMERS", "TransformerSpec", "InputType", "OutputType", "b64_decode"]

OutputType = tuple[FType, Union[str, None]]
# One argument's type; a literal list argument such as join's `(a, b)` is a list of them.
InputType = Union[OutputType, Sequence[OutputType]]
Apply = Callable[..., Any]


@dataclass(frozen=True)
class TransformerSpec:
    """A transformer: how it types its inputs and how it maps values.

    * `output_type(input_types, arg=None)`: the (FType, multi) of the result, or RuleError.
      `arg` is the `[x]` after the call (only `getopt` takes one).
    * `bind(input_types, arg=None)`: the run-time function, specialised for those inputs.
    * `apply(*values)`: a generic run-time function (tuples are list values, no `[x]`).
    """

    name: str
    _output: Callable[[Sequence[InputType], Union[str, None]], OutputType]
    _bind: Callable[[Sequence[InputType], Union[str, None]], Apply]

    def output_type(self, input_types: Sequence[InputType], arg: str | None = None) -> OutputType:
        return self._output(input_types, arg)

    def bind(self, input_types: Sequence[InputType], arg: str | None = None) -> Apply:
        self._output(input_types, arg)
        return self._bind(input_types, arg)

    def apply(self, *values: Any) -> Any:
        return _GENERIC[self.name](*values)


# -- typing helpers -------------------------------------------------------------------------


def _single_input(name: str, input_types: Sequence[InputType], arg: str | None) -> OutputType:
    if arg is not None:
        raise RuleError(f"transformer '{name}' does not support field arguments")
    if len(input_types) != 1:
        raise RuleError(f"transformer '{name}' takes exactly one argument, got {len(input_types)}")
    only = _scalar(input_types[0])
    if only is None:
        raise RuleError(f"transformer '{name}' does not take a list of values")
    return only


def _scalar(item: InputType) -> OutputType | None:
    """The type of one argument, or None for a literal list argument."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], FType):
        multi = item[1]
        return item[0], multi if isinstance(multi, str) else None
    return None


def _unsupported(ftype: FType, name: str) -> RuleError:
    return RuleError(f"field type '{ftype}' is not supported by '{name}' transformer")


def _string_typed(name: str) -> Callable[[Sequence[InputType], str | None], OutputType]:
    def output(input_types: Sequence[InputType], arg: str | None) -> OutputType:
        ftype, multi = _single_input(name, input_types, arg)
        if ftype.kind is not Kind.STRING:
            raise _unsupported(ftype, name)
        return ftype, multi
    return output


def _b64_output(input_types: Sequence[InputType], arg: str | None) -> OutputType:
    ftype, multi = _single_input("b64", input_types, arg)
    if ftype.kind not in (Kind.STRING, Kind.BYTES):
        raise _unsupported(ftype, "b64")
    return ftype, multi


def _len_output(input_types: Sequence[InputType], arg: str | None) -> OutputType:
    ftype, multi = _single_input("len", input_types, arg)
    if multi == "list":
        return UINT64, None
    if ftype.kind not in (Kind.STRING, Kind.BYTES):
        raise _unsupported(ftype, "len")
    return UINT64, multi


def _join_output(input_types: Sequence[InputType], arg: str | None) -> OutputType:
    if arg is not None:
        raise RuleError("transformer 'join' does not support field arguments")
    if len(input_types) != 2:
        raise RuleError("join() requires exactly 2 arguments: separator and list")
    sep, items = _scalar(input_types[0]), input_types[1]
    if sep is None or sep[1] == "list":
        raise RuleError("join() first argument (separator) must be a single value, not a list")
    items_type = _scalar(items)
    if items_type is not None:
        if items_type[1] != "list":
            raise RuleError("join() second argument must be a list")
    elif not items:
        raise RuleError("join() second argument must be a list")
    return STRING, None


def _concat_output(input_types: Sequence[InputType], arg: str | None) -> OutputType:
    if arg is not None:
        raise RuleError("transformer 'concat' does not support field arguments")
    if len(input_types) < 2:
        raise RuleError("concat() requires at least 2 arguments")
    for item in input_types:
        scalar = _scalar(item)
        if scalar is None or scalar[0].kind is not Kind.STRING or scalar[1] is not None:
            raise RuleError("concat() arguments must be strings")
    return STRING, None


def _getopt_output(input_types: Sequence[InputType], arg: str | None) -> OutputType:
    if len(input_types) != 2:
        raise RuleError("getopt() requires exactly 2 arguments: args list and optstring")
    argv, optstring = _scalar(input_types[0]), _scalar(input_types[1])
    if argv is None or argv[1] != "list":
        raise RuleError("getopt() first argument must be a list")
    if optstring is None or optstring[1] is not None:
        raise RuleError("getopt() second argument (optstring) must be a single value")
    if argv[0].kind is not Kind.STRING or optstring[0].kind is not Kind.STRING:
        raise RuleError("getopt() arguments must be strings")
    if arg is None:
        return STRING, "list"
    if len(arg) != 1:
        raise RuleError("getopt() field argument must be a single option character")
    return STRING, None


# -- value helpers ----------------------------------------------------------------------------

_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _tolower(v: str) -> str:
    return v.lower() if v.isascii() else v.translate(_LOWER)


def _toupper(v: str) -> str:
    return v.upper() if v.isascii() else v.translate(_UPPER)


def _basename(v: str) -> str:
    return v.rpartition("/")[2]


def _c_string(v: str) -> str:
    """The text a C consumer sees: everything before the first NUL."""
    nul = v.find("\0")
    return v if nul < 0 else v[:nul]


def _strlen(v: str) -> int:
    """strnlen of the UTF-8 bytes (libsinsp measures strings in bytes, up to a NUL)."""
    data = v if v.isascii() else v.encode("utf-8", "surrogateescape")
    nul = data.find("\0" if isinstance(data, str) else b"\0")  # type: ignore[arg-type]
    return len(data) if nul < 0 else nul


_B64_BODY = re.compile(rb"[A-Za-z0-9+/]*")
_B64_VALUE = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def b64_decode(data: bytes) -> bytes | None:
    """Falco's `b64()` decoder: standard alphabet, padding optional (at most two `=`), no
    whitespace, unused trailing bits must be zero.  None when the input is not base64."""
    n = len(data)
    while n and data[n - 1] == 0:  # trailing terminators are not part of the value
        n -= 1
    if n == 0:
        return b""
    if data[n - 1] == 0x3D:
        n -= 1
        if n and data[n - 1] == 0x3D:
            n -= 1
    if n == 0 or n % 4 == 1:
        return None
    body = data[:n]
    if _B64_BODY.fullmatch(body) is None:
        return None
    tail_bits = _B64_VALUE[body[-1]]
    if (n % 4 == 2 and tail_bits & 0x0F) or (n % 4 == 3 and tail_bits & 0x03):
        return None
    return binascii.a2b_base64(body + b"=" * (-n % 4))


def _b64_str(v: str) -> str | None:
    try:
        raw = v.encode("ascii")
    except UnicodeEncodeError:
        return None
    decoded = b64_decode(raw)
    if decoded is None:
        return None
    return _c_string(decoded.decode("utf-8", "surrogateescape"))


def _b64_bytes(v: bytes) -> bytes | None:
    return b64_decode(v)


def _b64_any(v: Any) -> Any:
    return _b64_str(v) if isinstance(v, str) else _b64_bytes(v)


def _len_any(v: Any) -> int:
    if isinstance(v, str):
        return _strlen(v)
    return len(v)  # bytes: the buffer size; tuple: the number of elements


def _text(v: Any) -> str:
    """How join() renders one element."""
    if isinstance(v, str):
        return _c_string(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, bytes):
        return _c_string(v.decode("utf-8", "surrogateescape"))
    return str(v)


def _flatten(items: Any) -> list[Any]:
    if not isinstance(items, tuple):
        return [items]
    out: list[Any] = []
    for item in items:
        out.extend(_flatten(item))
    return out


def _join(sep: Any, items: Any) -> str:
    return _text(sep).join(_text(v) for v in _flatten(items))


def _concat(*parts: Any) -> str:
    return "".join(_c_string(p) for p in parts)


def _parse_optstring(optstring: str) -> tuple[frozenset[str], frozenset[str]]:
    """(valid option characters, those that take a value) of a getopt(3) optstring."""
    valid: set[str] = set()
    with_value: set[str] = set()
    i = 1 if optstring.startswith(":") else 0
    while i < len(optstring):
        opt = optstring[i]
        if opt != ":":
            valid.add(opt)
            if i + 1 < len(optstring) and optstring[i + 1] == ":":
                with_value.add(opt)
                i += 1
        i += 1
    return frozenset(valid), frozenset(with_value)


def getopt_scan(argv: Sequence[str], optstring: str, selector: str | None = None,
                parsed: tuple[frozenset[str], frozenset[str]] | None = None) -> Any:
    """Scan argv like getopt(3) (short options only, stop at `--` or the first operand).

    Without a selector: a tuple of option characters, each option taking a value followed by
    it (`?` for unknown options, `""` for a missing value).  With a selector: the value of the
    last occurrence of that option (the option character itself if it takes no value, `""`
    if its value is missing), or None when the option does not occur.
    """
    valid, with_value = parsed if parsed is not None else _parse_optstring(optstring)
    results: list[str] = []
    selected: str | None = None
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            break
        if len(token) > 2 and token.startswith("--"):  # long options are skipped
            index += 1
            continue
        if len(token) < 2 or token[0] != "-":
            break
        for pos in range(1, len(token)):
            opt = token[pos]
            if opt == ":" or opt not in valid:
                if selector is None:
                    results.append("?")
                continue
            wanted = selector is None or opt == selector
            if opt not in with_value:
                if wanted:
                    if selector is None:
                        results.append(opt)
                    else:
                        selected = opt
                continue
            if pos + 1 < len(token):
                value: str | None = token[pos + 1:]
            elif index + 1 < len(argv):
                index += 1
                value = argv[index]
            else:
                value = None
            if wanted:
                if selector is not None:
                    selected = "" if value is None else value
                elif value is None:
                    results.append("")
                else:
                    results.extend((opt, value))
            break
        index += 1
    if selector is not None:
        return selected
    return tuple(results)


def _getopt(argv: Any, optstring: Any, selector: Any = None) -> Any:
    if not isinstance(argv, tuple):
        argv = (argv,)
    return getopt_scan(argv, optstring, selector)


# -- binding ------------------------------------------------------------------------------


def _elementwise(fn: Callable[[Any], Any]) -> Apply:
    """Apply `fn` to a value, or to each element of a tuple (None if any element fails)."""
    def apply(value: Any) -> Any:
        if type(value) is not tuple:
            return fn(value)
        out = tuple(map(fn, value))
        return None if None in out else out
    return apply


def _unary_bind(fn_for: Callable[[FType], Callable[[Any], Any]]) -> Callable[[Sequence[InputType], str | None], Apply]:
    def bind(input_types: Sequence[InputType], arg: str | None) -> Apply:
        ftype, multi = _single_input("?", input_types, None)
        fn = fn_for(ftype)
        if multi is None:
            return fn
        return _elementwise(fn)
    return bind


def _len_bind(input_types: Sequence[InputType], arg: str | None) -> Apply:
    ftype, multi = _single_input("len", input_types, None)
    if multi == "list":
        return len
    fn: Callable[[Any], int] = _strlen if ftype.kind is Kind.STRING else len
    return fn if multi is None else _elementwise(fn)


def _getopt_bind(input_types: Sequence[InputType], arg: str | None) -> Apply:
    parsed: dict[str, tuple[frozenset[str], frozenset[str]]] = {}  # optstring -> tables

    def apply(argv: Any, optstring: Any) -> Any:
        tables = parsed.get(optstring)
        if tables is None:
            if len(parsed) > 64:
                parsed.clear()
            tables = parsed[optstring] = _parse_optstring(optstring)
        if not isinstance(argv, tuple):
            argv = (argv,)
        return getopt_scan(argv, optstring, arg, tables)
    return apply


_GENERIC: dict[str, Apply] = {
    "tolower": _elementwise(_tolower),
    "toupper": _elementwise(_toupper),
    "basename": _elementwise(_basename),
    "b64": _elementwise(_b64_any),
    "len": _len_any,
    "join": _join,
    "concat": _concat,
    "getopt": _getopt,
}


def _make(name: str, output: Callable[[Sequence[InputType], str | None], OutputType],
          bind: Callable[[Sequence[InputType], str | None], Apply]) -> TransformerSpec:
    return TransformerSpec(name, output, bind)


TRANSFORMERS: Mapping[str, TransformerSpec] = {
    "tolower": _make("tolower", _string_typed("tolower"), _unary_bind(lambda t: _tolower)),
    "toupper": _make("toupper", _string_typed("toupper"), _unary_bind(lambda t: _toupper)),
    "basename": _make("basename", _string_typed("basename"), _unary_bind(lambda t: _basename)),
    "b64": _make("b64", _b64_output,
                 _unary_bind(lambda t: _b64_str if t.kind is Kind.STRING else _b64_bytes)),
    "len": _make("len", _len_output, _len_bind),
    "join": _make("join", _join_output, lambda types, arg: _join),
    "concat": _make("concat", _concat_output, lambda types, arg: _concat),
    "getopt": _make("getopt", _getopt_output, _getopt_bind),
}
