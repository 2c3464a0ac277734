"""`evt.*` and `syscall.type` fields: the event itself (type, time, return value, arguments).

Pipeline step: field binding/extraction.  Why the event table matters here: `evt.type`
constants are validated against every known event name, `evt.arg.NAME` must name a parameter
of some event, and its text depends on the parameter's kind in *this* event's type, so the
binder builds one small renderer per event type that has the parameter and the extractor only
picks the one for `ev.type`.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Callable

from ..errors import RuleError
from ..events.event import Event
from ..events.table import ARG_NAMES, EVENT_NAMES, EVENTS, PKind
from ..events.fieldtypes import ABSTIME, BOOL, BYTES, INT64, RELTIME, STRING, UINT32, UINT64, FType, Kind
from .args import TYPECHARS, pair_getter, text_getter, value_getter, MISSING
from .names import errno_name
from .registry import ArgValue, Binding, family, simple
from .render import bytes_value, local_datetime, local_time

_INT16 = FType(Kind.INT, 16, True)
_OPEN_TYPES = frozenset({"open", "openat", "openat2", "open_by_handle_at"})
_O_CREAT, _O_TMPFILE_BIT = 0o100, 0o20000000
_SYSCALLS = frozenset(n for n, e in EVENTS.items() if e.syscall)
_IO = {n: e.io for n, e in EVENTS.items() if e.io}
_BUFFER_TYPES = frozenset(n for n, e in EVENTS.items()
                          if "data" in e.by_name and e.by_name["data"].kind is PKind.BYTEBUF)


def check_event_type(value: str) -> None:
    """Constant check of `evt.type` / `syscall.type`: Falco rejects unknown names."""
    if value not in EVENT_NAMES:
        raise ValueError(f"unknown event type {value}")


# -- identity and time ----------------------------------------------------------------------------
simple("evt.num", UINT64, "event number, 1 for the first event", lambda ev: ev.num)
simple("evt.type", STRING, "event type (syscall name or procexit, switch...)", lambda ev: ev.type,
       check_constant=check_event_type)
simple("syscall.type", STRING, "like evt.type, absent for events that are not system calls",
       lambda ev: ev.type if ev.type in _SYSCALLS else None, check_constant=check_event_type)


def _type_is(arg: ArgValue) -> Callable[[Event], Any]:
    name = str(arg)
    if name not in EVENT_NAMES:
        raise RuleError(f"unknown event type {name}")
    return lambda ev: 1 if ev.type == name else 0


family("evt.type.is", UINT32, "evt.type.is.NAME: 1 for events of type NAME, else 0", _type_is,
       arg="required", dotted="only")
simple("evt.dir", STRING, "event direction: always '<' (exit; enter events are not produced)",
       lambda ev: "<")
simple("evt.time", ABSTIME, "event time, printed as local HH:MM:SS.nnnnnnnnn", lambda ev: ev.ts,
       render=lambda v: local_time(v))
simple("evt.time.s", STRING, "event time as local HH:MM:SS", lambda ev: local_time(ev.ts)[:8])


def _iso(ev: Event) -> str:
    secs, frac = divmod(ev.ts, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


simple("evt.time.iso8601", STRING, "event time in ISO 8601 (UTC)", _iso)
simple("evt.datetime", STRING, "event date and local time YYYY-MM-DD HH:MM:SS.nnnnnnnnn",
       lambda ev: local_datetime(ev.ts))
simple("evt.datetime.s", STRING, "event date and local time YYYY-MM-DD HH:MM:SS",
       lambda ev: local_datetime(ev.ts)[:19])
simple("evt.rawtime", ABSTIME, "event time in nanoseconds since the epoch", lambda ev: ev.ts)
simple("evt.rawtime.s", UINT64, "seconds part of evt.rawtime", lambda ev: ev.ts // 1_000_000_000)
simple("evt.rawtime.ns", UINT64, "nanoseconds part of evt.rawtime",
       lambda ev: ev.ts % 1_000_000_000)
simple("evt.latency", RELTIME, "syscall latency: always 0 (one event per syscall)",
       lambda ev: 0)
simple("evt.hostname", STRING, "host name ($FALCO_HOSTNAME overrides)",
       (lambda host: lambda ev: host)(os.environ.get("FALCO_HOSTNAME") or socket.gethostname()))
simple("evt.cpu", _INT16, "CPU the event ran on (thread record key `cpu`)",
       lambda ev: v if type(v := ev.thread.get("cpu")) is int else None)
simple("evt.source", STRING, "event source: 'syscall'", lambda ev: "syscall")
simple("evt.is_async", BOOL, "true for asynchronous events: always false", lambda ev: False)

# -- return value ---------------------------------------------------------------------------------


def _res(ev: Event) -> str | None:
    res = ev.res
    if res is None:
        return None
    return "SUCCESS" if res >= 0 else (errno_name(res) or str(res))


simple("evt.res", STRING, "SUCCESS, or the errno name (ENOENT...) when the call failed", _res)
simple("evt.rawres", INT64, "return value as a number (-errno on failure)", lambda ev: ev.res)
simple("evt.failed", BOOL, "true when the return value is an error",
       lambda ev: None if ev.res is None else ev.res < 0)

# -- arguments ------------------------------------------------------------------------------------


def _by_type(makers: dict[str, Callable[[Event], Any]]) -> Callable[[Event], Any]:
    get = makers.get

    def extract(ev: Event) -> Any:
        f = get(ev.type)
        return None if f is None else f(ev)
    return extract


def _arg(arg: ArgValue) -> Callable[[Event], Any]:
    if isinstance(arg, int):
        return _by_type({n: text_getter(e.params[arg]) for n, e in EVENTS.items()
                         if len(e.params) > arg})
    if arg not in ARG_NAMES:
        raise RuleError(f"unknown event argument {arg}")
    return _by_type({n: text_getter(e.by_name[arg]) for n, e in EVENTS.items() if arg in e.by_name})


family("evt.arg", STRING, "evt.arg.NAME / evt.arg[N]: one event argument as text (flags as "
       "names, fds as <f>/path, relative paths resolved)", _arg, arg="index_or_key", dotted="also")


def _rawarg(arg: ArgValue) -> Binding:
    name = str(arg)
    if name not in ARG_NAMES:
        raise RuleError(f"unknown event argument {name}")
    kinds = {e.by_name[name].kind for e in EVENTS.values() if name in e.by_name}
    if all(k.numeric for k in kinds):
        ftype: FType = INT64
        conv: Callable[[Any], Any] = lambda v: v if type(v) is int else None
    elif PKind.BYTEBUF in kinds:
        ftype, conv = BYTES, lambda v: bytes_value(v) or str(v).encode()
    else:
        ftype, conv = STRING, lambda v: v if isinstance(v, str) else str(v)
    getters = {n: value_getter(e.by_name[name]) for n, e in EVENTS.items() if name in e.by_name}

    def extract(ev: Event) -> Any:
        get = getters.get(ev.type)
        if get is None:
            return None
        v = get(ev)
        return None if v is MISSING or v is None else conv(v)
    return Binding(extract, ftype)


family("evt.rawarg", INT64, "evt.rawarg.NAME: one event argument, unrendered (numbers stay "
       "numbers)", _rawarg, arg="required", dotted="only", no_rhs=True, no_transformer=True)

_PAIRS = {n: tuple(pair_getter(p) for p in e.params) for n, e in EVENTS.items()}


def _args(ev: Event) -> str | None:
    pairs = _PAIRS.get(ev.type)
    if pairs is None:
        return None
    return " ".join(t for t in (p(ev) for p in pairs) if t is not None)


simple("evt.args", STRING, "all arguments as name=value(resolved) separated by spaces", _args)


def _buffer(ev: Event) -> bytes | None:
    return bytes_value(ev.args.get("data")) if ev.type in _BUFFER_TYPES else None


simple("evt.buffer", BYTES, "I/O payload (data argument) of read/write/send/recv events", _buffer)
simple("evt.buflen", UINT64, "bytes transferred by an I/O event",
       lambda ev: ev.res if ev.type in _IO and ev.res is not None and ev.res >= 0 else None)
simple("evt.is_io", BOOL, "true for I/O events (read/write/send/recv family)",
       lambda ev: ev.type in _IO)
simple("evt.is_io_read", BOOL, "true for events that read from an fd",
       lambda ev: _IO.get(ev.type) == "r")
simple("evt.is_io_write", BOOL, "true for events that write to an fd",
       lambda ev: _IO.get(ev.type) == "w")
simple("evt.io_dir", STRING, "'r' or 'w' for I/O events", lambda ev: _IO.get(ev.type))

# -- open classification --------------------------------------------------------------------------


def _open_flags(ev: Event) -> int | None:
    flags = ev.args.get("flags") if ev.type in _OPEN_TYPES else None
    return flags if type(flags) is int else None


def _is_open(modes: tuple[int, ...]) -> Callable[[Event], bool]:
    # `_open_flags` written out: these tests guard most open* rules, once per open event
    def test(ev: Event) -> bool:
        if ev.type not in _OPEN_TYPES:
            return False
        flags = ev.args.get("flags")
        return type(flags) is int and flags & 3 in modes
    return test


def _is_open_exec(ev: Event) -> bool:
    mode = ev.args.get("mode")
    if type(mode) is not int or not mode & 0o111:
        return False
    if ev.type == "creat":
        return True
    flags = _open_flags(ev)
    return flags is not None and bool(flags & (_O_CREAT | _O_TMPFILE_BIT))


simple("evt.is_open_read", BOOL, "open* event whose flags include read access",
       _is_open((0, 2)))
simple("evt.is_open_write", BOOL, "open* event whose flags include write access",
       _is_open((1, 2)))
simple("evt.is_open_exec", BOOL, "open*/creat creating a file with an execute bit in its mode",
       _is_open_exec)

# -- category -------------------------------------------------------------------------------------
_CATEGORY = {n: e.category for n, e in EVENTS.items()}
_IO_CATEGORY = {"4": "net", "6": "net", "u": "net", "p": "IPC", "f": "file", "d": "file"}


def _category(ev: Event) -> str | None:
    cat = _CATEGORY.get(ev.type)
    if cat != "io":
        return cat
    fd = ev.fd
    kind = fd.get("type") if fd is not None else None
    return _IO_CATEGORY.get(TYPECHARS.get(kind, "") if isinstance(kind, str) else "", "file")


simple("evt.category", STRING, "event category: file, net, process, memory, IPC, signal...",
       _category)
