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
lines, because text lines carry neither rule names nor tags: a text alert is then not shown, and
a warning on stderr says so once (silence would read as "no such alert").  Lines that are not
alerts are shown only when no filter is given.  How a line is shown (the rule name of a JSON
alert, `--compact`, `--host`, `--tags`): tail_view.py.

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
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterable, Iterator

from ..rulefiles.collector import PRIORITIES
from .common import priority_arg
from .tail_parse import Entry, parse_iso, parse_line, parse_since
from .tail_view import Printer, want_color

_RANK = {p: i for i, p in enumerate(PRIORITIES)}


# -- filtering and printing -----------------------------------------------------------------

@dataclass(frozen=True)
class Filter:
    min_priority: str | None = None
    rules: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    since_ns: int | None = None

    @property
    def by_rule_or_tag(self) -> bool:
        return bool(self.rules or self.tags)

    def cannot_apply(self, entry: Entry) -> bool:
        """A text alert under `--rule`/`--tag`: the line names no rule and no tag, so the
        filter cannot be evaluated (and the alert is not shown: see TextNotice)."""
        return self.by_rule_or_tag and entry.priority is not None and entry.obj is None

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


# -- following ------------------------------------------------------------------------------

class TextNotice:
    """Says once, on stderr, that `--rule`/`--tag` met a text alert line.  Such lines are
    left out rather than shown: a user who asked for one rule must not read other rules'
    alerts as if they were that rule's, and a filter that cannot tell is no match."""

    def __init__(self, err: IO[str] | None = None) -> None:
        self.err = err if err is not None else sys.stderr
        self.said = False

    def check(self, filt: Filter, entry: Entry, where: str) -> None:
        if not self.said and filt.cannot_apply(entry):
            self.said = True
            print(f"falcoish tail: warning: --rule/--tag need JSON alerts (json_output: true); "
                  f"the text lines of {where} carry no rule name or tags and are not shown",
                  file=self.err)


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
                        help="only this rule; * and ? are wildcards; repeat for several (JSON "
                             "alerts only: text alert lines carry no rule name, are not shown, and "
                             "a warning says so)")
    parser.add_argument("--tag", action="append", default=[], metavar="TAG",
                        help="only alerts with this tag; repeat to require several (JSON alerts "
                             "only, as --rule)")
    parser.add_argument("--since", type=parse_since, metavar="WHEN",
                        help="only alerts at or after WHEN: a duration back from now (30s, 10m, 2h, 1d) "
                             "or an ISO time")
    view = parser.add_mutually_exclusive_group()
    view.add_argument("--json", action="store_true",
                      help="print JSON lines (JSON alerts unchanged, text alerts converted)")
    view.add_argument("--compact", action="store_true",
                      help="one short line per alert: time, priority initial (! = Emergency), "
                           "rule, output cut to the terminal width")
    parser.add_argument("--host", action="store_true",
                        help="show the hostname of JSON alerts (before the rule name)")
    parser.add_argument("--tags", action="store_true",
                        help="show the tags of JSON alerts (after the rule name)")
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
    printer = Printer(sys.stdout, args.json, want_color(args.color, sys.stdout),
                      compact=args.compact, host=args.host, tags=args.tags)
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
    from ..config.settings import ConfigError, load_config
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
    notice = TextNotice()
    for line in stream:
        entry = parse_line(line.decode("utf-8", "replace") if isinstance(line, bytes) else line)
        notice.check(filt, entry, "standard input")
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
    notice = TextNotice()
    try:
        first: deque[Entry] = deque(maxlen=start if start >= 0 else None)
        for entry in _entries(follower.poll(), filt, notice, path):
            first.append(entry)
        for entry in first:
            printer.write(entry, path)
        while follow:
            sleep(interval)
            for entry in _entries(follower.poll(), filt, notice, path):
                printer.write(entry, path)
    except TailError as exc:
        print(f"falcoish tail: {exc}", file=sys.stderr)
        return 2
    finally:
        follower.close()
    return 0


def _entries(lines: list[str], filt: Filter, notice: TextNotice, where: str) -> Iterator[Entry]:
    for line in lines:
        entry = parse_line(line)
        notice.check(filt, entry, where)
        if filt.accepts(entry):
            yield entry
