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
numbers and keep both sides' tables bounded.

Compression is detected from the first two bytes (the gzip magic), not from the file name,
so `-e -` and renamed files work too.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from typing import BinaryIO, Callable, Iterable, Iterator, Union

import orjson

from ..event import BadRecord, Definitions, Event

__all__ = ["read_events", "open_stream", "define_shared", "GZIP_MAGIC"]

GZIP_MAGIC = b"\x1f\x8b"
Stream = Union[BinaryIO, io.BufferedReader, gzip.GzipFile]
_BUFFER = 1 << 16


class _Prefixed(io.RawIOBase):
    """A non-seekable stream with its first bytes (already read to sniff them) put back."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read1(len(buffer)) if hasattr(self._rest, "read1") else self._rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


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
    head = raw.read(2)
    stream: Stream
    if raw.seekable():
        raw.seek(0)
        stream = raw
    else:
        stream = io.BufferedReader(_Prefixed(head, raw), _BUFFER)
    if head == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=stream, mode="rb")

    def close() -> None:
        if owned:
            stream.close()
            raw.close()
    return stream, close


def read_events(path: str, on_bad: Callable[[int, str], None]) -> Iterator[Event]:
    """The events of a recording, in order; bad records go to `on_bad(number, reason)`.

    The file is opened immediately (a missing file raises here); records are read lazily.
    A gzip stream that is truncated or corrupt ends the replay with one `on_bad` report for
    the line after the last one read."""
    stream, close = open_stream(path)
    return _events(stream, close, on_bad)


def _events(lines: Iterable[bytes], close: Callable[[], None],
            on_bad: Callable[[int, str], None]) -> Iterator[Event]:
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    build = Event.from_record
    defs: Definitions = {}
    number = 0
    try:
        for number, line in enumerate(lines, 1):
            try:
                record = loads(line)
            except decode_error as err:
                if line.isspace() or not line:
                    continue  # blank line: not a record
                on_bad(number, f"not valid JSON: {err.msg} at column {err.colno}")
                continue
            if type(record) is dict and "def" in record:
                problem = define_shared(record, defs)
                if problem:
                    on_bad(number, problem)
                continue
            try:
                event = build(record, number, defs)
            except BadRecord as err:
                on_bad(number, err.reason)
                continue
            yield event
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        on_bad(number + 1, f"compressed stream is truncated or corrupt ({err}); replay stopped")
    finally:
        close()


def define_shared(record: dict[str, object], defs: Definitions) -> str | None:
    """Store the shared-section definition `record` (it has a "def" key) in `defs`; the
    reason it is unusable, if it is."""
    key, value = record["def"], record.get("value")
    if not isinstance(key, int) or isinstance(key, bool):
        return f"'def' must be an integer, got {type(key).__name__}"
    if not isinstance(value, (dict, list)):
        defs.pop(key, None)  # events naming it must not get an older definition instead
        return f"shared section {key}: 'value' must be an object or an array"
    defs[key] = value
    return None
