"""Record: `Event`s -> JSON lines, the format replay reads (docs/events.md).

Pipeline step 1, in reverse: the live capture writes what it sees with `--record FILE` so
the same run can be replayed later, byte for byte the same input to the engine.  A name
ending in `.gz` is written gzip-compressed; `-` writes to stdout.  Values that JSON has no
type for are written the way the format expects them: byte buffers as strings whose code
points 0-255 are the bytes, IP addresses as text, sets and tuples as arrays.
"""

from __future__ import annotations

import gzip
import ipaddress
import sys
from types import TracebackType
from typing import Any, BinaryIO, Union

import orjson

from ..event import Event

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


class EventWriter:
    """Writes events as JSON lines; use as a context manager (or call `close`).

    `write(event)` appends one line; `write_record(dict)` writes an already-built record.
    `flush()` pushes buffered lines to the file (a gzip member stays open until `close`)."""

    def __init__(self, path: str, compresslevel: int = 6) -> None:
        self.path = path
        self._file: BinaryIO | None = None  # what this writer opened (never stdout)
        self._gzip: gzip.GzipFile | None = None
        raw: BinaryIO = sys.stdout.buffer if path == "-" else open(path, "wb")
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
        self._out.write(orjson.dumps(record, default=_json_default, option=_OPTIONS))
        self.count += 1

    def flush(self) -> None:
        self._out.flush()

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
