"""Replay: recorded JSON-lines events -> `Event`s (`falcoish run -e FILE`, `-e -` = stdin).

Pipeline step 1 for offline runs.  Why a generator with a callback: a recording can hold
millions of events, so they stream through one at a time; and one damaged line must not
stop a run, so a bad record is reported through `on_bad(record_number, reason)` and skipped
(the CLI prints and counts them).  This is the replay hot path: one `orjson.loads` and one
`Event.from_record` per line, with the error handling outside the normal flow.

Numbering: record numbers are 1-based physical line numbers, so a reported number is the
line to open in an editor.  Blank lines are not records (skipped silently) but still count
as lines.  A record without `num` gets its line number as `evt.num`.

Shared sections: a `{"def": N, "value": ...}` line defines section N for the lines after it
(docs/events.md, "Shared sections"); it is a record (it has a number) but not an event.  A
later definition of the same number replaces the earlier one, which lets a writer reuse
numbers and keep both sides' tables bounded.  The reader bounds its own table too, and the
length of a line (`ReplayLimits`): input is never trusted to be what falcoish wrote.

Compression is detected from the first two bytes (the gzip magic), not from the file name,
so `-e -` and renamed files work too.
"""

from __future__ import annotations

import gzip
import io
import select
import sys
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO, Callable, Iterator, Union

import orjson

from ..events.event import BadRecord, Definitions, Event
from ..events.schema import THREAD, UNION, describe, first_bad, list_bad

__all__ = ["read_events", "open_stream", "define_shared", "ReplayLimits", "SharedSections", "GZIP_MAGIC"]

GZIP_MAGIC = b"\x1f\x8b"
Stream = Union[BinaryIO, io.BufferedReader, gzip.GzipFile]
_BUFFER = 1 << 16


def _wait_readable(fd: int | None) -> None:
    """Wait for input on a pipe or terminal in slices of 0.25 s.  Why: a signal sent to the
    process may be delivered to any of its threads; its Python handler (SIGHUP reload,
    SIGTERM, -M's SIGALRM) runs only when the main thread returns to Python, which a read
    blocked in C never does.  Between slices it does."""
    if fd is None:
        return
    while not select.select([fd], [], [], 0.25)[0]:
        pass


class _Prefixed(io.RawIOBase):
    """A non-seekable stream with its first bytes (already read to sniff them) put back; its
    reads wait for input in slices (_wait_readable)."""

    def __init__(self, head: bytes, rest: BinaryIO, fd: int | None) -> None:
        self._head = head
        self._rest = rest
        self._fd = fd

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        _wait_readable(self._fd)
        data = self._rest.read1(len(buffer)) if hasattr(self._rest, "read1") else self._rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _fileno(stream: BinaryIO) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


def open_stream(path: str) -> tuple[Stream, Callable[[], None]]:
    """Open `path` (`-` = stdin) for binary line reading, decompressing gzip input.

    Returns the stream and a function that closes what this call opened (never stdin).
    Raises OSError (e.g. FileNotFoundError) at once, before any record is read."""
    if path == "-":
        raw: BinaryIO = sys.stdin.buffer
        owned = False
    else:
        raw = open(path, "rb", buffering=_BUFFER)
        owned = True
    stream: Stream
    if raw.seekable():
        head = raw.read(2)
        raw.seek(0)
        stream = raw
    else:
        # unbuffered underneath (stdin's raw FileIO), so that select() tells the truth
        source: BinaryIO = getattr(raw, "raw", raw) if _fileno(raw) is not None else raw
        fd = _fileno(source)
        head = b""
        while len(head) < 2:
            _wait_readable(fd)
            more = source.read(2 - len(head))
            if not more:
                break
            head += more
        stream = io.BufferedReader(_Prefixed(head, source, fd), _BUFFER)
    if head == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=stream, mode="rb")

    def close() -> None:
        if owned:
            stream.close()
            raw.close()
    return stream, close


#: how many dropped section numbers are remembered to explain a reference to one (bounded too)
DROPS_REMEMBERED = 4096


@dataclass(frozen=True)
class ReplayLimits:
    """How much of a replay stream is held in memory at once (config keys `replay.*`).

    Why: the reader trusts nothing it reads.  Without a bound, one line with no newline is
    read whole however big it is, and a stream that defines a million shared sections keeps
    all of them (899 MB for what takes 39 MB inline).  The writer keeps at most 8,192
    numbers, so the default table of 16,384 never drops what falcoish itself recorded."""

    max_line_bytes: int = 16 << 20
    max_shared_sections: int = 16384
    max_shared_bytes: int = 256 << 20


class SharedSections:
    """The shared sections defined so far (`defs`, read by `Event.from_record`), bounded.

    When a new definition would exceed `max_shared_sections` or `max_shared_bytes` (the
    length of the definition lines held), the least recently *defined* sections are dropped;
    an event that names one of them is a bad record that says so.  Each value is checked
    once, here, against every kind of section it may stand for (event_schema.UNION), which
    is what lets the per-event path skip checking shared sections."""

    def __init__(self, limits: ReplayLimits) -> None:
        self.limits = limits
        self.defs: Definitions = {}
        #: number -> length of its definition line, oldest definition first.  An OrderedDict,
        #: not a dict: a dict whose oldest keys keep being deleted makes `next(iter(d))` step
        #: over every deleted slot until it is resized (measured: 3x slower reading)
        self._sizes: OrderedDict[int, int] = OrderedDict()
        self._bytes = 0
        #: number -> line where its definition was dropped (the latest DROPS_REMEMBERED)
        self.dropped: OrderedDict[int, int] = OrderedDict()
        self.drops = 0

    def define(self, record: dict[str, object], size: int, number: int) -> str | None:
        """Store the definition `record` (it has a "def" key), `size` bytes long, read at
        line `number`; the reason it is unusable, if it is."""
        key, value = record["def"], record.get("value")
        if not isinstance(key, int) or isinstance(key, bool):
            return f"'def' must be an integer, got {type(key).__name__}"
        self._forget(key)  # events naming it must never get an older definition instead
        problem = _definition_problem(key, value)
        if problem is not None:
            return problem
        limits = self.limits
        if size > limits.max_shared_bytes:
            return (f"shared section {key} is {size} bytes long, more than all shared sections may "
                    f"take together (replay.max_shared_bytes = {limits.max_shared_bytes})")
        self.defs[key] = value
        self._sizes[key] = size
        self._bytes += size
        while len(self.defs) > limits.max_shared_sections or self._bytes > limits.max_shared_bytes:
            self._drop(next(iter(self._sizes)), number)
        self.dropped.pop(key, None)
        return None

    def explain(self, err: BadRecord) -> str:
        """The reason for a bad record, saying so when the section it names was dropped (or,
        past the drops remembered, may have been)."""
        if err.section is None or not self.drops:
            return err.reason
        limits = self.limits
        line = self.dropped.get(err.section)
        if line is None:
            return (f"{err.reason}, or which was dropped to keep within replay.max_shared_sections "
                    f"({limits.max_shared_sections}) and replay.max_shared_bytes ({limits.max_shared_bytes})")
        return (f"'{err.key}' refers to shared section {err.section}, which was dropped at line "
                f"{line} to keep at most {limits.max_shared_sections} shared sections and "
                f"{limits.max_shared_bytes} bytes of them (replay.max_shared_sections, "
                f"replay.max_shared_bytes)")

    def _forget(self, key: int) -> None:
        if key in self.defs:
            del self.defs[key]
            self._bytes -= self._sizes.pop(key)

    def _drop(self, key: int, number: int) -> None:
        self._forget(key)
        self.drops += 1
        self.dropped[key] = number
        if len(self.dropped) > DROPS_REMEMBERED:
            self.dropped.popitem(last=False)


def _definition_problem(key: int, value: object) -> str | None:
    """What is wrong with the value of shared section `key`: it is checked once, here, against
    every kind of section it may stand for (event_schema.UNION; a list: ancestors)."""
    if type(value) is dict:
        bad = first_bad(value, UNION)
    elif type(value) is list:
        bad = list_bad(value, THREAD)
    else:
        return f"shared section {key}: 'value' must be an object or an array"
    return None if bad is None else f"shared section {key}: {describe('value', bad)}"


def define_shared(record: dict[str, object], defs: Definitions) -> str | None:
    """Store the definition `record` (it has a "def" key) in a plain `defs` table that the
    caller owns and bounds (the replay reader uses `SharedSections`); the reason it is
    unusable, if it is."""
    key, value = record["def"], record.get("value")
    if not isinstance(key, int) or isinstance(key, bool):
        return f"'def' must be an integer, got {type(key).__name__}"
    defs.pop(key, None)  # events naming it must not get an older definition instead
    problem = _definition_problem(key, value)
    if problem is None:
        defs[key] = value
    return problem


def read_events(path: str, on_bad: Callable[[int, str], None],
                limits: ReplayLimits | None = None) -> Iterator[Event]:
    """The events of a recording, in order; bad records go to `on_bad(number, reason)`.

    The file is opened immediately (a missing file raises here); records are read lazily.
    A gzip stream that is truncated or corrupt ends the replay with one `on_bad` report for
    the line after the last one read."""
    stream, close = open_stream(path)
    return _events(stream, close, on_bad, limits or ReplayLimits())


def _events(stream: Stream, close: Callable[[], None], on_bad: Callable[[int, str], None],
            limits: ReplayLimits) -> Iterator[Event]:
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    build = Event.from_record
    shared = SharedSections(limits)
    defs = shared.defs
    readline = stream.readline
    limit = limits.max_line_bytes
    number = 0
    try:
        # readline(limit): a line with no end is never read whole, only `limit` bytes at a time
        for number, line in enumerate(iter(partial(readline, limit), b""), 1):
            if len(line) >= limit and line[-1:] != b"\n" and _skip_rest(readline, limit):
                on_bad(number, f"line is longer than {limit} bytes (replay.max_line_bytes): not read")
                continue
            try:
                record = loads(line)
            except decode_error as err:
                if line.isspace() or not line:
                    continue  # blank line: not a record
                on_bad(number, f"not valid JSON: {err.msg} at column {err.colno}")
                continue
            if type(record) is dict and "def" in record:
                problem = shared.define(record, len(line), number)
                if problem:
                    on_bad(number, problem)
                continue
            try:
                event = build(record, number, defs)
            except BadRecord as err:
                on_bad(number, shared.explain(err))
                continue
            yield event
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        on_bad(number + 1, f"compressed stream is truncated or corrupt ({err}); replay stopped")
    finally:
        close()


def _skip_rest(readline: Callable[[int], bytes], limit: int) -> bool:
    """Read past the rest of an over-long line, `limit` bytes at a time; False when there was
    no rest (the file ended exactly at the limit: the line is complete)."""
    rest = readline(limit)
    if not rest:
        return False
    while rest and rest[-1:] != b"\n":
        rest = readline(limit)
    return True
