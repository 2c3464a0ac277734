"""Tracee event handlers: one per Tracee event (or family), each returning a `_Mapped`.

Why one method per event: Tracee's events differ in what they report (an LSM hook reports the
resolved path but no descriptor, a derived event reports Tracee's own judgement), and each
handler states what its event gives and what it leaves absent.
"""

from __future__ import annotations

from typing import Callable

from ...events.event import Section
from .mapped import (_SIMPLE, _Mapped, _exec_args, _exec_event, _simple_args)
from .records import _Rec
from .state import _INHERITED, _Tables
from .values import (_FILE_MODE, _MEM_PROT_ALERTS, _OPEN_FLAGS, _PROT, _SOCKET_TYPES, AT_FDCWD,
                     _abspath, _addr_text, _bytes, _file_fd, _num, _put, _shorten, _sockaddr,
                     _socket_fd, _str, _strings)


class _Reader(_Tables):
    """Turns records into events (the tables are `_Tables`')."""

    # -- handlers --------------------------------------------------------------------------

    def sched_process_exec(self, rec: _Rec) -> _Mapped:
        """After a successful exec: processName is already the new program's name."""
        prog, pathname = _exec_event(rec, "argv", "env")
        if "env" not in prog and _strings(rec.args.get("envp")) is not None:
            prog["env"] = _strings(rec.args.get("envp"))
        _put(prog, "comm", rec.comm)
        _put(prog, "exepath", pathname or rec.exepath)
        pwd = _str(rec.args.get("pwd"))
        if pwd:
            prog["cwd"] = pwd if pwd.endswith("/") else pwd + "/"
        _put(prog, "exe_ino", _num(rec.args.get("inode")))
        _put(prog, "exe_ino_ctime", _num(rec.args.get("ctime")))   # v0.2x
        kind = "execveat" if rec.syscall == "execveat" else "execve"
        cmdpath = _str(rec.args.get("cmdpath")) or pathname
        return _Mapped(kind, _exec_args(prog, cmdpath), 0 if rec.ret is None else rec.ret,
                       program=prog)

    def execve(self, rec: _Rec) -> _Mapped:
        """The syscall, seen at entry (the caller's name): the kernel names the new program
        after the last component of the path passed."""
        prog, pathname = _exec_event(rec, "argv", "envp")
        dirfd = _num(rec.args.get("dirfd"))
        if pathname and (rec.name == "execve" or pathname.startswith("/") or dirfd == AT_FDCWD):
            prog["comm"] = _shorten(pathname.rstrip("/").rsplit("/", 1)[-1])
        cwd = self._known(rec).get("cwd")
        _put(prog, "exepath", _abspath(pathname, cwd, dirfd if rec.name == "execveat" else None))
        args = _exec_args(prog, pathname if rec.name == "execve" else None)
        if rec.name == "execveat":
            _put(args, "dirfd", dirfd)
            _put(args, "pathname", pathname)
        return _Mapped(rec.name, args, rec.ret, program=prog)

    execveat = execve

    def security_bprm_check(self, rec: _Rec) -> _Mapped:
        """The LSM check of the binary about to run: path resolved, but the name the new
        program will get is not reported (the caller's name is processName)."""
        prog, pathname = _exec_event(rec, "argv", "envp")
        _put(prog, "exepath", pathname)
        return _Mapped("execve", _exec_args(prog, None), rec.ret, program=prog)

    def _open(self, rec: _Rec, kind: str, lsm: bool) -> _Mapped:
        flags = _num(rec.args.get("flags"), _OPEN_FLAGS)
        how = rec.args.get("how")
        if flags is None and isinstance(how, dict):
            flags = _num(how.get("flags"), _OPEN_FLAGS)
        mode = _num(rec.args.get("mode"), _FILE_MODE, True)
        if mode is None and isinstance(how, dict):
            mode = _num(how.get("mode"), _FILE_MODE, True)
        pathname = _str(rec.args.get("pathname"))
        dirfd = _num(rec.args.get("dirfd"))
        dev, ino = _num(rec.args.get("dev")), _num(rec.args.get("inode"))
        args: Section = {}
        _put(args, "name", pathname)
        _put(args, "flags", flags)
        _put(args, "mode", mode)
        _put(args, "dev", dev)
        _put(args, "ino", ino)
        if lsm:
            # The hook runs before the open returns: the descriptor number is not reported.
            args["fd"] = None
            path = _abspath(pathname)
            return _Mapped(kind, args, None, _file_fd(path, flags, None, dev, ino))
        if kind != "open" and kind != "creat":
            _put(args, "dirfd", dirfd)
        if kind == "creat":
            flags = 0o1101                    # creat() = O_CREAT|O_WRONLY|O_TRUNC
            args.pop("flags", None)
        res = rec.ret
        fd = None
        if res is not None and res >= 0:
            path = _abspath(pathname, self._known(rec).get("cwd"), dirfd)
            fd = _file_fd(path, flags, res)
        return _Mapped(kind, args, res, fd)

    def security_file_open(self, rec: _Rec) -> _Mapped:
        kind = rec.syscall if rec.syscall in ("open", "openat", "openat2") else "openat"
        return self._open(rec, kind, True)

    def openat(self, rec: _Rec) -> _Mapped:
        return self._open(rec, rec.name, False)

    open = openat2 = creat = openat

    def security_kernel_read_file(self, rec: _Rec) -> _Mapped | None:
        """The kernel reading a file itself: only a kernel module (finit_module) maps."""
        kind = rec.args.get("type")
        if not (kind == "kernel-module" or _num(kind) == 2):
            return None
        path = _abspath(_str(rec.args.get("pathname")))
        fd = _file_fd(path, None, None, _num(rec.args.get("dev")), _num(rec.args.get("inode")))
        return _Mapped("finit_module", {}, rec.ret, fd)

    def module_load(self, rec: _Rec) -> _Mapped:
        """A module was loaded; Tracee does not say by which call: a file-backed module is
        reported as finit_module (with its file), otherwise as init_module."""
        path = _abspath(_str(rec.args.get("pathname")))
        if path is None:
            return _Mapped("init_module", {}, rec.ret)
        return _Mapped("finit_module", {}, rec.ret, _file_fd(path, None))

    def mem_prot_alert(self, rec: _Rec) -> _Mapped:
        """Tracee's W^X alert: kind 1 comes from mmap, the others from mprotect (or the call
        the record names).  The protection is known only when the record gives `prot`."""
        alert = rec.args.get("alert")
        text = alert.lower().split(" saving data to bin")[0].strip() if isinstance(alert, str) else ""
        kind = _MEM_PROT_ALERTS.get(text)
        if kind is None:
            kind = _num(alert)
        if rec.syscall in ("mmap", "mprotect"):
            etype = rec.syscall
        else:
            etype = "mmap" if kind == 1 else "mprotect"
        args: Section = {}
        _put(args, "addr", _num(rec.args.get("addr")))
        _put(args, "length", _num(rec.args.get("len")))
        _put(args, "prot", _num(rec.args.get("prot"), _PROT))
        return _Mapped(etype, args, rec.ret)

    def _connect(self, rec: _Rec, addr_key: str) -> _Mapped:
        sockfd = _num(rec.args.get("sockfd"))
        sa = _sockaddr(rec.args.get(addr_key))
        args: Section = {}
        _put(args, "fd", sockfd)
        fd = None
        if sa is not None:
            args["addr"] = _addr_text(sa)
            stype = _num(rec.args.get("type"), _SOCKET_TYPES)
            l4 = {1: "tcp", 2: "udp"}.get(stype & 0xF) if stype is not None else None
            fd = _socket_fd(sa, sockfd, l4)
            failed = rec.ret is not None and rec.ret < 0 and rec.ret != -115
            if sockfd is not None and rec.key is not None and sa["family"] != "unix" and not failed:
                self._remember_socket(rec.key, sockfd, fd)
        return _Mapped("connect", args, rec.ret, fd)

    def connect(self, rec: _Rec) -> _Mapped:
        return self._connect(rec, "addr")

    def security_socket_connect(self, rec: _Rec) -> _Mapped:
        return self._connect(rec, "remote_addr")

    def dup(self, rec: _Rec) -> _Mapped:
        """dup family: the new descriptor is the result; it carries the old one's socket."""
        oldfd, newfd = _num(rec.args.get("oldfd")), _num(rec.args.get("newfd"))
        args: Section = {}
        _put(args, "oldfd", oldfd)
        if rec.name != "dup":
            _put(args, "newfd", newfd)
        if rec.name == "dup3":
            _put(args, "flags", _num(rec.args.get("flags"), _OPEN_FLAGS))
        res = rec.ret
        fd = None
        key = rec.key
        if res is not None and res >= 0 and key is not None:
            owned = self.sockets.get(key, {})
            owned.pop(res, None)
            sock = owned.get(oldfd) if oldfd is not None else None
            if sock is not None:
                fd = dict(sock, num=res)
                self._remember_socket(key, res, fd)
        return _Mapped(rec.name, args, res, fd)

    dup2 = dup3 = dup

    def socket_dup(self, rec: _Rec) -> _Mapped:
        """Tracee's own report that a dup-family call copied a socket."""
        kind = rec.syscall if rec.syscall in ("dup", "dup2", "dup3") else "dup2"
        oldfd, newfd = _num(rec.args.get("oldfd")), _num(rec.args.get("newfd"))
        args: Section = {}
        _put(args, "oldfd", oldfd)
        if kind != "dup":
            _put(args, "newfd", newfd)
        sa = _sockaddr(rec.args.get("remote_addr"))
        fd = _socket_fd(sa, newfd, None) if sa is not None else None
        if fd is not None and newfd is not None and rec.key is not None:
            self._remember_socket(rec.key, newfd, fd)
        return _Mapped(kind, args, newfd, fd)

    def close(self, rec: _Rec) -> _Mapped:
        fdnum = _num(rec.args.get("fd"))
        args: Section = {}
        _put(args, "fd", fdnum)
        fd = None
        if fdnum is not None and rec.key is not None:
            sock = self.sockets.get(rec.key, {}).pop(fdnum, None)
            fd = dict(sock) if sock is not None else None
        return _Mapped("close", args, rec.ret, fd)

    def bind(self, rec: _Rec) -> _Mapped:
        sa = _sockaddr(rec.args.get("addr"))
        args: Section = {}
        _put(args, "fd", _num(rec.args.get("sockfd")))
        if sa is not None:
            args["addr"] = _addr_text(sa)
        return _Mapped("bind", args, rec.ret)

    def magic_write(self, rec: _Rec) -> _Mapped:
        """The first bytes of a write at file offset 0: a write with its data buffer."""
        kind = rec.syscall if rec.syscall in ("write", "pwrite64", "writev", "pwritev") else "write"
        args: Section = {}
        _put(args, "data", _bytes(rec.args.get("bytes")))
        if kind in ("pwrite64", "pwritev"):
            args["pos"] = 0
        path = _abspath(_str(rec.args.get("pathname")))
        fd = _file_fd(path, None, None, _num(rec.args.get("dev")), _num(rec.args.get("inode")))
        return _Mapped(kind, args, None, fd)

    def sched_process_fork(self, rec: _Rec) -> _Mapped:
        """The parent's side of a fork; the child inherits the parent's process entry."""
        child = _num(rec.args.get("child_pid"))
        child_tid = _num(rec.args.get("child_tid"))
        parent = rec.key
        # Without child_pid (before v0.9) a new thread cannot be told from a new process.
        if child is not None and parent is not None and child != parent:
            entry = {k: v for k, v in self.procs.get(parent, {}).items() if k in _INHERITED}
            entry["ppid"] = parent
            _put(entry, "vpid", _num(rec.args.get("child_ns_pid")))
            self._store(child, entry)
        return _Mapped("clone", {}, child_tid if child_tid is not None else child)

    def sched_process_exit(self, rec: _Rec) -> _Mapped:
        group = rec.args.get("process_group_exit")
        if rec.key is not None and (group is True or (group is None and rec.tid == rec.pid)):
            self._forget_process(rec.key)
        return _Mapped("procexit", {}, None)

    def simple(self, rec: _Rec) -> _Mapped:
        kind, spec = _SIMPLE[rec.name]
        return _Mapped(kind, _simple_args(rec, spec), rec.ret)



Handler = Callable[[_Reader, _Rec], "_Mapped | None"]

_HANDLERS: dict[str, Handler] = {name: getattr(_Reader, name) for name in (
    "sched_process_exec", "execve", "execveat", "security_bprm_check", "security_file_open",
    "open", "openat", "openat2", "creat", "security_kernel_read_file", "module_load",
    "mem_prot_alert", "connect", "security_socket_connect", "dup", "dup2", "dup3",
    "socket_dup", "close", "bind", "magic_write", "sched_process_fork", "sched_process_exit")}
_HANDLERS.update({name: _Reader.simple for name in _SIMPLE})

#: Tracee event name -> the Falco event type it becomes (the primary one; a few depend on
#: the record: `syscall`, `mem_prot_alert` kind, `module_load` path).
TRACEE_EVENT_TYPES: dict[str, str] = {
    **{name: kind for name, (kind, _) in _SIMPLE.items()},
    "sched_process_exec": "execve", "execve": "execve", "execveat": "execveat",
    "security_bprm_check": "execve", "security_file_open": "openat", "open": "open",
    "openat": "openat", "openat2": "openat2", "creat": "creat",
    "security_kernel_read_file": "finit_module", "module_load": "finit_module",
    "mem_prot_alert": "mprotect", "connect": "connect", "security_socket_connect": "connect",
    "dup": "dup", "dup2": "dup2", "dup3": "dup3", "socket_dup": "dup2", "close": "close",
    "bind": "bind", "magic_write": "write", "sched_process_fork": "clone",
    "sched_process_exit": "procexit",
}
