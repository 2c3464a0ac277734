"""Rule outputs -> alert text and Falco's JSON alert shape.

Step 8 of the pipeline (formatted).  Why compile outputs: every `%field` token of an output
is bound to its extractor once, at load time, so an unknown field in an output is a load
error (LOAD_ERR_COMPILE_OUTPUT) and formatting an alert is a join of prepared pieces.
Falco's token rules: `%` + optional width + the longest known field name (`%proc.namex` is
proc.name then "x"), `%field[arg]`, or a transformer `%tolower(proc.name)` (transformed.py);
a `%` with no field after it is an error.

Hostile text: field values (command lines, file names, process names) are chosen by whoever
runs the process being watched.  Written raw, a newline in `proc.cmdline` forges a second alert
line, and ESC / CR / bidi controls rewrite what an operator's terminal shows.  So every value
is escaped here, where it is substituted, once for every channel (`escape_value`); the JSON
`output_fields` keep the true values (the JSON encoder escapes them).  See docs/outputs.md,
"Hostile text in alerts".
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import orjson

from .. import fields as field_registry
from ..errors import RuleError
from ..events.event import Event
from ..syntax.nodes import FieldRef
from .transformed import TRANSFORMER_AT, compile_transformed

_TOKEN = re.compile(r"%(\d*)([a-zA-Z][a-zA-Z0-9_.]*)")
_ARG = re.compile(r"\[([^\]]*)\]")
NA = "<NA>"

#: Never written raw into alert text: C0 controls (NUL, tab, newline, CR, ESC ...), DEL, C1
#: controls, the Unicode line and paragraph separators, the bidi controls (they reorder what a
#: terminal shows) and lone surrogates (no encoder can write them).
_UNSAFE_CLASS = (r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                 r"\ud800-\udfff")
_UNSAFE = re.compile(f"[{_UNSAFE_CLASS}]")
# In a value a backslash is doubled only where it could be read as the start of an escape:
# before another backslash, n, r, t, x, u, an escaped character, or at the end of the value.
_VALUE_UNSAFE = re.compile(f"[{_UNSAFE_CLASS}]|\\\\(?=[\\\\nrtxu{_UNSAFE_CLASS}]|\\Z)")
_JSON_RAW = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_value(text: str) -> str:
    """A field value as alert text: unsafe characters as visible escapes (`\\n`, `\\r`, `\\t`,
    `\\x1b`, `\\u202e`), a backslash doubled where it could otherwise be misread as one, so
    the escaped text always decodes back to exactly one value."""
    if text.isprintable() and "\\" not in text:      # the common case: nothing to do
        return text
    return _VALUE_UNSAFE.sub(_escape, text)


def escape_controls(text: str) -> str:
    """Text that must stay on one line and move no cursor, backslashes left alone: trusted
    text (a rule's own output words, internal alerts) and lines already formatted (what
    `falcoish tail` reads).  Applying it twice changes nothing."""
    if text.isprintable():
        return text
    return _UNSAFE.sub(_escape, text)


def json_text(text: str) -> str:
    """JSON written by an encoder (which escapes C0 controls itself) with the unsafe characters
    it leaves raw -- DEL, C1, bidi controls, line separators, all only possible inside strings
    -- written as `\\uXXXX`: the same JSON value, nothing raw for a terminal."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@dataclass(frozen=True)
class _FieldPiece:
    key: str
    extract: Callable[[Event], Any]
    render: Callable[[Any], str]
    width: int

    def text(self, value: Any) -> str:
        """The value as alert text; a width cuts the value itself, before escaping (so an
        escape is never cut in half and an escaped value may run past the column)."""
        out = NA if value is None else self.render(value)
        if self.width:
            return escape_value(out[: self.width]).ljust(self.width)
        return escape_value(out)


def _bind(name: str, arg: str | None) -> Any:
    try:
        return field_registry.bind(FieldRef(name, arg))
    except RuleError:
        return None


class OutputFormat:
    """A compiled output string."""

    def __init__(self, text: str, extra_fields: Sequence[tuple[str, str]] = ()) -> None:
        self.text = text
        #: append_output's `extra_fields`: (name, format) in the JSON output_fields only
        self.extra = [(name, OutputFormat(fmt), fmt == "%" + name) for name, fmt in extra_fields]
        self.pieces: list[str | _FieldPiece] = []
        #: fields used inside a `%transformer(...)`: in the JSON output_fields, not the text
        self.hidden: list[_FieldPiece] = []
        pos = 0
        while True:
            start = text.find("%", pos)
            if start < 0:
                self.pieces.append(escape_controls(text[pos:]))
                break
            self.pieces.append(escape_controls(text[pos:start]))
            pos = self._field(text, start)

    def _field(self, text: str, start: int) -> int:
        width_end = start + 1
        while width_end < len(text) and text[width_end].isdigit():
            width_end += 1
        if TRANSFORMER_AT.match(text, width_end):
            width = int(text[start + 1:width_end] or 0)
            compiled, end = compile_transformed(text, width_end)
            self.pieces.append(_FieldPiece("", compiled.extract, compiled.render, width))
            self.hidden.extend(_FieldPiece(b.key, b.extract, b.render, 0) for b in compiled.inner)
            return end
        match = _TOKEN.match(text, start)
        if match is None:
            raise RuleError(f"invalid formatting token at position {start + 1}: '%' must be "
                            "followed by a field name", start)
        width = int(match[1]) if match[1] else 0
        name = match[2].rstrip(".")
        arg_match = _ARG.match(text, match.start(2) + len(name))
        while name:
            arg = arg_match[1] if arg_match and match.start(2) + len(name) == arg_match.start() else None
            bound = _bind(name, arg) if arg is not None else None
            if bound is None:                       # `%proc.name[x]` is proc.name then "[x]"
                arg = None
                bound = _bind(name, None)
            if bound is not None:
                self.pieces.append(_FieldPiece(bound.key, bound.extract, bound.render, width))
                end = match.start(2) + len(name)
                return end + (len(arg) + 2 if arg is not None else 0)
            name = name[:-1].rstrip(".")
            arg_match = None
        raise RuleError(f"invalid formatting token %{match[2]}: no such field", start)

    def render(self, event: Event) -> tuple[str, dict[str, Any]]:
        """The output text and the `output_fields` of a JSON alert (raw values, null when
        absent), extracting each field once."""
        parts: list[str] = []
        values: dict[str, Any] = {}
        for piece in self.pieces:
            if isinstance(piece, str):
                parts.append(piece)
                continue
            value = piece.extract(event)
            parts.append(piece.text(value))
            if piece.key:
                values[piece.key] = _json_value(value, piece)
        for piece in self.hidden:
            if piece.key not in values:
                values[piece.key] = _json_value(piece.extract(event), piece)
        for name, fmt, plain in self.extra:      # a plain field keeps its raw value
            text, own = fmt.render(event)
            values[name] = own[name] if plain and name in own else text
        return "".join(parts), values


def _json_value(value: Any, piece: _FieldPiece) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return piece.render(value)


@dataclass(frozen=True)
class Alert:
    """One rule firing on one event: what every output channel receives."""

    time_ns: int
    rule: str
    priority: str
    source: str
    tags: tuple[str, ...]
    output: str
    output_fields: dict[str, Any]
    hostname: str

    def __post_init__(self) -> None:
        # Field values arrive escaped (OutputFormat); this keeps the promise "one alert, one
        # line, nothing raw for a terminal" for alerts built elsewhere (internal alerts whose
        # text quotes a rules-file error, alerts read back from the spool).
        if not self.output.isprintable():
            object.__setattr__(self, "output", escape_controls(self.output))

    def text_line(self, iso8601: bool = False) -> str:
        """Falco's text alert: `<time>: <Priority> <output>`."""
        return f"{format_time(self.time_ns, iso8601)}: {self.priority} {self.output}"

    def to_dict(self, iso8601: bool = False) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "output": f"{format_time(self.time_ns, False)}: {self.priority} {self.output}",
            "output_fields": self.json_fields(iso8601),
            "priority": self.priority,
            "rule": self.rule,
            "source": self.source,
            "tags": list(self.tags),
            "time": iso_time(self.time_ns),
        }

    def json_fields(self, iso8601: bool = False) -> dict[str, Any]:
        """`output_fields` as Falco writes them: the rule's fields plus the event time that
        prefixes every alert line -- `evt.time` (nanoseconds since the epoch) or, with
        `time_format_iso_8601`, `evt.time.iso8601` -- whether or not the output uses it, so
        a consumer always finds the time where Falco puts it.  Internal alerts describe no
        event and carry only their own fields."""
        if self.source == "internal":
            return self.output_fields
        if iso8601:
            return self.output_fields | {"evt.time.iso8601": iso_time(self.time_ns)}
        return self.output_fields | {"evt.time": self.time_ns}

    def json_line(self) -> str:
        return json_text(orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS).decode())


def format_time(ns: int, iso8601: bool) -> str:
    """Falco's alert time: local `HH:MM:SS.nnnnnnnnn`, or ISO 8601 with the zone offset."""
    secs, frac = divmod(ns, 1_000_000_000)
    local = time.localtime(secs)
    if iso8601:
        return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{frac:09d}" + time.strftime("%z", local)
    return time.strftime("%H:%M:%S", local) + f".{frac:09d}"


def iso_time(ns: int) -> str:
    """UTC ISO 8601 with nanoseconds, as in Falco's JSON `time`."""
    secs, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


HOSTNAME = socket.gethostname()
