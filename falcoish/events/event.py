"""One syscall event plus the snapshot of context that fields need.

Why a snapshot: Falco's fields read libsinsp's live thread and fd tables.  falcoish records
the part of those tables an event touches *inside* the event (its thread, ancestors, fd,
user, group, container), so a recorded file replays exactly as it was seen live, with no
table to rebuild.  The live capture fills the same structure from its own state table.

The record format (JSON lines) is documented in docs/events.md and docs/event.schema.json.
Sections are kept as the plain dicts decoded from JSON: field extractors read them directly,
which is the cheapest representation on the per-event path.

Shared sections: a recording may define a section once (`{"def": 7, "value": {...}}`) and
let events name it by number (`"thread": 7`).  A thread's context, with its ancestors' full
command lines and environments, is often a hundred times the size of the event itself and
identical from one event of that thread to the next; decoding it once instead of per event
is what lets replay keep up with a busy host.  `defs` maps the numbers to the decoded values.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..errors import FalcoishError
from .schema import (CONTAINER, FD, GROUP, SECTIONS, THREAD, USER, describe, first_bad, list_bad,
                     strings_bad, typename)

Section = dict[str, Any]
Definitions = dict[int, Any]

#: context keys whose value may be the number of a shared section (see the module docstring)
SHAREABLE = ("thread", "ancestors", "user", "group", "container")


class BadRecord(FalcoishError):
    """An event record that cannot be used: `reason` names the offending key.  For a
    reference to a shared section that is not defined, `key` and `section` say which (the
    replay reader can then tell whether it dropped that section to stay within its limits)."""

    def __init__(self, reason: str, key: str | None = None, section: int | None = None) -> None:
        self.reason = reason
        self.key = key
        self.section = section
        super().__init__(reason)


class Event:
    """A syscall exit event (Falco's convention since 0.42: one event per syscall, at exit,
    carrying all arguments).

    Attributes:
        num: evt.num, 1-based position in the stream.
        ts: evt.rawtime, nanoseconds since the epoch.
        type: evt.type (`openat`, `execve`, `procexit`...).
        tid: thread id that made the call.
        res: return value (negative errno on failure); None for events without one.
        args: syscall arguments by Falco parameter name, raw native values.
        thread: the calling thread/process (after the event's own effect, as libsinsp).
        ancestors: parent first, then grandparent...
        fd: the descriptor the event is about, or None.
        user, group, container: context sections (may be empty dicts).
        resolved: argument name -> resolved text for arguments that need host tables.
    """

    __slots__ = ("num", "ts", "type", "tid", "res", "args", "thread", "ancestors", "fd",
                 "user", "group", "container", "resolved", "cache")

    def __init__(self, num: int, ts: int, type: str, tid: int, res: int | None,
                 args: Section, thread: Section, ancestors: list[Section], fd: Section | None,
                 user: Section, group: Section, container: Section,
                 resolved: Section | None = None) -> None:
        self.num = num
        self.ts = ts
        self.type = type
        self.tid = tid
        self.res = res
        self.args = args
        self.thread = thread
        self.ancestors = ancestors
        self.fd = fd
        self.user = user
        self.group = group
        self.container = container
        # Argument texts that need host tables to render (uid -> user name, pid -> comm):
        # the capture resolves them once and records them, so replay needs no tables.
        self.resolved: Section = resolved if resolved is not None else {}
        # Per-event memo for values several rules share (macro results, derived fields).
        self.cache: dict[Any, Any] = {}

    @classmethod
    def from_record(cls, record: Any, num: int, defs: Definitions | None = None) -> "Event":
        """Build an event from a decoded JSON record; raise BadRecord naming what is wrong.

        `defs` holds the shared sections defined so far (numbers in `SHAREABLE` keys refer
        to them), already checked: `SharedSections` and `define_shared` (sources/replay.py)
        check each when it is defined.  The common, well-formed record takes the fast path
        (one type test per required key and per key of an inline section); anything else
        goes through the careful path that names the offending key."""
        if type(record) is dict:
            get: Callable[..., Any] = record.get
            evtype, ts, tid, thread, res, fd = get("type"), get("ts"), get("tid"), get("thread"), get("res"), get("fd")
            ancestors, args, user, group, container = (get("ancestors", _NO_ANCESTORS), get("args"), get("user"),
                                                       get("group"), get("container"))
            resolved = get("resolved")
            # A section written inline is checked here; one named by number was checked once,
            # when it was defined (event_schema.py).  Any failure takes the careful path below.
            if ((type(thread) is not dict or first_bad(thread, THREAD) is None)
                    and (type(fd) is not dict or first_bad(fd, FD) is None)
                    and (type(ancestors) is not list or not ancestors or list_bad(ancestors, THREAD) is None)
                    and (type(user) is not dict or not user or first_bad(user, USER) is None)
                    and (type(group) is not dict or not group or first_bad(group, GROUP) is None)
                    and (type(container) is not dict or not container or first_bad(container, CONTAINER) is None)
                    and (type(resolved) is not dict or not resolved or strings_bad(resolved) is None)):
                if defs:  # shared sections; an unknown number becomes _UNDEFINED and fails below
                    if type(thread) is int:
                        thread = defs.get(thread, _UNDEFINED)
                    if type(ancestors) is int:
                        ancestors = defs.get(ancestors, _UNDEFINED)
                    if type(user) is int:
                        user = defs.get(user, _UNDEFINED)
                    if type(group) is int:
                        group = defs.get(group, _UNDEFINED)
                    if type(container) is int:
                        container = defs.get(container, _UNDEFINED)
                if (type(evtype) is str and type(ts) is int and type(tid) is int and type(thread) is dict
                        and (res is None or type(res) is int) and (fd is None or type(fd) is dict)
                        and type(ancestors) is list and (args is None or type(args) is dict)
                        and (user is None or type(user) is dict) and (group is None or type(group) is dict)
                        and (container is None or type(container) is dict)
                        and (resolved is None or type(resolved) is dict)):
                    n = get("num", num)
                    return cls(n if type(n) is int else num, ts, evtype, tid, res, {} if args is None else args,
                               thread, ancestors, fd, {} if user is None else user,
                               {} if group is None else group, {} if container is None else container,
                               {} if resolved is None else resolved)
        return cls._from_record_checked(record, num, defs or {})

    @classmethod
    def _from_record_checked(cls, record: Any, num: int, defs: Definitions) -> "Event":
        if not isinstance(record, dict):
            raise BadRecord(f"record is a {type(record).__name__}, expected a JSON object")
        evtype = _need(record, "type", str)
        ts = _need(record, "ts", int)
        tid = _need(record, "tid", int)
        res = record.get("res")
        if res is not None and (not isinstance(res, int) or isinstance(res, bool)):
            raise BadRecord(f"'res' must be an integer or null, got {typename(res)}")
        if "thread" not in record:
            raise BadRecord("missing required key 'thread'")
        thread = _shared(record, "thread", defs)
        if not isinstance(thread, dict):
            raise BadRecord(f"'thread' must be an object, got {typename(thread)}")
        ancestors = _shared(record, "ancestors", defs)
        if ancestors is None and "ancestors" not in record:
            ancestors = []
        if not isinstance(ancestors, list) or not all(isinstance(a, dict) for a in ancestors):
            raise BadRecord("'ancestors' must be a list of objects")
        fd = record.get("fd")
        if fd is not None and not isinstance(fd, dict):
            raise BadRecord(f"'fd' must be an object or null, got {typename(fd)}")
        sections = {"thread": thread, "fd": fd or {}, "user": _opt(record, "user", defs),
                    "group": _opt(record, "group", defs), "container": _opt(record, "container", defs)}
        for key, section in sections.items():
            bad = first_bad(section, SECTIONS[key])
            if bad is not None:
                raise BadRecord(describe(key, bad))
        bad = list_bad(ancestors, THREAD)
        if bad is not None:
            raise BadRecord(describe("ancestors", bad))
        resolved = _opt(record, "resolved", defs)
        bad = strings_bad(resolved)
        if bad is not None:
            raise BadRecord(describe("resolved", bad))
        n = record.get("num", num)
        return cls(
            num=n if isinstance(n, int) else num, ts=ts, type=evtype, tid=tid, res=res,
            args=_opt(record, "args", defs), thread=thread, ancestors=ancestors, fd=fd,
            user=sections["user"], group=sections["group"], container=sections["container"],
            resolved=resolved,
        )

    def to_record(self) -> dict[str, Any]:
        """The JSON-lines record of this event (inverse of from_record)."""
        rec: dict[str, Any] = {"num": self.num, "ts": self.ts, "type": self.type, "tid": self.tid,
                               "res": self.res, "args": self.args, "thread": self.thread,
                               "ancestors": self.ancestors}
        if self.fd is not None:
            rec["fd"] = self.fd
        for key in ("user", "group", "container", "resolved"):
            value = getattr(self, key)
            if value:
                rec[key] = value
        return rec


_NO_ANCESTORS: list[Section] = []
_UNDEFINED: Any = object()


def _need(record: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in record:
        raise BadRecord(f"missing required key '{key}'")
    value = record[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRecord(f"'{key}' must be {'an' if kind is int else 'a'} "
                        f"{ {str: 'string', int: 'integer', dict: 'object'}[kind] }, got {typename(value)}")
    return value


def _shared(record: Mapping[str, Any], key: str, defs: Definitions) -> Any:
    """The value of `key`, with a shared-section number replaced by what it names."""
    value = record.get(key)
    if key in SHAREABLE and isinstance(value, int) and not isinstance(value, bool):
        if value not in defs:
            raise BadRecord(f"'{key}' refers to shared section {value}, which no earlier record defines",
                            key, value)
        return defs[value]
    return value


def _opt(record: Mapping[str, Any], key: str, defs: Definitions) -> Section:
    value = _shared(record, key, defs)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f"'{key}' must be an object, got {typename(value)}")
    return value
