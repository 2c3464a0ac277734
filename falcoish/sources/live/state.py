"""The thread and descriptor tables the live source keeps current from events.

Model (as libsinsp): a `Thread` per tid holds what is per-thread (comm, credentials, caps,
start time); a `Process` per thread group holds what threads share (program, args, env,
cwd, tty, session, container, descriptor table).  Events update the tables *before* rules see
them; removals (a closed descriptor, an exited thread) are deferred to the next event so the
closing/exiting event can still be described.

Snapshots are cheap: every thread keeps one section dict (the `thread` part of an event) and
every descriptor *is* its section dict.  They are replaced, never mutated, when something
changes, so any number of events can share them.  Ancestor lists are cached per process and
rebuilt when any section in the table has changed since.

Size is bounded: past `max_threads` the table drops threads whose /proc entry is gone (their
exit was missed) and then the least recently created; each descriptor table keeps at most
`max_fds` entries.  Unknown threads are read from /proc on first sight (or kept as a
placeholder when already gone); unknown descriptors likewise.
"""

from __future__ import annotations

import os
import posixpath
from collections import deque
from typing import Any, Callable

from . import containers, procscan
from .exefile import exe_writable, overlay_layer
from .procscan import ProcData

Section = dict[str, Any]

CLONE_VM = 0x100
CLONE_FS = 0x200
CLONE_FILES = 0x400
CLONE_VFORK = 0x4000
CLONE_PARENT = 0x8000
CLONE_THREAD = 0x10000
CLONE_NEWPID = 0x20000000
O_CLOEXEC = 0o2000000
O_DIRECTORY = 0o200000
UNSET = 0xFFFFFFFF

TYPECHARS = {"file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u", "pipe": "p",
             "event": "e", "signalfd": "s", "eventpoll": "l", "inotify": "i", "timerfd": "t",
             "netlink": "n", "bpf": "b", "userfaultfd": "u", "io_uring": "r", "memfd": "m",
             "pidfd": "P"}
L4 = {"tcp": "t", "udp": "u", "icmp": "i", "raw": "r"}


def fd_tag(sec: Section) -> str:
    char = TYPECHARS.get(sec.get("type", ""), "o")
    if char in ("4", "6"):
        char += L4.get(sec.get("l4proto") or "", "")
    return f"<{char}>"


def normalize(path: str) -> str:
    if not path:
        return path
    out = posixpath.normpath(path)
    return "/" + out.lstrip("/") if out.startswith("//") else out


class Process:
    __slots__ = ("pid", "ppid", "vpid", "exe", "exepath", "args", "env", "cwd", "tty", "sid", "pgid",
                 "vpgid", "loginuid", "exe_ino", "exe_ctime", "exe_mtime", "exe_writable",
                 "exe_upper", "exe_lower", "exe_memfd", "pidns", "pidns_init_start_ts",
                 "container", "fds", "threads", "anc", "anc_gen", "placeholder")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.ppid = 0
        self.vpid = pid
        self.exe: str | None = None
        self.exepath: str | None = None
        self.args: list[str] = []
        self.env: list[str] = []
        self.cwd = "/"
        self.tty = 0
        self.sid = 0
        self.pgid = 0
        self.vpgid = 0
        self.loginuid = -1
        self.exe_ino = 0
        self.exe_ctime = 0
        self.exe_mtime = 0
        self.exe_writable = False
        self.exe_upper = False
        self.exe_lower = False
        self.exe_memfd = False
        self.pidns = 0
        self.pidns_init_start_ts = procscan.BOOT_NS
        self.container: Section = containers.HOST
        self.fds: dict[int, Section] = {}
        self.threads: dict[int, Thread] = {}
        self.anc: list[Section] | None = None
        self.anc_gen = -1
        self.placeholder = False

    def copy_from(self, other: "Process") -> None:
        for name in ("exe", "exepath", "args", "env", "cwd", "tty", "sid", "pgid", "vpgid",
                     "loginuid", "exe_ino", "exe_ctime", "exe_mtime", "exe_writable", "exe_upper",
                     "exe_lower", "exe_memfd", "pidns", "pidns_init_start_ts", "container"):
            setattr(self, name, getattr(other, name))

    def main_thread(self) -> "Thread | None":
        t = self.threads.get(self.pid)
        if t is None and self.threads:
            t = next(iter(self.threads.values()))
        return t


class Thread:
    __slots__ = ("tid", "vtid", "proc", "comm", "uid", "gid", "caps", "start_ts", "section")

    def __init__(self, tid: int, proc: Process) -> None:
        self.tid = tid
        self.vtid = tid
        self.proc = proc
        self.comm: str | None = None
        self.uid = UNSET
        self.gid = UNSET
        self.caps = (0, 0, 0)
        self.start_ts = 0
        self.section: Section | None = None


#: how long (event time) an exited thread stays in the table for its late records
EXIT_GRACE_NS = 2_000_000_000


def _signed32(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


class StateTable:
    """Threads, processes and descriptors; see the module docstring."""

    def __init__(self, max_threads: int = 131072, max_fds: int = 65536,
                 proc_reader: Callable[..., ProcData | None] = procscan.read_thread) -> None:
        self.threads: dict[int, Thread] = {}
        self.procs: dict[int, Process] = {}
        self.max_threads = max_threads
        self.max_fds = max_fds
        self.gen = 0
        self._deferred: list[tuple[int, int]] = []      # (pid, fd) closed by the last event
        #: exited threads, oldest first, with the event time of their exit (see on_exit)
        self._exited: deque[tuple[int, Thread]] = deque()
        self._read = proc_reader
        self._sockets = procscan.SocketTables()
        self._missing_parents: dict[int, int] = {}

    # ------------------------------------------------------------------ loading
    def load_scan(self, items: Any) -> None:
        """Fill the table from procscan.scan() output."""
        for data, fds in items:
            t = self._insert(data)
            if fds is not None:
                t.proc.fds = fds

    def _insert(self, data: ProcData, placeholder: bool = False) -> Thread:
        proc = self.procs.get(data.pid)
        if proc is None:
            proc = Process(data.pid)
            self.procs[data.pid] = proc
            self._fill_process(proc, data)
            proc.placeholder = placeholder
        t = Thread(data.tid, proc)
        t.comm = data.comm or None
        t.uid, t.gid = data.uid, data.gid
        t.caps = data.caps
        t.vtid = data.vtid or data.tid
        t.start_ts = data.start_ts
        proc.threads[data.tid] = t
        old = self.threads.get(data.tid)
        if old is not None and old.proc is not proc:
            old.proc.threads.pop(data.tid, None)
        self.threads[data.tid] = t
        if len(self.threads) > self.max_threads:
            self._shrink()
        self.gen += 1
        return t

    def _fill_process(self, proc: Process, data: ProcData) -> None:
        proc.ppid = data.ppid
        proc.vpid = data.vpid or data.pid
        proc.exe = data.exe or (data.comm if data.kernel_thread else None) or None
        proc.exepath = data.exepath or None
        proc.args, proc.env = data.args, data.env
        proc.cwd = data.cwd
        proc.tty, proc.sid, proc.pgid, proc.vpgid = data.tty, data.sid, data.pgid, data.vpgid
        proc.loginuid = -1 if data.loginuid == UNSET else data.loginuid
        proc.exe_ino, proc.exe_ctime, proc.exe_mtime = data.exe_ino, data.exe_ctime, data.exe_mtime
        proc.exe_memfd = bool(data.exepath and data.exepath.startswith("memfd:"))
        proc.exe_writable = exe_writable(data)
        proc.pidns = data.pidns
        proc.container = containers.container_section(data.container)

    def thread(self, tid: int, pid: int, comm: bytes | str | None = None,
               uid: int = UNSET, gid: int = UNSET) -> Thread:
        """The thread `tid`, read from /proc (or made a placeholder) when unknown."""
        t = self.threads.get(tid)
        if t is not None:
            return t
        proc = self.procs.get(pid)
        data = self._read(pid, tid, process=proc is None)
        if data is not None:
            return self._insert(data)
        data = ProcData(tid=tid, pid=pid, uid=uid, gid=gid)
        data.comm = comm.decode("utf-8", "replace") if isinstance(comm, bytes) else (comm or "")
        data.vtid, data.vpid = tid, pid
        return self._insert(data, placeholder=True)

    # ------------------------------------------------------------------ sections
    def section(self, t: Thread) -> Section:
        s = t.section
        if s is None:
            p = t.proc
            s = {"pid": p.pid, "tid": t.tid, "ppid": p.ppid, "vpid": p.vpid, "vtid": t.vtid,
                 "vpgid": p.vpgid, "sid": p.sid, "pgid": p.pgid, "args": p.args, "env": p.env,
                 "cwd": p.cwd, "tty": p.tty, "loginuid": p.loginuid, "uid": t.uid, "gid": t.gid,
                 "cap_inheritable": t.caps[0], "cap_permitted": t.caps[1],
                 "cap_effective": t.caps[2], "start_ts": t.start_ts,
                 "pidns_init_start_ts": p.pidns_init_start_ts,
                 "exe_writable": p.exe_writable, "exe_upper_layer": p.exe_upper,
                 "exe_lower_layer": p.exe_lower, "exe_from_memfd": p.exe_memfd}
            if t.comm is not None:
                s["comm"] = t.comm
            if p.exe is not None:
                s["exe"] = p.exe
            if p.exepath is not None:
                s["exepath"] = p.exepath
            if p.exe_ino:
                s["exe_ino"], s["exe_ino_ctime"], s["exe_ino_mtime"] = p.exe_ino, p.exe_ctime, p.exe_mtime
            t.section = s
        return s

    def touch(self, t: Thread) -> None:
        t.section = None
        self.gen += 1

    def touch_process(self, p: Process) -> None:
        for t in p.threads.values():
            t.section = None
        self.gen += 1

    def ancestors(self, t: Thread) -> list[Section]:
        p = t.proc
        if p.anc is not None and p.anc_gen == self.gen:
            return p.anc
        out: list[Section] = []
        seen = {p.pid}
        cur = p
        while len(out) < 64:
            parent = self._parent(cur)
            if parent is None or parent.pid in seen:
                break
            seen.add(parent.pid)
            main = parent.main_thread()
            if main is None:
                break
            out.append(self.section(main))
            cur = parent
        p.anc, p.anc_gen = out, self.gen
        return out

    def _parent(self, p: Process) -> Process | None:
        if p.ppid <= 0:
            return None
        parent = self.procs.get(p.ppid)
        if parent is not None:
            return parent
        # The parent left: the process was re-parented (or the parent predates us and was
        # missed).  Ask /proc once per process for the current parent.
        if self._missing_parents.get(p.pid) == p.ppid:
            return None
        if len(self._missing_parents) > 65536:
            self._missing_parents.clear()
        self._missing_parents[p.pid] = p.ppid
        data = self._read(p.pid, p.pid, process=False)
        if data is not None and data.ppid != p.ppid:
            p.ppid = data.ppid
            self.touch_process(p)
        parent = self.procs.get(p.ppid)
        if parent is None and p.ppid > 0:
            pdata = self._read(p.ppid, p.ppid)
            if pdata is not None:
                parent = self._insert(pdata).proc
        return parent

    # ------------------------------------------------------------------ deferred removals
    def flush(self, now: int = 1 << 62) -> None:
        """Apply the closes deferred by the previous event, and remove the threads that exited
        more than EXIT_GRACE_NS of event time before `now` (the time of the record at hand)."""
        for pid, fd in self._deferred:
            proc = self.procs.get(pid)
            if proc is not None:
                proc.fds.pop(fd, None)
        self._deferred.clear()
        exited = self._exited
        while exited and exited[0][0] + EXIT_GRACE_NS <= now:
            _, t = exited.popleft()
            if self.threads.get(t.tid) is t:
                self._remove_thread(t.tid)

    def defer_close(self, pid: int, fd: int) -> None:
        self._deferred.append((pid, fd))

    def _remove_thread(self, tid: int) -> None:
        t = self.threads.pop(tid, None)
        if t is None:
            return
        p = t.proc
        p.threads.pop(tid, None)
        if not p.threads and self.procs.get(p.pid) is p:
            del self.procs[p.pid]
        self.gen += 1

    def _shrink(self) -> None:
        for tid in list(self.threads):
            if not os.path.exists(f"/proc/{tid}"):
                self._remove_thread(tid)
        excess = len(self.threads) - self.max_threads * 9 // 10
        if excess > 0:
            for tid in list(self.threads)[:excess]:
                self._remove_thread(tid)

    # ------------------------------------------------------------------ lifecycle
    def on_fork(self, parent: Thread, child_tid: int, flags: int, ts: int) -> Thread:
        """sched_process_fork: the child enters the table (copied from the caller)."""
        p = parent.proc
        old = self.threads.get(child_tid)
        if old is not None:
            self._remove_thread(child_tid)
        if flags & CLONE_THREAD:
            proc = p
            vtid = child_tid if p.vpid == p.pid else self._ns_tid(p.pid, child_tid)
        else:
            proc = Process(child_tid)
            proc.copy_from(p)
            proc.ppid = p.ppid if flags & CLONE_PARENT else p.pid
            proc.fds = p.fds if flags & CLONE_FILES else dict(p.fds)
            if flags & CLONE_NEWPID:
                proc.vpid, proc.pidns_init_start_ts = 1, ts
            elif p.vpid == p.pid:
                proc.vpid = child_tid
            else:
                proc.vpid = self._ns_tid(child_tid, child_tid)
            vtid = proc.vpid
            self.procs[child_tid] = proc
        t = Thread(child_tid, proc)
        t.comm, t.uid, t.gid, t.caps = parent.comm, parent.uid, parent.gid, parent.caps
        t.vtid, t.start_ts = vtid, ts
        proc.threads[child_tid] = t
        self.threads[child_tid] = t
        self.gen += 1
        if len(self.threads) > self.max_threads:
            self._shrink()
        return t

    def _ns_tid(self, pid: int, tid: int) -> int:
        data = self._read(pid, tid, process=False)
        return data.vtid if data is not None and data.vtid else tid

    def on_exec(self, t: Thread, comm: str, argv: list[str], env: list[str] | None,
                filename: str, uid: int, gid: int, fd_path: Callable[[str], str | None],
                caps: tuple[int, int, int] | None = None,
                container: tuple[str, str, str] | None | bool = False) -> Thread:
        """Successful execve/execveat: the thread now runs the new program.  `caps`: the
        capabilities the kernel gave it at exec (from the event), which win over /proc's: the
        process may be gone, or have changed them since, by the time /proc is read.
        `container`: the container its cgroup showed at exec (None: none; False: unknown),
        used when /proc is gone; a container found there wins over the one from fork."""
        p = t.proc
        if t.tid != p.pid:
            # A non-leader thread exec'd: it takes over the leader's tid.
            self._remove_thread(t.tid)
            p = self.procs.get(t.proc.pid) or t.proc
            self.procs[p.pid] = p
            t = Thread(p.pid, p) if p.pid not in p.threads else p.threads[p.pid]
            p.threads[p.pid] = t
            self.threads[p.pid] = t
        for tid in [x for x in p.threads if x != t.tid]:
            self._remove_thread(tid)
        t.comm = comm
        if argv:
            p.exe, p.args = argv[0], argv[1:]
        else:
            p.exe, p.args = "", []
        if env is not None:
            p.env = env
        self._refresh_exe(p, t, filename, uid, gid, fd_path, container)
        if caps is not None:
            t.caps = caps
        for num in [n for n, sec in p.fds.items() if sec.get("flags", 0) & O_CLOEXEC]:
            del p.fds[num]
        self.touch_process(p)
        return t

    def _refresh_exe(self, p: Process, t: Thread, filename: str, uid: int, gid: int,
                     fd_path: Callable[[str], str | None],
                     container: tuple[str, str, str] | None | bool = False) -> None:
        data = self._read(p.pid, p.pid)
        if data is not None and data.exepath:
            p.exepath = data.exepath
            p.exe_ino, p.exe_ctime, p.exe_mtime = data.exe_ino, data.exe_ctime, data.exe_mtime
            p.exe_memfd = data.exepath.startswith("memfd:")
            t.uid, t.gid, t.caps = data.uid, data.gid, data.caps
            p.tty, p.sid, p.pgid, p.vpgid = data.tty, data.sid, data.pgid, data.vpgid
            p.loginuid = -1 if data.loginuid == UNSET else data.loginuid
            if data.container_read:
                p.container = containers.container_section(data.container)
            elif isinstance(container, tuple):   # it exited first: the kernel's, at exec
                p.container = containers.container_section(container)
            p.exe_writable = exe_writable(data)
            p.exe_upper, p.exe_lower = overlay_layer(p.pid, data.exepath, p.container)
            return
        # The process is already gone: what the event itself says.
        memfd = fd_path(filename)
        if memfd is not None:
            p.exepath, p.exe_memfd = memfd, memfd.startswith("memfd:")
        else:
            p.exepath = filename if filename.startswith("/") else normalize(p.cwd + filename)
            p.exe_memfd = False
        p.exe_ino = p.exe_ctime = p.exe_mtime = 0
        t.uid, t.gid = uid, gid
        if isinstance(container, tuple):    # else the container from fork stands
            p.container = containers.container_section(container)
        # Not the old program's flags: the layer is found through the parent's mounts (exec
        # keeps the mount namespace; the parent is the nearest live process sharing it).
        p.exe_writable = False
        p.exe_upper, p.exe_lower = overlay_layer(p.ppid, p.exepath, p.container) if p.ppid > 0 \
            else (False, False)

    def on_exit(self, t: Thread, ts: int) -> None:
        """Thread `t` exited at event time `ts`; it leaves the table EXIT_GRACE_NS later: the
        probe's two lanes are read in batches, so records of the thread's last moments can
        reach user space after its exit record (a bulk-lane backlog), and they must still
        find its process, command line and parent."""
        self._exited.append((ts, t))

    # ------------------------------------------------------------------ descriptors
    def fd(self, t: Thread, num: int) -> Section | None:
        """The descriptor `num` of the thread's process (read from /proc when unknown)."""
        fds = t.proc.fds
        sec = fds.get(num)
        if sec is None and num >= 0 and not t.proc.placeholder:
            sec = procscan.read_fd(t.proc.pid, num, self._sockets)
            if sec is not None:
                self.set_fd(t, sec)
        return sec

    def kernel_view(self, t: Thread, num: int) -> Section | None:
        """The descriptor as /proc shows it now (for addresses the syscalls did not carry:
        the port bind(0) or an implicit bind picked)."""
        if t.proc.placeholder:
            return None
        return procscan.read_fd(t.proc.pid, num, self._sockets)

    def set_fd(self, t: Thread, sec: Section) -> Section:
        fds = t.proc.fds
        num = sec["num"]
        if num not in fds and len(fds) >= self.max_fds:
            del fds[next(iter(fds))]
        fds[num] = sec
        return sec

    def dirfd_base(self, t: Thread, dirfd: int) -> str:
        """Directory a *at() path is relative to (with trailing /); '' if unknown."""
        if dirfd == -100:
            return t.proc.cwd
        sec = self.fd(t, dirfd)
        if sec is None or not sec.get("name"):
            return ""
        name = str(sec["name"])
        return name if name.endswith("/") else name + "/"

    def resolve(self, t: Thread, path: str, dirfd: int = -100) -> str:
        if not path:
            return path
        if path.startswith("/"):
            return normalize(path)
        base = self.dirfd_base(t, dirfd)
        return normalize(base + path) if base else path

    def set_cwd(self, t: Thread, path: str) -> None:
        p = t.proc
        cwd = path if path.endswith("/") else path + "/"
        if cwd != p.cwd:
            p.cwd = cwd
            self.touch_process(p)
