"""How `falcoish tail` shows one line: the full view, the `--compact` view, or JSON.

Why a view of its own: a JSON alert carries what a text alert line cannot (the rule name, the
hostname, the tags), and a user following JSON alerts must see which rule fired without
reading raw JSON.  So an alert is shown as Falco's text line with the rule name after the
priority -- `TIME: Priority [Rule name] output` -- optionally the hostname (`--host`, before the
rule, where syslog puts it) and the tags (`--tags`, after the rule).  Text alert lines have none
of these and are shown as they are.

`--compact` is one short line per alert for a narrow terminal: the local `HH:MM:SS`, the
priority's initial (`!` for Emergency, which would otherwise share `E` with Error), the rule and
the output, cut to the terminal width (`COLUMNS` when set) and ended with `…` when cut.

Everything shown comes from a file anyone may have written: rule names, hostnames and tags are
escaped like the output (format.escape_controls) before they reach the terminal.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import unicodedata
from typing import IO, TYPE_CHECKING, Any

import orjson

from ..output.format import escape_controls, json_text

if TYPE_CHECKING:
    from .tail_parse import Entry

COLORS = {"Emergency": "1;97;41", "Alert": "1;91", "Critical": "1;31", "Error": "31",
          "Warning": "33", "Notice": "36", "Informational": "32", "Debug": "90"}
#: the one-character priority of `--compact`
INITIALS = {"Emergency": "!", "Alert": "A", "Critical": "C", "Error": "E", "Warning": "W",
            "Notice": "N", "Informational": "I", "Debug": "D"}


class Printer:
    """Lines as shown: escaped, coloured, or as JSON.  `skipped` counts the lines `--json`
    left out because they are not JSON (the first one is named on `err` at once, so a
    following user knows why nothing appears; `finish` gives the count)."""

    def __init__(self, out: IO[str], as_json: bool, color: bool, err: IO[str] | None = None, *,
                 compact: bool = False, host: bool = False, tags: bool = False,
                 width: int | None = None) -> None:
        self.out = out
        self.as_json = as_json
        self.color = color
        self.err = err if err is not None else sys.stderr
        self.compact = compact
        self.host = host
        self.tags = tags
        self.width = width if width is not None else terminal_width(out)
        self.skipped = 0

    def render(self, entry: Entry) -> str | None:
        """The line to print, or None when `--json` has no JSON to print for it."""
        if self.as_json:
            return self._json(entry)
        if entry.priority is None:
            text = escape_controls(entry.raw)
            return cut(text, self.width) if self.compact else text
        if self.compact:
            return self._compact(entry)
        rest = self._body(entry)
        return f"{self._dim(entry.stamp + ':')} {self._paint(entry.priority, entry.priority)} {rest}"

    def _body(self, entry: Entry) -> str:
        """`HOST [Rule] tags=a,b output` for a JSON alert (each label only when known and
        asked for), the output alone for a text alert."""
        parts = []
        if self.host and entry.host:
            parts.append(escape_controls(entry.host))
        if entry.rule:
            parts.append(f"[{escape_controls(entry.rule)}]")
        if self.tags and entry.tags is not None:
            parts.append("tags=" + escape_controls(",".join(entry.tags)))
        if entry.rest or not parts:
            parts.append(escape_controls(entry.rest))
        return " ".join(parts)

    def _compact(self, entry: Entry) -> str:
        assert entry.priority is not None
        stamp = (time.strftime("%H:%M:%S", time.localtime(entry.time_ns // 1_000_000_000))
                 if entry.time_ns is not None else entry.stamp[:8])
        initial = INITIALS[entry.priority]
        body = self._body(entry)
        line = cut(f"{stamp} {initial} {body}", self.width)
        if not self.color:
            return line
        head = len(stamp) + 1
        return self._dim(line[:head - 1]) + " " + self._paint(entry.priority, initial) + line[head + 1:]

    def _paint(self, priority: str, text: str) -> str:
        return f"\x1b[{COLORS[priority]}m{text}\x1b[0m" if self.color else text

    def _dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self.color else text

    def _json(self, entry: Entry) -> str | None:
        if entry.obj is not None:
            return _json_alert(entry.raw, entry.obj)
        if entry.priority is None:
            return _json_other(entry.raw) if entry.json else None
        obj: dict[str, Any] = {"output": escape_controls(entry.raw), "priority": entry.priority}
        if entry.time_ns is not None:
            secs, frac = divmod(entry.time_ns, 1_000_000_000)
            obj["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"
        return json_text(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode())

    def write(self, entry: Entry, where: str = "") -> None:
        line = self.render(entry)
        if line is None:
            self.skipped += 1
            if self.skipped == 1:
                print(f"falcoish tail: {where or 'input'}: skipping lines that are not JSON "
                      "(--json prints only JSON lines and text alerts)", file=self.err)
            return
        self.out.write(line + "\n")
        self.out.flush()

    def finish(self) -> None:
        if self.skipped > 1:
            print(f"falcoish tail: {self.skipped} lines skipped: not JSON", file=self.err)


def terminal_width(stream: IO[str]) -> int:
    """Columns of the terminal `stream` is (`COLUMNS` first, as shells export it; 80 when
    neither says)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return shutil.get_terminal_size((80, 24)).columns


def _columns(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cut(text: str, width: int) -> str:
    """`text` in at most `width` terminal columns (wide characters count two), ended with `…`
    when something was cut off."""
    if sum(_columns(c) for c in text) <= width:
        return text
    used, end = 0, 0
    for end, char in enumerate(text):
        used += _columns(char)
        if used > width - 1:
            break
    return text[:end] + "…"


def _json_other(raw: str) -> str:
    """A JSON line that is not an alert.  Valid JSON holds no raw control inside a string, but
    may between tokens (a tab, a CR): encoding the value again drops those."""
    if escape_controls(raw) != raw:
        raw = orjson.dumps(orjson.loads(raw)).decode()
    return json_text(raw)


def _json_alert(raw: str, obj: dict[str, Any]) -> str:
    """A JSON alert line as `--json` prints it: verbatim when it is clean; else its `output`
    and `message` texts escaped (as the human-readable text they are) and it re-encoded, the
    other values (`output_fields`) kept true."""
    clean = {k: escape_controls(v) if k in ("output", "message") and isinstance(v, str) else v
             for k, v in obj.items()}
    if clean == obj and escape_controls(raw) == raw:
        return json_text(raw)
    return json_text(orjson.dumps(clean).decode())


def want_color(choice: str, stream: IO[str]) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
