"""The stream's process and socket tables, and assembly of falcoish `Event`s.

Why: like libsinsp's tables, what earlier events of the stream said about a process (name,
program, arguments, environment, working directory, parent, connected sockets) completes later
events of it: `proc.pname`, `proc.env`, the socket a `dup2` copies.
"""

from __future__ import annotations

from ...events.event import Event, Section
from ...events.table import EVENTS
from .mapped import _Mapped
from .records import _Rec
from .values import _put

_MAX_PROCS = 32768          # process-table entries kept (oldest dropped first)
_MAX_SOCKETS = 1024         # remembered connected sockets per process
_MAX_ANCESTORS = 32


class TraceeEvent(Event):
    """An `Event` read from Tracee JSON, keeping what tracee-rules' detection block prints:
    the Tracee event name, the record's `processName` and `hostName` (None when absent)."""

    __slots__ = ("tracee_name", "process_name", "host_name")

    def __init__(self, num: int, ts: int, type: str, tid: int, res: int | None, args: Section,
                 thread: Section, ancestors: list[Section], fd: Section | None,
                 container: Section, user: Section, *, tracee_name: str,
                 process_name: str | None, host_name: str | None) -> None:
        super().__init__(num, ts, type, tid, res, args, thread, ancestors, fd, user, {},
                         container)
        self.tracee_name = tracee_name
        self.process_name = process_name
        self.host_name = host_name


_PROGRAM_KEYS = ("comm", "exe", "exepath", "args", "env", "exe_ino", "exe_ino_ctime")
_THREAD_KEYS = frozenset(("pid", "vpid", "tid", "vtid", "ppid", "uid", "comm", "exe", "exepath",
                          "args", "env", "cwd", "exe_ino", "exe_ino_ctime"))
_INHERITED = frozenset(("comm", "exe", "exepath", "args", "env", "cwd", "uid", "exe_ino",
                        "exe_ino_ctime"))


class _Tables:
    """Process and socket tables kept across the records of one stream."""

    def __init__(self) -> None:
        self.procs: dict[int, Section] = {}
        self.sockets: dict[int, dict[int, Section]] = {}     # pid -> fd -> socket

    def _remember_socket(self, pid: int, num: int, fd: Section) -> None:
        owned = self.sockets.setdefault(pid, {})
        if len(owned) >= _MAX_SOCKETS:
            del owned[next(iter(owned))]
        owned[num] = dict(fd)

    def _forget_process(self, pid: int) -> None:
        self.procs.pop(pid, None)
        self.sockets.pop(pid, None)

    def _store(self, pid: int, entry: Section) -> None:
        self.procs.pop(pid, None)             # re-insert: most recently seen last
        if len(self.procs) >= _MAX_PROCS:
            self._forget_process(next(iter(self.procs)))
        self.procs[pid] = entry

    def _known(self, rec: _Rec) -> Section:
        """What the stream showed earlier about this process (a pid reused by another
        process, recognised by Tracee's process identity, starts afresh)."""
        key = rec.key
        entry = self.procs.get(key) if key is not None else None
        if key is None or entry is None:
            return {}
        seen = entry.get("identity")
        if rec.identity is not None and seen is not None and seen != rec.identity:
            self._forget_process(key)
            return {}
        return entry

    # -- assembly --------------------------------------------------------------------------

    def build(self, rec: _Rec, mapped: _Mapped, num: int) -> TraceeEvent:
        known = self._known(rec)
        thread: Section = {k: v for k, v in known.items() if k in _THREAD_KEYS}
        failed = mapped.res is not None and mapped.res < 0
        if mapped.program is not None and not failed:   # the new program replaces the old
            for key in _PROGRAM_KEYS:
                thread.pop(key, None)
            thread.update(mapped.program)
        else:
            _put(thread, "comm", rec.comm)
            _put(thread, "exepath", rec.exepath)
        _put(thread, "pid", rec.pid)
        _put(thread, "vpid", rec.vpid)
        _put(thread, "tid", rec.tid)
        _put(thread, "vtid", rec.vtid)
        _put(thread, "ppid", rec.ppid)
        _put(thread, "uid", rec.uid)
        self._remember(rec, thread)
        ancestors = rec.ancestors if rec.ancestors is not None else self._ancestors(rec)
        user: Section = {"uid": rec.uid} if rec.uid is not None else {}
        args = self._falco_args(mapped)
        if mapped.type in ("execve", "execveat"):
            _put(args, "pid", rec.pid)
            _put(args, "tid", rec.tid)
            _put(args, "ptid", rec.ppid)
            _put(args, "uid", rec.uid)
        tid = rec.tid if rec.tid is not None else rec.vtid
        assert tid is not None                # checked when the record was parsed
        return TraceeEvent(num, rec.ts, mapped.type, tid, mapped.res, args, thread, ancestors,
                           mapped.fd, rec.container, user, tracee_name=rec.name,
                           process_name=rec.comm, host_name=rec.hostname)

    @staticmethod
    def _falco_args(mapped: _Mapped) -> Section:
        """Only parameters the Falco event has (a safety net for the tables above)."""
        info = EVENTS.get(mapped.type)
        if info is None:
            return {}
        return {k: v for k, v in mapped.args.items() if k in info.by_name}

    def _remember(self, rec: _Rec, thread: Section) -> None:
        key = rec.key
        if key is None:
            return
        entry = {k: v for k, v in thread.items() if k in _THREAD_KEYS}
        if rec.identity is not None:
            entry["identity"] = rec.identity
        elif "identity" in self.procs.get(key, {}):
            entry["identity"] = self.procs[key]["identity"]
        if rec.tid is not None and rec.pid is not None and rec.tid != rec.pid:
            # The entry describes the process: its main thread's ids and name (threads may
            # have names of their own, e.g. java's "C2 CompilerThre").
            entry.pop("tid", None)
            entry.pop("vtid", None)
            old = self.procs.get(key, {})
            if "comm" in old:
                entry["comm"] = old["comm"]
        self._store(key, entry)

    def _ancestors(self, rec: _Rec) -> list[Section]:
        """Parent first: what the record says (parent pid) and what the stream showed about
        each ancestor.  A parent never seen is only its pid."""
        out: list[Section] = []
        ppid = rec.ppid if rec.ppid is not None else rec.vppid if rec.pid is None else None
        seen = {rec.key}
        first = True
        while ppid is not None and ppid > 0 and ppid not in seen and len(out) < _MAX_ANCESTORS:
            seen.add(ppid)
            entry = self.procs.get(ppid)
            anc: Section = {k: v for k, v in (entry or {}).items() if k in _THREAD_KEYS}
            if rec.pid is not None:
                anc["pid"] = ppid
                if first and rec.vppid is not None:
                    anc["vpid"] = rec.vppid
            else:                             # oldest records: namespaced ids only
                anc["vpid"] = ppid
            first = False
            out.append(anc)
            if entry is None:
                break
            ppid = entry.get("ppid")
        return out
