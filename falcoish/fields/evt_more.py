"""The rest of libsinsp's `evt.*` table: counters, per-direction buffer lengths, the time since
the previous event, and the fields libsinsp keeps only for compatibility.

Pipeline step: field binding/extraction.  Why a module of its own: these are derived from what
evt.py already reads (return value, event category, I/O direction, the fd's type) and are
rarely used, so they stay out of the module that the common rules bind.  What each returns is
libsinsp's answer for a syscall *exit* event, the only kind falcoish produces: e.g.
`evt.count.exit` is 1 for every system call, `evt.count.procinfo` 0 (procinfo events are never
produced), `evt.latency.*` 0 and `"0ns"` (libsinsp hard-wires them since enter and exit were
merged), `evt.pluginname` absent (no plugin events).
"""

from __future__ import annotations

import threading
from typing import Callable

from ..events.event import Event
from ..events.table import EVENTS
from ..events.fieldtypes import BOOL, RELTIME, STRING, UINT32, UINT64
from .evt import _args as evt_args
from .registry import simple
from .render import local_time

_SYSCALLS = frozenset(n for n, e in EVENTS.items() if e.syscall)
_IO = {n: e.io for n, e in EVENTS.items() if e.io}
_MEMORY = frozenset(n for n, e in EVENTS.items() if e.category == "memory")
_OPEN_TYPES = frozenset({"open", "openat", "openat2", "open_by_handle_at"})
_ERROR_FILE_TYPES = _OPEN_TYPES | {"creat"}
_ERROR_NET_TYPES = frozenset({"accept", "accept4", "connect"})
#: events libsinsp's event table flags EF_WAITS (the thread sleeps until they return)
_WAITS = frozenset({"epoll_wait", "nanosleep", "poll", "ppoll", "select"}) & frozenset(EVENTS)
_FILE_FD = frozenset({"file", "directory"})
_NET_FD = frozenset({"ipv4", "ipv6", "unix"})
_IP_FD = frozenset({"ipv4", "ipv6"})
_O_TMPFILE_BIT = 0o20000000
_ONE_SECOND = 1_000_000_000


def _fd_type(ev: Event) -> str | None:
    fd = ev.fd
    kind = fd.get("type") if fd is not None else None
    return kind if type(kind) is str else None


# -- evt.count* ----------------------------------------------------------------------------


def _error(ev: Event) -> int | None:
    """1 when the call failed, 0 when it did not, absent without a return value."""
    res = ev.res
    return None if res is None else int(res < 0)


def _error_if(test: Callable[[Event, str | None], bool]) -> Callable[[Event], int | None]:
    def extract(ev: Event) -> int | None:
        return _error(ev) if test(ev, _fd_type(ev)) else None
    return extract


def _is_file(ev: Event, kind: str | None) -> bool:
    return kind in _FILE_FD if ev.fd is not None else ev.type in _ERROR_FILE_TYPES


def _is_net(ev: Event, kind: str | None) -> bool:
    return kind in _NET_FD if ev.fd is not None else ev.type in _ERROR_NET_TYPES


def _is_other(ev: Event, kind: str | None) -> bool:
    if ev.fd is not None:
        return kind not in _FILE_FD and kind not in _NET_FD
    return ev.type not in _ERROR_FILE_TYPES | _ERROR_NET_TYPES and ev.type not in _MEMORY


simple("evt.count", UINT32, "1 for every event (sum it to count events)", lambda ev: 1)
simple("evt.count.error", UINT32, "1 for events that returned an error, else 0", _error)
simple("evt.count.error.file", UINT32, "evt.count.error, only for file events", _error_if(_is_file))
simple("evt.count.error.net", UINT32, "evt.count.error, only for network events", _error_if(_is_net))
simple("evt.count.error.memory", UINT32, "evt.count.error, only for memory events",
       _error_if(lambda ev, kind: ev.type in _MEMORY))
simple("evt.count.error.other", UINT32, "evt.count.error, only for events of none of the "
       "categories above", _error_if(_is_other))
simple("evt.count.exit", UINT32, "1 for exit events: every system call event",
       lambda ev: 1 if ev.type in _SYSCALLS else None)
simple("evt.count.procinfo", UINT32, "1 for procinfo events of a main thread: always 0 "
       "(falcoish produces no procinfo events)", lambda ev: 0)
simple("evt.count.threadinfo", UINT32, "1 for procinfo events: always 0 (falcoish produces "
       "no procinfo events)", lambda ev: 0)

# -- evt.buflen.* --------------------------------------------------------------------------


def _buflen(direction: str | None, kinds: frozenset[str] | None) -> Callable[[Event], int | None]:
    """evt.buflen when the event is I/O in `direction` (None: either) on an fd of `kinds`
    (None: any type)."""
    def extract(ev: Event) -> int | None:
        io = _IO.get(ev.type)
        if io is None or ev.fd is None or (direction is not None and io != direction):
            return None
        if kinds is not None and _fd_type(ev) not in kinds:
            return None
        res = ev.res
        return res if res is not None and res >= 0 else None
    return extract


_FILE_ONLY = frozenset({"file"})
for _suffix, _dir, _kinds, _what in (
        ("in", "r", None, "input"), ("out", "w", None, "output"),
        ("file", None, _FILE_ONLY, "file"), ("file.in", "r", _FILE_ONLY, "input file"),
        ("file.out", "w", _FILE_ONLY, "output file"), ("net", None, _IP_FD, "network"),
        ("net.in", "r", _IP_FD, "input network"), ("net.out", "w", _IP_FD, "output network")):
    simple(f"evt.buflen.{_suffix}", UINT64, f"evt.buflen, only for {_what} I/O events",
           _buflen(_dir, _kinds))

# -- time since the previous event ----------------------------------------------------------


def _delta(part: Callable[[int], int]) -> Callable[[Event], int]:
    """libsinsp keeps the previous timestamp in the field itself: the delta is from the last
    event this field was read on (0 the first time).  Reading it again on the same event (two
    rules, or a rule and its output) gives the same answer."""
    lock = threading.Lock()
    state = {"num": -1, "ts": 0, "delta": 0}

    def extract(ev: Event) -> int:
        with lock:
            if state["num"] != ev.num:
                state["delta"] = ev.ts - state["ts"] if state["num"] >= 0 else 0
                state["num"], state["ts"] = ev.num, ev.ts
            return part(state["delta"])
    return extract


simple("evt.deltatime", RELTIME, "nanoseconds since the previous event this field was read on",
       _delta(lambda d: d))
simple("evt.deltatime.s", RELTIME, "integer seconds of evt.deltatime",
       _delta(lambda d: d // _ONE_SECOND))
simple("evt.deltatime.ns", RELTIME, "fractional part of evt.deltatime, in nanoseconds",
       _delta(lambda d: d % _ONE_SECOND), render=lambda v: f"{v:09d}")
for _name, _what in (("evt.reltime", "nanoseconds"), ("evt.reltime.s", "seconds"),
                     ("evt.reltime.ns", "fractional nanoseconds")):
    simple(_name, RELTIME, f"{_what} since the beginning of the capture (needs the capture's "
           "start, which an event record does not carry)", lambda ev: None, available=False)

# -- deprecated latency fields (libsinsp hard-wires them) ------------------------------------
simple("evt.latency.s", RELTIME, "integer seconds of evt.latency: always 0", lambda ev: 0)
simple("evt.latency.ns", RELTIME, "fractional part of evt.latency: always 0", lambda ev: 0,
       render=lambda v: f"{v:09d}")
simple("evt.latency.quantized", UINT64, "10-base log of evt.latency: always 0", lambda ev: 0)
simple("evt.latency.human", STRING, "evt.latency as text: always '0ns'", lambda ev: "0ns")
simple("evt.wait_latency", RELTIME, "time a waiting event waited: always 0", lambda ev: 0)

# -- classification --------------------------------------------------------------------------
simple("evt.is_wait", BOOL, "true for events that make the thread wait (poll, select, "
       "epoll_wait, nanosleep...)", lambda ev: ev.type in _WAITS)
simple("evt.is_syslog", BOOL, "true for writes to /dev/log",
       lambda ev: _IO.get(ev.type) == "w" and ev.fd is not None
       and "/dev/log" in (n if type(n := ev.fd.get("name")) is str else ""))


def _is_open_create(ev: Event) -> bool:
    if ev.type not in _OPEN_TYPES:
        return False
    fd = ev.fd
    if fd is not None and fd.get("created") is True:
        return True
    flags = ev.args.get("flags")
    return (type(flags) is int and bool(flags & _O_TMPFILE_BIT)
            and ev.res is not None and ev.res >= 0)


simple("evt.is_open_create", BOOL, "open* event that created the file (fd record key "
       "`created`), or a successful O_TMPFILE open", _is_open_create)

simple("evt.is_io_uring", BOOL, "true when the operation was an io_uring request (live "
       "capture records it as `resolved.io_uring`), false for a syscall",
       lambda ev: ev.resolved.get("io_uring") == "true")

simple("evt.arg_tampered", BOOL, "true when the caller's memory, read after the call, differed "
       "from the kernel's own copy of an argument (a path, a connect address): the event carries "
       "the kernel's value; live capture records it as `resolved.arg_tampered`",
       lambda ev: ev.resolved.get("arg_tampered") == "true")

# -- text and sources --------------------------------------------------------------------------
simple("evt.info", STRING, "the same text as evt.args", evt_args)
simple("evt.outputtime", STRING, "event time as an alert prints it (local HH:MM:SS.nnnnnnnnn)",
       lambda ev: local_time(ev.ts))
simple("evt.asynctype", STRING, "type of an asynchronous event (syscall events are not "
       "asynchronous)", lambda ev: None, available=False)
simple("evt.pluginname", STRING, "plugin that produced the event (syscall events have none)",
       lambda ev: None, available=False)
simple("evt.plugininfo", STRING, "plugin's summary of the event (syscall events have none)",
       lambda ev: None, available=False)
for _name, _what in (("evt.infra.docker.name", "name of the event"),
                     ("evt.infra.docker.container.id", "id of the container"),
                     ("evt.infra.docker.container.name", "name of the container"),
                     ("evt.infra.docker.container.image", "image of the container")):
    simple(_name, STRING, f"docker infrastructure events: {_what} (needs the container runtime "
           "API)", lambda ev: None, available=False)
