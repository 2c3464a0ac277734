"""Fields read from the process's whole fd table: `fd.types`, `proc.stdin.*`/`stdout`/`stderr`,
`proc.fdopencount`, `proc.fdlimit`, `proc.fdusage`.

Pipeline step: field binding/extraction.  Why a record key: libsinsp answers these from its
thread table, where each process has its descriptors; an event record carries only the fd the
event is about, so the table travels in the thread section as `fds` (an array of
`{num, type, name}`, docs/events.md), with `fdlimit` (RLIMIT_NOFILE).  Without them the
fields are absent, as for a thread libsinsp does not know.

`fdlist.*` (the fds of a poll() call) are listed as unavailable: poll's `fds` argument is not
part of the event records.
"""

from __future__ import annotations

from typing import Any, Callable

from ..events.event import Event
from ..events.fieldtypes import DOUBLE, INT64, STRING, UINT64
from .registry import ArgValue, family, simple

Entry = dict[str, Any]


def _table(ev: Event) -> list[Entry] | None:
    fds = ev.thread.get("fds")
    return fds if type(fds) is list else None


def _entry(ev: Event, num: int) -> Entry | None:
    for item in _table(ev) or ():
        if type(item) is dict and item.get("num") == num:
            return item
    return None


def _types(ev: Event) -> tuple[str, ...] | None:
    """Every type in use, once each, in fd-number order."""
    table = _table(ev)
    if table is None:
        return None
    found: dict[str, None] = {}
    for item in sorted((i for i in table if type(i) is dict and type(i.get("num")) is int),
                       key=lambda i: i["num"]):
        kind = item.get("type")
        if type(kind) is str:
            found[kind] = None
    return tuple(found)


def _types_family(arg: ArgValue) -> Callable[[Event], Any]:
    if arg is None:
        return _types
    num = int(arg)

    def one(ev: Event) -> tuple[str, ...] | None:
        item = _entry(ev, num)
        kind = item.get("type") if item is not None else None
        return (kind,) if type(kind) is str else None
    return one


family("fd.types", STRING, "types of the descriptors the process has open, each once; [N]: "
       "the type of fd N (as a one-item list)", _types_family, arg="optional_index",
       multi="list", no_rhs=True)


def _std(num: int, key: str) -> Callable[[Event], str | None]:
    def extract(ev: Event) -> str | None:
        item = _entry(ev, num)
        value = item.get(key) if item is not None else None
        return value if type(value) is str else None
    return extract


for _num, _stream in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
    simple(f"proc.{_stream}.type", STRING, f"type of fd {_num} ({_stream}) of the process",
           _std(_num, "type"))
    simple(f"proc.{_stream}.name", STRING, f"name of fd {_num} ({_stream}) of the process",
           _std(_num, "name"))


def _opencount(ev: Event) -> int | None:
    table = _table(ev)
    return None if table is None else len(table)


def _fdlimit(ev: Event) -> int | None:
    limit = ev.thread.get("fdlimit")
    return limit if type(limit) is int else None


def _fdusage(ev: Event) -> float | None:
    count, limit = _opencount(ev), _fdlimit(ev)
    if count is None or limit is None:
        return None
    return 0.0 if limit <= 0 else min(100.0, count * 100 / limit)


simple("proc.fdopencount", UINT64, "number of descriptors the process has open", _opencount)
simple("proc.fdlimit", INT64, "most descriptors the process may open (RLIMIT_NOFILE)", _fdlimit)
simple("proc.fdusage", DOUBLE, "open descriptors as a percentage of proc.fdlimit", _fdusage)

for _name, _what in (("nums", "numbers"), ("names", "names"), ("cips", "client addresses"),
                     ("sips", "server addresses"), ("cports", "client ports"),
                     ("sports", "server ports")):
    simple(f"fdlist.{_name}", STRING, f"poll events: the {_what} of the fds argument, comma "
           "separated (poll's fds argument is not recorded)", lambda ev: None, available=False)
