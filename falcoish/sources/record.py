"""Record: `Event`s -> JSON lines, the format replay reads (docs/events.md).

Pipeline step 1, in reverse: the live capture writes what it sees with `--record FILE` so
the same run can be replayed later, byte for byte the same input to the engine.

Context sections (thread, ancestors, user, group, container) are written once as shared
sections and referred to by number (docs/events.md, "Shared sections"): consecutive events
of one thread carry identical, kilobyte-sized context, and writing it per event made
recordings about fifty times larger and replay correspondingly slower to decode.  Sharing is
by content, so a section that changed (after an execve, a setuid) simply gets a new
definition.  The table of written sections is bounded: the least recently used number is
redefined when it is full, which the reader handles by replacing its entry.  A name
ending in `.gz` is written gzip-compressed; `-` writes to stdout.  Values that JSON has no
type for are written the way the format expects them: byte buffers as strings whose code
points 0-255 are the bytes, IP addresses as text, sets and tuples as arrays.  A recording file
is created 0600 whatever the umask: events carry command lines, environments and paths.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import os
import sys
from types import TracebackType
from collections import OrderedDict
from typing import Any, BinaryIO, Union

import orjson

from ..events.event import SHAREABLE, Event

__all__ = ["EventWriter"]

_OPTIONS = orjson.OPT_APPEND_NEWLINE


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address,
                          ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot record a value of type {type(value).__name__}")


def _owner_only(path: str, flags: int) -> int:
    """`open()` opener: a file created here is readable by its owner only (umask aside)."""
    return os.open(path, flags, 0o600)


class EventWriter:
    """Writes events as JSON lines; use as a context manager (or call `close`).

    `write(event)` appends one line (after the definitions of any shared section it names
    that is new); `write_record(dict)` writes an already-built record the same way.
    `flush()` pushes buffered lines to the file (a gzip member stays open until `close`).
    `share=False` writes every section inline (the self-contained form, one event per line).
    `count` is the number of events written, `definitions` the number of shared sections."""

    def __init__(self, path: str, compresslevel: int = 6, share: bool = True,
                 max_shared: int = 8192) -> None:
        self.path = path
        self.share = share
        # At least one slot per shareable key: an event's own sections are the most recently
        # used, so the eviction below can never take a number the event is about to name.
        self.max_shared = max(max_shared, len(SHAREABLE))
        # digest of a section's JSON -> its number (digests, not the JSON: an ancestors list
        # can be tens of kilobytes, and the table holds thousands)
        self._shared: OrderedDict[bytes, int] = OrderedDict()
        self.definitions = 0
        self._file: BinaryIO | None = None  # what this writer opened (never stdout)
        self._gzip: gzip.GzipFile | None = None
        raw: BinaryIO = sys.stdout.buffer if path == "-" else open(path, "wb", opener=_owner_only)
        if path != "-":
            self._file = raw
        self._out: Union[BinaryIO, gzip.GzipFile] = raw
        if path.endswith(".gz"):
            self._gzip = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel)
            self._out = self._gzip
        self.count = 0

    def write(self, event: Event) -> None:
        self.write_record(event.to_record())

    def write_record(self, record: dict[str, Any]) -> None:
        if self.share:
            record = dict(record)
            for key in SHAREABLE:
                value = record.get(key)
                if value:
                    record[key] = self._number(value)
        self._out.write(orjson.dumps(record, default=_json_default, option=_OPTIONS))
        self.count += 1

    def _number(self, section: Any) -> int:
        """The shared-section number of `section`, writing its definition if it is new."""
        text = orjson.dumps(section, default=_json_default)
        digest = hashlib.blake2b(text, digest_size=16).digest()
        number = self._shared.get(digest)
        if number is not None:
            self._shared.move_to_end(digest)
            return number
        if len(self._shared) >= self.max_shared:
            number = self._shared.popitem(last=False)[1]  # reuse the least recently used number
        else:
            number = len(self._shared) + 1
        self._shared[digest] = number
        self._out.write(b'{"def":%d,"value":%s}\n' % (number, text))
        self.definitions += 1
        return number

    def flush(self) -> None:
        self._out.flush()

    def bytes_written(self) -> int:
        """Bytes in the file so far (compressed, for `.gz`; the compressor's buffered tail
        not included): what a size-rotating recorder compares with its limit."""
        return self._file.tell() if self._file is not None else 0

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()  # writes the gzip trailer; leaves the file open
            self._gzip = None
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self.path == "-":
            sys.stdout.buffer.flush()

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
