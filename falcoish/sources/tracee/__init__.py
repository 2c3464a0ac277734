"""Tracee input: Tracee's JSON event stream -> falcoish `Event`s (`falcoish run --input tracee`).

Pipeline step 1 (input), the Tracee counterpart of `replay`: `tracee-ebpf --output json |
falcoish run --input tracee -e -` evaluates falcoish rules on Tracee's events, as tracee-rules
does with its signatures.  Why a translation rather than a second event model: every field,
rule and output of falcoish reads the Falco-shaped `Event` (docs/events.md), so one mapping
here makes all of them work on Tracee input.  The mapping is documented in docs/tracee.md.

Principles:

* Tracee event names become Falco event types (`security_file_open` -> `openat`,
  `sched_process_exec` -> `execve`...); Tracee argument names become Falco parameter names,
  with native raw values (flags given as text, e.g. `"O_WRONLY|O_CREAT"`, are parsed back to
  numbers).  Events with no Falco counterpart are skipped (`on_unmapped`).
* Nothing is invented: what a record does not say is absent, and absent fields make rule
  comparisons false, as in Falco.  The only state kept is what the stream itself showed, as
  libsinsp's tables do: a process table (name, executable, arguments, environment and parent
  of each pid, from earlier events of the stream, for `proc.pname`, `proc.env`...) and the
  connected sockets of each process (so a `dup2` of a socket onto stdin carries the socket).
* Three record shapes are recognised per record: Tracee's flat shape (v0.4-v0.12, top-level
  `containerId`...), its nested shape (v0.13+, `container`/`kubernetes` objects) and the
  protobuf-shaped JSON of Tracee main (`workload`/`data`).

Bad records go to `on_bad(record_number, reason)` and are skipped, as in `replay`.

Package layout: `values` (argument values), `records` (the three record shapes), `mapped`
(what an event becomes; the one-to-one system call table), `handlers` (one per Tracee event),
`state` (process and socket tables, event assembly).
"""

from __future__ import annotations

import gzip
import zlib
from typing import Callable, Iterable, Iterator

import orjson

from ...events.event import Event
from ..replay import open_stream
from .handlers import _HANDLERS, TRACEE_EVENT_TYPES, _Reader
from .records import _BadRecord, _parse_record
from .state import TraceeEvent

__all__ = ["read_tracee_events", "TraceeEvent", "TRACEE_EVENT_TYPES"]


def read_tracee_events(path: str, on_bad: Callable[[int, str], None], *,
                       on_unmapped: Callable[[int, str], None] | None = None) -> Iterator[Event]:
    """The events of a Tracee JSON stream (`path`, `-` = stdin, gzip detected), in order.

    Bad records go to `on_bad(record_number, reason)`; records of Tracee events falcoish has
    no counterpart for are skipped, and reported to `on_unmapped(record_number, event_name)`
    when given.  Record numbers are 1-based line numbers; blank lines are skipped.  The file
    is opened immediately (a missing file raises here)."""
    stream, close = open_stream(path)
    return _events(stream, close, on_bad, on_unmapped)


def _events(lines: Iterable[bytes], close: Callable[[], None], on_bad: Callable[[int, str], None],
            on_unmapped: Callable[[int, str], None] | None) -> Iterator[Event]:
    reader = _Reader()
    handlers = _HANDLERS
    number = 0
    try:
        for number, line in enumerate(lines, 1):
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as err:
                if not line or line.isspace():
                    continue
                on_bad(number, f"not valid JSON: {err.msg} at column {err.colno}")
                continue
            try:
                rec = _parse_record(obj)
                handler = handlers.get(rec.name)
                mapped = handler(reader, rec) if handler is not None else None
            except _BadRecord as err:
                on_bad(number, err.reason)
                continue
            if mapped is None:
                if on_unmapped is not None:
                    on_unmapped(number, rec.name)
                continue
            yield reader.build(rec, mapped, number)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        on_bad(number + 1, f"compressed stream is truncated or corrupt ({err}); replay stopped")
    finally:
        close()
