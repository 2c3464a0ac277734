"""`falcoish tail [FILE]`: follow alerts as they are written, filtered and coloured.

After step 9 of the pipeline (delivered): the operator's view of what the file channel (or a
`falcoish run | falcoish tail` pipe) produces.  Each line is recognised on its own as a Falco
text alert (`HH:MM:SS.nnnnnnnnn: Priority output`, or the ISO 8601 variant) or a JSON alert,
so a file that switched format halfway reads fine.  Following survives log rotation: a file
replaced under the same name (rename + create) is finished and then the new one is read from
its start; a file truncated in place is read again from its start.  Like `tail -F`, a
truncation followed by more bytes than were read before, within one poll interval, cannot be
told from appending.

Filters: `--min-priority` and `--since` work on both formats (a text line's `HH:MM:SS` time is
taken as today, or yesterday when that would be in the future); `--rule` and `--tag` need JSON
lines, because text lines carry neither rule names nor tags.  Lines that are not alerts are
shown only when no filter is given.

What is shown is never trusted: a file written by an older falcoish, another program or an
attacker may hold raw newlines, CR, ESC sequences or bidi controls, so every line is escaped on
display (format.escape_controls) and nothing but tail's own colours reaches the terminal raw.
`--json` prints only JSON (a text line that is not an alert is counted and named on stderr,
not printed).  A FILE that cannot be read (a directory, no permission) is a one-line error,
exit status 2.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import sys
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any, Callable, Iterable, Iterator

import orjson

from ..collector import PRIORITIES, parse_priority
from .common import priority_arg
from ..output.format import escape_controls, format_time, json_text

_TEXT = re.compile(
    r"(?P<time>\d{2}:\d{2}:\d{2}\.\d{9}|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}[+-]\d{4}): "
    r"(?P<priority>" + "|".join(PRIORITIES) + r") (?P<rest>.*)\Z", re.DOTALL)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\Z", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_RANK = {p: i for i, p in enumerate(PRIORITIES)}

COLORS = {"Emergency": "1;97;41", "Alert": "1;91", "Critical": "1;31", "Error": "31",
          "Warning": "33", "Notice": "36", "Informational": "32", "Debug": "90"}


@dataclass(frozen=True)
class Entry:
    """One line of input: `priority` is None when it is not an alert."""

    raw: str
    time_ns: int | None = None
    priority: str | None = None
    rule: str | None = None
    tags: tuple[str, ...] | None = None
    stamp: str = ""          # the time as shown in the line
    rest: str = ""           # what follows the priority in the text form
    obj: dict[str, Any] | None = None
    json: bool = False       # the line is JSON (alert or not)


# -- parsing --------------------------------------------------------------------------------

def parse_line(line: str, now_ns: int | None = None) -> Entry:
    text = line.rstrip("\r\n")
    if text.lstrip().startswith("{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return Entry(text)
        if isinstance(obj, dict) and ("priority" in obj or "rule" in obj):
            return _json_entry(text, obj)
        return Entry(text, json=True)
    match = _TEXT.match(text)
    if match is None:
        return Entry(text)
    return Entry(text, parse_alert_time(match["time"], now_ns), match["priority"],
                 stamp=match["time"], rest=match["rest"])


def _json_entry(text: str, obj: dict[str, Any]) -> Entry:
    priority = parse_priority(str(obj.get("priority", "")))
    time_ns = parse_iso(obj["time"]) if isinstance(obj.get("time"), str) else None
    tags = obj.get("tags")
    rule = obj.get("rule")
    output = obj.get("output")
    match = _TEXT.match(output) if isinstance(output, str) else None
    if match is not None:
        stamp, rest = match["time"], match["rest"]
    else:
        stamp = format_time(time_ns, False) if time_ns is not None else "-"
        message = obj.get("message")
        rest = message if isinstance(message, str) else str(rule or "")
    return Entry(text, time_ns, priority, rule if isinstance(rule, str) else None,
                 tuple(str(t) for t in tags) if isinstance(tags, list) else None,
                 stamp, rest, obj, json=True)


def parse_iso(text: str) -> int | None:
    """ISO 8601 with up to 9 fraction digits, `Z` or an offset; naive = local time."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?"
                         r"(Z|[+-]\d{2}:?\d{2})?", text.strip())
    if match is None:
        return None
    base = match[1].replace(" ", "T")
    zone = match[3] or ""
    if zone == "Z":
        zone = "+00:00"
    elif zone and ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        moment = datetime.fromisoformat(base + zone)
    except ValueError:
        return None
    frac = int((match[2] or "0").ljust(9, "0"))
    return int(moment.timestamp()) * 1_000_000_000 + frac


def parse_alert_time(stamp: str, now_ns: int | None = None) -> int | None:
    if "T" in stamp:
        return parse_iso(stamp)
    now = datetime.fromtimestamp((now_ns if now_ns is not None else time.time_ns()) / 1e9)
    hours, minutes, rest = stamp.split(":")
    seconds, frac = rest.split(".")
    moment = now.replace(hour=int(hours), minute=int(minutes), second=int(seconds), microsecond=0)
    if moment - now > timedelta(minutes=1):
        moment -= timedelta(days=1)
    return int(moment.timestamp()) * 1_000_000_000 + int(frac)


def parse_since(text: str, now_ns: int | None = None) -> int:
    """`--since`: a duration back from now (`90s`, `10m`, `2h`, `1d`, `1w`) or an ISO time."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    match = _DURATION.match(text.strip())
    if match:
        return now_ns - int(float(match[1]) * _UNITS[match[2].lower()] * 1_000_000_000)
    value = parse_iso(text)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"--since {text!r}: expected a duration (30s, 10m, 2h, 1d) or an ISO time "
            "(2024-05-01T12:00:00Z)")
    return value


# -- filtering and printing -----------------------------------------------------------------

@dataclass(frozen=True)
class Filter:
    min_priority: str | None = None
    rules: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    since_ns: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.min_priority or self.rules or self.tags or self.since_ns is not None)

    def accepts(self, entry: Entry) -> bool:
        if entry.priority is None:
            return not self.active
        if self.min_priority and _RANK[entry.priority] > _RANK[self.min_priority]:
            return False
        if self.rules and not (entry.rule and any(fnmatch.fnmatchcase(entry.rule, p) for p in self.rules)):
            return False
        if self.tags and not (entry.tags is not None and all(t in entry.tags for t in self.tags)):
            return False
        if self.since_ns is not None and (entry.time_ns is None or entry.time_ns < self.since_ns):
            return False
        return True


class Printer:
    """Lines as shown: escaped, coloured, or as JSON.  `skipped` counts the lines `--json`
    left out because they are not JSON (the first one is named on `err` at once, so a
    following user knows why nothing appears; `finish` gives the count)."""

    def __init__(self, out: IO[str], as_json: bool, color: bool, err: IO[str] | None = None) -> None:
        self.out = out
        self.as_json = as_json
        self.color = color
        self.err = err if err is not None else sys.stderr
        self.skipped = 0

    def render(self, entry: Entry) -> str | None:
        """The line to print, or None when `--json` has no JSON to print for it."""
        if self.as_json:
            return self._json(entry)
        if entry.priority is None:
            return escape_controls(entry.raw)
        rest = escape_controls(entry.rest)
        if not self.color:
            return f"{entry.stamp}: {entry.priority} {rest}"
        return (f"\x1b[2m{entry.stamp}:\x1b[0m \x1b[{COLORS[entry.priority]}m{entry.priority}\x1b[0m "
                f"{rest}")

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


# -- following ------------------------------------------------------------------------------

class TailError(Exception):
    """The file cannot be followed (a directory, no permission, a read error): said in one
    line, exit status 2."""


class Follower:
    """Complete lines of a file as it grows, across rotation and truncation."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None
        self._ident: tuple[int, int] | None = None
        self._partial = b""

    def _open(self) -> bool:
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise TailError(f"{self.path}: {exc.strerror or exc}") from None
        st = os.fstat(handle.fileno())
        self._handle, self._ident, self._partial = handle, (st.st_dev, st.st_ino), b""
        return True

    def poll(self) -> list[str]:
        """Lines completed since the last call."""
        if self._handle is None and not self._open():
            return []
        lines = self._read()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return lines                      # moved away; the new one is not there yet
        except OSError as exc:
            raise TailError(f"{self.path}: {exc.strerror or exc}") from None
        assert self._handle is not None
        if (st.st_dev, st.st_ino) != self._ident:
            lines += self._read()
            if self._partial:
                lines.append(self._partial.decode("utf-8", "replace"))
            self._handle.close()
            self._handle = None
            if self._open():
                lines += self._read()
        elif st.st_size < self._handle.tell():
            self._handle.seek(0)
            self._partial = b""
            lines += self._read()
        return lines

    def _read(self) -> list[str]:
        assert self._handle is not None
        try:
            data = self._handle.read()
        except OSError as exc:
            raise TailError(f"{self.path}: {exc.strerror or exc}") from None
        if not data:
            return []
        data = self._partial + data
        parts = data.split(b"\n")
        self._partial = parts.pop()
        return [part.decode("utf-8", "replace") for part in parts]

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


# -- the command ----------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("tail", help="follow an alerts file (text or JSON lines): filter, colour, "
                                         "survive log rotation")
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", metavar="FILE",
                        help="alerts file; '-' = standard input (`falcoish run | falcoish tail`); "
                             "default: standard input when it is a pipe, else the config's "
                             "file_output.filename")
    parser.add_argument("-c", "--config", metavar="PATH",
                        help="config file whose file_output.filename is followed when FILE is not given")
    parser.add_argument("--min-priority", type=priority_arg, metavar="PRIORITY",
                        help="only alerts at least this severe (" + ", ".join(p.lower() for p in PRIORITIES) + ")")
    parser.add_argument("--rule", action="append", default=[], metavar="NAME",
                        help="only this rule; * and ? are wildcards; repeat for several (JSON lines only)")
    parser.add_argument("--tag", action="append", default=[], metavar="TAG",
                        help="only alerts with this tag; repeat to require several (JSON lines only)")
    parser.add_argument("--since", type=parse_since, metavar="WHEN",
                        help="only alerts at or after WHEN: a duration back from now (30s, 10m, 2h, 1d) "
                             "or an ISO time")
    parser.add_argument("--json", action="store_true",
                        help="print JSON lines (JSON alerts unchanged, text alerts converted)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour by priority (auto: only on a terminal, and not with NO_COLOR)")
    parser.add_argument("-n", "--lines", type=_count, default=None, metavar="N",
                        help="start with the last N matching alerts of the file ('all' = every one; "
                             "default 10, or all with --since)")
    parser.add_argument("--no-follow", dest="follow", action="store_false",
                        help="print what the file holds and exit")
    parser.add_argument("--interval", type=float, default=0.25, metavar="SECONDS",
                        help="how often the file is checked for new lines (default 0.25)")


def _count(text: str) -> int:
    if text.lower() == "all":
        return -1
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"-n {text!r}: expected a number or 'all'") from None
    if value < 0:
        raise argparse.ArgumentTypeError("-n must not be negative")
    return value


def run(args: argparse.Namespace) -> int:
    filt = Filter(args.min_priority, tuple(args.rule), tuple(args.tag), args.since)
    printer = Printer(sys.stdout, args.json, want_color(args.color, sys.stdout))
    path = _input_path(args)
    if path is None:
        return 2
    try:
        if path == "-":
            return _from_stream(getattr(sys.stdin, "buffer", sys.stdin), filt, printer)
        start = args.lines if args.lines is not None else (-1 if args.since is not None else 10)
        return _from_file(path, filt, printer, start, args.follow, args.interval)
    finally:
        printer.finish()


def _input_path(args: argparse.Namespace) -> str | None:
    if args.file:
        return str(args.file)
    if not sys.stdin.isatty():
        return "-"
    from ..config import ConfigError, load_config
    try:
        config = load_config(args.config, [])
    except ConfigError as exc:
        print(f"falcoish tail: {exc}", file=sys.stderr)
        return None
    if config.file_output.filename:
        return str(config.file_output.filename)
    print("falcoish tail: no FILE given, standard input is a terminal and the config has no "
          "file_output.filename", file=sys.stderr)
    return None


def _from_stream(stream: Iterable[bytes | str], filt: Filter, printer: Printer) -> int:
    """Lines of a pipe; bytes that are not UTF-8 are shown as U+FFFD, not a traceback."""
    for line in stream:
        entry = parse_line(line.decode("utf-8", "replace") if isinstance(line, bytes) else line)
        if filt.accepts(entry):
            printer.write(entry, "standard input")
    return 0


def _from_file(path: str, filt: Filter, printer: Printer, start: int, follow: bool,
               interval: float, sleep: Callable[[float], None] = time.sleep) -> int:
    if not os.path.exists(path):
        if not follow:
            print(f"falcoish tail: {path}: no such file", file=sys.stderr)
            return 1
        print(f"falcoish tail: waiting for {path} to appear", file=sys.stderr)
    follower = Follower(path)
    try:
        first: deque[Entry] = deque(maxlen=start if start >= 0 else None)
        for entry in _entries(follower.poll(), filt):
            first.append(entry)
        for entry in first:
            printer.write(entry, path)
        while follow:
            sleep(interval)
            for entry in _entries(follower.poll(), filt):
                printer.write(entry, path)
    except TailError as exc:
        print(f"falcoish tail: {exc}", file=sys.stderr)
        return 2
    finally:
        follower.close()
    return 0


def _entries(lines: list[str], filt: Filter) -> Iterator[Entry]:
    for line in lines:
        entry = parse_line(line)
        if filt.accepts(entry):
            yield entry
