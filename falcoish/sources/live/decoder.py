"""Raw probe records -> rule-ready `Event`s, keeping the process/descriptor table current.

Each record is one syscall at exit with all its arguments (see spec.py / probe.c).  The
state table (state.py) is updated from it first, then the event is assembled: `thread` is
the state after the event, `ancestors` come from the table (parent first), `fd` is the
descriptor the event is about, `user`/`group` carry names, `container` the cgroup-derived id.
Records of types nobody asked for (captured only to keep the tables current) update the
state and are dropped.  A descriptor created by an event enters the table only when the
probe tracks it (RF_TRACKED): the probe sends the close of tracked descriptors only, so an
untracked one kept here would go stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ...events.event import Event
from . import kernel, procscan, spec
from .exec_cgroup import container_at_exec
from .net_handlers import NetHandlers
from .rawargs import DECODERS as _DECODERS, kernel_path as _kernel_path, split_blob as _split_blob, values as _values
from .tamper import TamperNotice, tamper_notice
from .state import O_CLOEXEC, O_DIRECTORY, Section, StateTable, Thread, fd_tag
from .users import UserDirectory

HEADER = kernel.HEADER
O_NONBLOCK = 0o4000
O_CREAT_WRONLY_TRUNC = 0o1101
MFD_CLOEXEC = 1
AT_EMPTY_PATH = 0x1000
PPM_EXE_WRITABLE, PPM_EXE_UPPER_LAYER, PPM_EXE_FROM_MEMFD, PPM_EXE_LOWER_LAYER = 1, 2, 4, 8

# fd-using events: the parameter naming the descriptor the fd.* fields describe.
FD_PARAM = {"unlinkat": "dirfd", "symlinkat": "linkdirfd", "fchmodat": "dirfd", "mkdirat": "dirfd",
            "fchmod": "fd", "fchdir": "fd", "setns": "fd", "finit_module": "fd", "mmap": "fd",
            "close": "fd", "bind": "fd", "listen": "fd", "connect": "fd", "sendto": "fd",
            "recvfrom": "fd", "sendmsg": "fd", "recvmsg": "fd", "read": "fd", "write": "fd",
            "pwrite64": "fd", "writev": "fd", "pwritev": "fd"}
# other fd-creating events handled generically: the kind of descriptor they return.
FD_CREATORS = {"userfaultfd": "userfaultfd", "bpf": "bpf"}
# bpf() commands whose return value is a new descriptor (map/prog create, *_GET_FD_BY_ID, ...)
BPF_FD_CMDS = frozenset((0, 5, 7, 13, 14, 17, 18, 19, 28, 30, 32, 33, 36))
UID_NAMES = {"setuid": ("uid",), "setresuid": ("ruid", "euid", "suid")}
GID_NAMES = {"setgid": ("gid",), "setresgid": ("rgid", "egid", "sgid")}
PID_NAMES = {"kill": "pid", "ptrace": "pid", "process_vm_writev": "pid"}
_MULTISLASH = re.compile(r"/{2,}")
# handlers of these types return the finished args dict
_READY_ARGS = spec.CLONE_TYPES | spec.EXEC_TYPES | {spec.PROCEXIT}
# descriptor parameters of each type (resolved as `<tag>name` when not the event's own fd)
_FD_ARGS = {name: tuple(f.name for f in sc.fields if f.kind == "fd" and not f.name.startswith("_"))
            for name, sc in spec.SYSCALLS.items()}
for _n in ("pipe", "pipe2"):
    _FD_ARGS[_n] = ("fd1", "fd2")


# handler(name, thread, record, header, res) -> (values or args, fd section, thread after)
Handler = Callable[[str, Thread, bytes, tuple[Any, ...], int], tuple[dict[str, Any], Section | None, Thread]]


@dataclass(frozen=True)
class FloodNotice:
    """The probe saw `count` events from process `pid` in each of `windows` windows."""

    ts: int
    pid: int
    tid: int
    comm: str
    count: int
    windows: int
    window_ns: int

    @property
    def rate(self) -> float:
        """Events per second in the last window."""
        return self.count * 1e9 / self.window_ns if self.window_ns else float(self.count)


class RecordDecoder(NetHandlers):
    """Decodes records of one capture into events; `stats` is the capture's counter dict."""

    def __init__(self, state: StateTable, users: UserDirectory, wanted: frozenset[str],
                 stats: dict[str, Any]) -> None:
        self.state = state
        self.users = users
        self.wanted = wanted
        self.stats = stats
        self._num = 0
        self._ts_offset = kernel.boot_offset_ns()
        self._child_flags: dict[int, int] = {}
        self._handlers: dict[str, Handler] = {}
        self._rflags = 0
        #: called for each FLOOD record (a process above the flood threshold)
        self.on_flood: Callable[[FloodNotice], None] = lambda notice: None
        #: called for each record whose argument the caller's memory misreported (kcopy.c)
        self.on_tamper: Callable[[TamperNotice], None] = lambda notice: None
        self._install_handlers()

    def process(self, rec: bytes) -> Event | None:
        """The event of one record, or None (state-only, or undecodable: counted)."""
        return self._process(rec)

    def _process(self, rec: bytes) -> Event | None:
        self.stats["records"] += 1
        try:
            hdr = HEADER.unpack_from(rec)
            name = spec.TYPE_NAMES[hdr[5]]
        except Exception:  # noqa: BLE001 - a malformed record is counted, never fatal
            self.stats["user_drops"] += 1
            return None
        st = self.state
        if st._deferred or st._exited:        # (per record: no property call)
            st.flush(hdr[0])
        ts = hdr[0] + self._ts_offset
        tid, pid = hdr[1], hdr[2]
        self._rflags = hdr[11]
        if name == spec.FLOOD:
            self.stats["state_only"] += 1
            self.on_flood(FloodNotice(ts, pid, tid, hdr[-1].split(b"\0", 1)[0].decode("utf-8", "replace"),
                                      hdr[13], hdr[14], hdr[15]))
            return None
        if name == "sched_fork":
            parent = st.thread(tid, pid, hdr[-1].split(b"\0", 1)[0], hdr[3], hdr[4])
            flags = hdr[14] if hdr[15] else 0
            st.on_fork(parent, hdr[13] & 0xFFFFFFFF, flags, ts)
            if hdr[15]:
                self._child_flags[hdr[13] & 0xFFFFFFFF] = flags
                if len(self._child_flags) > 65536:
                    self._child_flags.clear()
            self.stats["state_only"] += 1
            return None
        t = st.thread(tid, pid, hdr[-1].split(b"\0", 1)[0], hdr[3], hdr[4])
        res = hdr[12]
        handler: Handler = self._handlers.get(name) or self._generic
        try:
            vals, fdsec, t = handler(name, t, rec, hdr, res)
        except Exception:  # noqa: BLE001
            self.stats["user_drops"] += 1
            return None
        if self._rflags & kernel.RF_TAMPERED:
            notice = tamper_notice(name, rec, hdr, ts, t.comm or "")
            if notice is not None:
                self.stats["tampered"] = self.stats.get("tampered", 0) + 1
                self.on_tamper(notice)
        if name not in self.wanted:
            self.stats["state_only"] += 1
            return None
        args = vals if name in _READY_ARGS else self._args(name, vals, res)
        return self._event(name, ts, t, None if name == spec.PROCEXIT else res, args, fdsec)

    def _event(self, name: str, ts: int, t: Thread, res: int | None, args: dict[str, Any],
               fdsec: Section | None) -> Event:
        st = self.state
        proc = t.proc
        cid = proc.container.get("id", "host")
        user = self.users.user_section(t.uid, proc.loginuid, cid, proc.pid)
        group = self.users.group_section(t.gid, cid, proc.pid)
        resolved = self._resolved(name, t, args, fdsec, cid)
        if self._rflags & kernel.RF_IO_URING:     # evt.is_io_uring (iouring.c)
            resolved = dict(resolved or {}, io_uring="true")
        if self._rflags & kernel.RF_TAMPERED:     # evt.arg_tampered (kcopy.c)
            resolved = dict(resolved or {}, arg_tampered="true")
        self._num += 1
        captured = self.stats["captured"]
        captured[name] = captured.get(name, 0) + 1
        return Event(self._num, ts, name, t.tid, res, args, st.section(t), st.ancestors(t), fdsec,
                     user, group, proc.container, resolved)

    def _resolved(self, name: str, t: Thread, args: dict[str, Any], fdsec: Section | None,
                  cid: str) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        own = fdsec.get("num") if fdsec is not None else None
        for key in _FD_ARGS.get(name, ()):
            v = args.get(key)
            if type(v) is int and v >= 0 and v != own:
                sec = t.proc.fds.get(v)
                if sec is not None:
                    out[key] = fd_tag(sec) + sec.get("name", "")
        for key in UID_NAMES.get(name, ()):
            uname = self.users.user_name(args.get(key, -1), cid, t.proc.pid)
            if uname is not None:
                out[key] = uname
        for key in GID_NAMES.get(name, ()):
            gname = self.users.group_name(args.get(key, -1), cid, t.proc.pid)
            if gname is not None:
                out[key] = gname
        pkey = PID_NAMES.get(name)
        if pkey is not None:
            target = self.state.threads.get(args.get(pkey, 0))
            if target is not None and target.comm is not None:
                out[pkey] = target.comm
        return out or None

    # ------------------------------------------------------------------ handlers
    def _install_handlers(self) -> None:
        h = self._handlers
        for n in ("open", "openat", "openat2", "creat"):
            h[n] = self._open
        for n in spec.CLONE_TYPES:
            h[n] = self._clone
        for n in spec.EXEC_TYPES:
            h[n] = self._exec
        for n in ("dup", "dup2", "dup3"):
            h[n] = self._dup
        for n in ("pipe", "pipe2"):
            h[n] = self._pipe
        for n in ("accept", "accept4"):
            h[n] = self._accept
        for n in ("setuid", "setgid", "setresuid", "setresgid"):
            h[n] = self._creds
        h.update(procexit=self._procexit, close=self._close, socket=self._socket, bind=self._bind,
                 listen=self._listen, connect=self._connect, sendto=self._sendrecv,
                 recvfrom=self._sendrecv, sendmsg=self._sendrecv, recvmsg=self._sendrecv,
                 memfd_create=self._memfd, chdir=self._chdir,
                 fchdir=self._fchdir)

    @staticmethod
    def _args(name: str, vals: dict[str, Any], res: int) -> dict[str, Any]:
        sc = spec.SYSCALLS[name]
        out: dict[str, Any] = {}
        for key in sc.order:
            if key == sc.ret:
                out[key] = res
            elif key in vals:
                out[key] = vals[key]
        return out

    def _generic(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        args = vals
        kind = FD_CREATORS.get(name)
        if kind is not None:
            fdsec: Section | None = None
            if res >= 0 and (name != "bpf" or vals.get("cmd") in BPF_FD_CMDS):
                fdsec = self._created(t, {"num": res, "type": kind, "name": "", "flags": 2})
            return args, fdsec, t
        key = FD_PARAM.get(name)
        fdsec = self.state.fd(t, vals[key]) if key is not None and vals.get(key, -1) >= 0 else None
        return args, fdsec, t

    def _created(self, t: Thread, sec: Section) -> Section:
        """A descriptor this event created: kept when the probe tracks it; any older entry
        under its number is stale either way (the kernel just reused the number)."""
        if self._rflags & kernel.RF_TRACKED:
            return self.state.set_fd(t, sec)
        t.proc.fds.pop(sec["num"], None)
        return sec

    def _open(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        raw = vals.get("name", "")
        flags = vals.get("flags", O_CREAT_WRONLY_TRUNC)
        # the file the kernel opened (kpath.c), whatever alias the caller used; else (a failed
        # call, or the walk could not finish) the caller's path resolved here
        path = _kernel_path(rec, hdr) or self.state.resolve(t, raw, vals.get("dirfd", -100))
        sec: Section = {"num": res if res >= 0 else -1,
                        "type": "directory" if flags & O_DIRECTORY else "file", "name": path,
                        "nameraw": _MULTISLASH.sub("/", raw) if "//" in raw else raw, "flags": flags}
        if res >= 0:
            self._created(t, sec)
        return vals, sec, t

    def _close(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        num = vals["fd"]
        sec = t.proc.fds.get(num)
        if res >= 0:
            self.state.defer_close(t.proc.pid, num)
        return vals, sec, t

    def _dup(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        old = self.state.fd(t, vals["oldfd"]) if vals["oldfd"] >= 0 else None
        sec = old
        if res >= 0 and old is not None and res != vals["oldfd"]:
            flags = old.get("flags", 0) & ~O_CLOEXEC
            if vals.get("flags", 0) & O_CLOEXEC:
                flags |= O_CLOEXEC
            sec = self._created(t, dict(old, num=res, flags=flags))
        return vals, sec, t

    def _pipe(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        fds = vals.get("_fds", b"")
        sec = None
        if res >= 0 and len(fds) >= 8:
            fd1 = int.from_bytes(fds[0:4], "little", signed=True)
            fd2 = int.from_bytes(fds[4:8], "little", signed=True)
            vals["fd1"], vals["fd2"] = fd1, fd2
            flags = vals.get("flags", 0) & (O_CLOEXEC | O_NONBLOCK)
            sec = self._created(t, {"num": fd1, "type": "pipe", "name": "", "flags": flags})
            self._created(t, {"num": fd2, "type": "pipe", "name": "", "flags": flags | 1})
        return vals, sec, t

    def _memfd(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        sec = None
        if res >= 0:
            flags = O_CLOEXEC if vals.get("flags", 0) & MFD_CLOEXEC else 0
            sec = self._created(t, {"num": res, "type": "memfd", "name": vals.get("name", ""),
                                        "flags": flags | 2})
        return vals, sec, t

    def _chdir(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        if res == 0:
            self.state.set_cwd(t, self.state.resolve(t, vals["path"]))
        return vals, None, t

    def _fchdir(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        sec = self.state.fd(t, vals["fd"]) if vals["fd"] >= 0 else None
        if res == 0 and sec is not None and sec.get("name"):
            self.state.set_cwd(t, sec["name"])
        return vals, sec, t

    def _creds(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        if res == 0:
            if name == "setuid":
                t.uid = vals["uid"]
            elif name == "setgid":
                t.gid = vals["gid"]
            elif name == "setresuid" and vals["euid"] != 0xFFFFFFFF:
                t.uid = vals["euid"]
            elif name == "setresgid" and vals["egid"] != 0xFFFFFFFF:
                t.gid = vals["egid"]
            self.state.touch(t)
        return vals, None, t

    def _procexit(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        a = hdr[13:19]
        args: dict[str, Any] = {}
        if a[2]:
            code = a[1] & 0xFF
            args.update(status=code << 8, ret=code, sig=0, core=0)
        self.state.on_exit(t, hdr[0])
        return args, None, t

    def _clone(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        a = hdr[13:19]
        child_side = a[1] == 1
        flags = self._child_flags.pop(t.tid, 0) if child_side else a[0]
        p = t.proc
        args = {"res": res, "exe": p.exe or "", "args": "\0".join(p.args), "tid": t.tid, "pid": p.pid,
                "ptid": p.ppid, "cwd": p.cwd, "comm": t.comm or "", "flags": flags, "uid": t.uid,
                "gid": t.gid, "vtid": t.vtid, "vpid": p.vpid,
                "pidns_init_start_ts": p.pidns_init_start_ts}
        return args, None, t

    def _exec(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        if len(rec) >= kernel.EXEC_ARGV_OFF:
            lens = rec[kernel.EXEC_LENS_OFF:kernel.EXEC_ARGV_OFF]
            argv_len, env_len = int.from_bytes(lens[:4], "little"), int.from_bytes(lens[4:], "little")
            env_off = kernel.EXEC_ARGV_OFF + argv_len
            argv = _split_blob(rec[kernel.EXEC_ARGV_OFF:env_off])
            env = _split_blob(rec[env_off:env_off + env_len])
        else:
            argv, env = [], []
        if name == "execve":
            filename = vals.get("filename", "")
            target = filename
            dirfd = -100
        else:
            filename = vals.get("pathname", "")
            dirfd = vals.get("dirfd", -100)
            target = f"/dev/fd/{dirfd}" if vals.get("_flags", 0) & AT_EMPTY_PATH and not filename else filename
        if res == 0:
            path = target if target.startswith("/dev/fd/") else self.state.resolve(t, target, dirfd)
            comm = hdr[-1].split(b"\0", 1)[0].decode("utf-8", "replace")
            a = hdr[13:19]
            caps = (a[2], a[3], a[4]) if a[5] == 1 else None     # as exec left them (probe.c)
            t = self.state.on_exec(t, comm, argv, env, path, hdr[3], hdr[4], self._memfd_path(t),
                                   caps, container_at_exec(rec, hdr[19]))
        p = t.proc
        st = self.state
        sec = st.section(t)
        eflags = ((PPM_EXE_WRITABLE if p.exe_writable else 0) | (PPM_EXE_UPPER_LAYER if p.exe_upper else 0)
                  | (PPM_EXE_FROM_MEMFD if p.exe_memfd else 0) | (PPM_EXE_LOWER_LAYER if p.exe_lower else 0))
        args = {"res": res, "exe": p.exe or "", "args": "\0".join(p.args), "tid": t.tid, "pid": p.pid,
                "ptid": p.ppid, "cwd": p.cwd, "comm": t.comm or "", "env": "\0".join(p.env),
                "tty": p.tty, "vpgid": p.vpgid, "loginuid": p.loginuid, "flags": eflags,
                "cap_inheritable": sec["cap_inheritable"], "cap_permitted": sec["cap_permitted"],
                "cap_effective": sec["cap_effective"]}
        if p.exe_ino:
            args.update(exe_ino=p.exe_ino, exe_ino_ctime=p.exe_ctime, exe_ino_mtime=p.exe_mtime)
        args.update(uid=t.uid)
        if p.exepath is not None:
            args["trusted_exepath"] = p.exepath
        args.update(pgid=p.pgid, gid=t.gid)
        if name == "execve":
            args["filename"] = filename
        else:
            args.update(dirfd=dirfd, pathname=filename)
        return args, None, t

    def _memfd_path(self, t: Thread) -> Callable[[str], str | None]:
        """For an exec of `/dev/fd/N` or `/proc/self/fd/N`: `memfd:NAME` if N is a memfd."""
        def lookup(path: str) -> str | None:
            m = re.fullmatch(r"/(?:dev/fd|proc/(?:self|\d+)/fd)/(\d+)", path)
            if m is None:
                return None
            sec = t.proc.fds.get(int(m.group(1)))
            if sec is None:
                return None
            if sec.get("type") == "memfd":
                name = sec.get("name", "")
                name = procscan.normalize_memfd(name) if name.startswith("/memfd:") else name
                return name if name.startswith("memfd:") else "memfd:" + name
            return sec.get("name") or None
        return lookup


