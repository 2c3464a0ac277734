"""Live capture: syscall records from the kernel probe -> rule-ready `Event`s.

    cap = LiveCapture({"openat", "execve", "connect"})
    for ev in cap.events():          # blocks; stop() from another thread ends it
        ...

Each record is one syscall at exit with all its arguments (see spec.py / probe.c).  The
state table (state.py) is updated from it first, then the event is assembled: `thread` is
the state after the event, `ancestors` come from the table (parent first), `fd` is the
descriptor the event is about, `user`/`group` carry names, `container` the cgroup-derived id.
Records of types nobody asked for (captured only to keep the tables current) update the
state and are dropped.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable, Iterator

from ...event import Event
from . import kernel, net, procscan, spec
from .setup import LiveUnavailable, check_live_support
from .state import O_CLOEXEC, O_DIRECTORY, Section, StateTable, Thread, fd_tag
from .users import UserDirectory

__all__ = ["LiveCapture", "check_live_support", "LiveUnavailable"]

HEADER = kernel.HEADER
STR0 = kernel.HEADER_SIZE
STR_SZ = kernel.STR_SZ
O_NONBLOCK = 0o4000
O_CREAT_WRONLY_TRUNC = 0o1101
MFD_CLOEXEC = 1
AT_EMPTY_PATH = 0x1000
EINPROGRESS = -115
PPM_EXE_WRITABLE, PPM_EXE_UPPER_LAYER, PPM_EXE_FROM_MEMFD, PPM_EXE_LOWER_LAYER = 1, 2, 4, 8

# fd-using events: the parameter naming the descriptor the fd.* fields describe.
FD_PARAM = {"unlinkat": "dirfd", "symlinkat": "linkdirfd", "fchmodat": "dirfd", "mkdirat": "dirfd",
            "fchmod": "fd", "fchdir": "fd", "setns": "fd", "finit_module": "fd", "mmap": "fd",
            "close": "fd", "bind": "fd", "listen": "fd", "connect": "fd", "sendto": "fd",
            "recvfrom": "fd"}
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


def _decoder(sc: spec.Syscall) -> list[tuple[str, str, int, str]]:
    return [(f.name, sc.positions[f.name][0], sc.positions[f.name][1], f.kind) for f in sc.fields]


_DECODERS = {name: _decoder(sc) for name, sc in spec.SYSCALLS.items()}


def _values(rec: bytes, hdr: tuple[Any, ...], decoder: list[tuple[str, str, int, str]]) -> dict[str, Any]:
    a = hdr[13:19]
    out: dict[str, Any] = {}
    for name, where, idx, kind in decoder:
        if where == "a":
            v = a[idx]
            if kind == "fd" or kind == "i32":
                v &= 0xFFFFFFFF
                if v >= 0x80000000:
                    v -= 0x100000000
            elif kind == "u32":
                v &= 0xFFFFFFFF
            elif kind == "i64" and v >= 1 << 63:
                v -= 1 << 64
            out[name] = v
        else:
            n = hdr[7 + idx] if idx < hdr[6] else 0
            raw = rec[STR0 + idx * STR_SZ: STR0 + idx * STR_SZ + n]
            if kind == "str":
                out[name] = raw.rstrip(b"\0").decode("utf-8", "replace")
            else:
                out[name] = raw
    return out


def _split_blob(blob: bytes) -> list[str]:
    if not blob:
        return []
    if blob.endswith(b"\0"):
        blob = blob[:-1]
    return [s.decode("utf-8", "replace") for s in blob.split(b"\0")]


class LiveCapture:
    """Events from the running machine (see the module docstring).

    stats: `captured` (events yielded per type), `state_only` (records used only for the
    tables), `kernel_drops` (records lost because the ring buffer was full), `user_drops`
    (records that could not be decoded), `records` (all records read).
    """

    def __init__(self, event_types: set[str] | None = None, *, ringbuf_pages: int = 2048,
                 scan_proc: bool = True, max_threads: int = 131072,
                 poll_interval_ms: int = 100) -> None:
        unknown = set(event_types or ()) - spec.SUPPORTED
        self.unsupported = sorted(unknown)
        self.wanted = frozenset(spec.SUPPORTED if event_types is None else set(event_types) & spec.SUPPORTED)
        self.attach = spec.capture_set(self.wanted)
        self.stats: dict[str, Any] = {"captured": {}, "state_only": 0, "kernel_drops": 0,
                                      "user_drops": 0, "records": 0}
        self.ready = threading.Event()
        self._ringbuf_pages = ringbuf_pages
        self._scan = scan_proc
        self._poll_ms = poll_interval_ms
        self._stop = threading.Event()
        self._probe: kernel.KernelProbe | None = None
        self._lock = threading.Lock()
        self.state = StateTable(max_threads=max_threads)
        self.users = UserDirectory()
        self._num = 0
        self._ts_offset = kernel.boot_offset_ns()
        self._child_flags: dict[int, int] = {}
        self._handlers: dict[str, Handler] = {}
        self._install_handlers()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Compile and attach the probe, then read /proc.  Idempotent; blocks (~0.5-5 s)."""
        with self._lock:
            if self._probe is not None:
                return
            reason = check_live_support()
            if reason is not None:
                raise LiveUnavailable(reason)
            self._probe = kernel.KernelProbe(self.attach, self._ringbuf_pages)
            self.stats["missing_tracepoints"] = sorted(self._probe.missing)
            if self._scan:
                self.state.load_scan(procscan.scan())
            self.ready.set()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._probe is not None:
                self.stats["kernel_drops"] = self._probe.lost()
                self._probe.close()
                self._probe = None

    def events(self) -> Iterator[Event]:
        """Yield events (num 1, 2, ...) until stop()."""
        self.start()
        probe = self._probe
        assert probe is not None
        try:
            while not self._stop.is_set():
                self.users.refresh()
                for rec in probe.poll(self._poll_ms):
                    ev = self._process(rec)
                    if ev is not None:
                        yield ev
                self.stats["kernel_drops"] = probe.lost()
        finally:
            self.close()

    # ------------------------------------------------------------------ one record
    def _process(self, rec: bytes) -> Event | None:
        self.stats["records"] += 1
        try:
            hdr = HEADER.unpack_from(rec)
            name = spec.TYPE_NAMES[hdr[5]]
        except Exception:  # noqa: BLE001 - a malformed record is counted, never fatal
            self.stats["user_drops"] += 1
            return None
        st = self.state
        if st._deferred:
            st.flush()
        ts = hdr[0] + self._ts_offset
        tid, pid = hdr[1], hdr[2]
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
                 recvfrom=self._sendrecv, memfd_create=self._memfd, chdir=self._chdir,
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
                fdsec = self.state.set_fd(t, {"num": res, "type": kind, "name": "", "flags": 2})
            return args, fdsec, t
        key = FD_PARAM.get(name)
        fdsec = self.state.fd(t, vals[key]) if key is not None and vals.get(key, -1) >= 0 else None
        return args, fdsec, t

    def _open(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        raw = vals.get("name", "")
        flags = vals.get("flags", O_CREAT_WRONLY_TRUNC)
        path = self.state.resolve(t, raw, vals.get("dirfd", -100))
        sec: Section = {"num": res if res >= 0 else -1,
                        "type": "directory" if flags & O_DIRECTORY else "file", "name": path,
                        "nameraw": _MULTISLASH.sub("/", raw) if "//" in raw else raw, "flags": flags}
        if res >= 0:
            self.state.set_fd(t, sec)
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
            sec = dict(old, num=res, flags=flags)
            self.state.set_fd(t, sec)
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
            sec = self.state.set_fd(t, {"num": fd1, "type": "pipe", "name": "", "flags": flags})
            self.state.set_fd(t, {"num": fd2, "type": "pipe", "name": "", "flags": flags | 1})
        return vals, sec, t

    def _memfd(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        sec = None
        if res >= 0:
            flags = O_CLOEXEC if vals.get("flags", 0) & MFD_CLOEXEC else 0
            sec = self.state.set_fd(t, {"num": res, "type": "memfd", "name": vals.get("name", ""),
                                        "flags": flags | 2})
        return vals, sec, t

    def _socket(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        vals["flags"] = vals["type"] & (O_CLOEXEC | O_NONBLOCK)
        sec = None
        if res >= 0:
            sec = {"num": res, "type": net.family_type(vals["domain"]), "name": "",
                   "flags": vals["flags"] | 2}
            if sec["type"] in ("ipv4", "ipv6"):
                proto = net.l4proto(vals["type"], vals["proto"])
                if proto is not None:
                    sec["l4proto"] = proto
            self.state.set_fd(t, sec)
        return vals, sec, t

    def _bind(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        addr = net.parse_sockaddr(vals.get("addr", b""))
        vals["addr"] = net.addr_text(addr) if addr is not None else ""
        sec = self.state.fd(t, vals["fd"])
        if res == 0 and addr is not None:
            sec = dict(sec) if sec is not None else {"num": vals["fd"], "type": net.family_type(addr.family)}
            if addr.family == net.AF_UNIX:
                sec["name"] = addr.ip
            elif addr.family in (net.AF_INET, net.AF_INET6):
                port = addr.port or self._kernel_port(t, vals["fd"], "sport")
                sec.update(type=net.family_type(addr.family), sip=addr.ip, sport=port,
                           name=f"{addr.ip}:{port}")
                if port > 0:
                    sec["is_server"] = True
            self.state.set_fd(t, sec)
        return vals, sec, t

    def _kernel_port(self, t: Thread, num: int, key: str) -> int:
        """A port the kernel chose (bind to port 0, implicit bind), read from /proc."""
        seen = self.state.kernel_view(t, num)
        if seen is None:
            return 0
        port = seen.get(key if "cip" in seen else "sport", 0)
        return port if isinstance(port, int) else 0

    def _listen(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        sec = self.state.fd(t, vals["fd"])
        if res == 0 and sec is not None:
            new = dict(sec, is_server=True)
            port = vals.get("_lport", 0) & 0xFFFF
            if port and not sec.get("sport"):
                ip = sec.get("sip") or ("::" if sec.get("type") == "ipv6" else "0.0.0.0")
                new.update(sip=ip, sport=port, name=f"{ip}:{port}")
            sec = self.state.set_fd(t, new)
        return vals, sec, t

    def _connect(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        num = vals["fd"]
        remote = net.parse_sockaddr(vals.get("_addr", b""))
        vals["addr"] = net.addr_text(remote) if remote is not None else ""
        sec = self.state.fd(t, num)
        if remote is None:
            return vals, sec, t
        if remote.family == net.AF_UNIX:
            new = dict(sec) if sec is not None else {"num": num, "type": "unix", "flags": 0}
            new.update(name=remote.ip, is_server=False, connected=True)
            vals["tuple"] = remote.ip
        elif remote.family in (net.AF_INET, net.AF_INET6):
            lip, lport = self._local_end(vals, remote.family, sec)
            if lport == 0 and res == 0:
                lport = self._kernel_port(t, num, "cport")
            new = dict(sec) if sec is not None else {"num": num, "flags": 0, "l4proto": "tcp"}
            new.update(type=net.family_type(remote.family), cip=lip, cport=lport, sip=remote.ip,
                       sport=remote.port, is_server=False, connected=True,
                       name=net.tuple_text(lip, lport, remote.ip, remote.port))
            vals["tuple"] = new["name"]
        else:
            return vals, sec, t
        if res == 0 or res == EINPROGRESS:
            sec = self.state.set_fd(t, new)
        else:
            sec = sec if sec is not None else new
        return vals, sec, t

    @staticmethod
    def _local_end(vals: dict[str, Any], family: int, sec: Section | None) -> tuple[str, int]:
        port = vals.get("_lport", 0) & 0xFFFF
        if vals.get("_sk"):
            if family == net.AF_INET:
                return net.ip4_from_u32(vals.get("_saddr4", 0)), port
            raw = vals.get("_saddr6", b"")
            if len(raw) >= 16:
                return net.ip6_from_bytes(raw), port
        if sec is not None and "sip" in sec and sec.get("is_server"):
            return sec["sip"], sec.get("sport", 0)       # bound before connecting
        return ("0.0.0.0" if family == net.AF_INET else "::"), port

    def _accept(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        lsec = self.state.fd(t, vals["_lfd"]) if vals["_lfd"] >= 0 else None
        peer = net.parse_sockaddr(vals.get("_peer", b""))
        if res < 0:
            return vals, None, t
        flags = vals.get("flags", 0) & (O_CLOEXEC | O_NONBLOCK)
        sec: Section = {"num": res, "flags": flags | 2}
        if peer is not None and peer.family in (net.AF_INET, net.AF_INET6):
            sip = lsec.get("sip") if lsec is not None else None
            sport = lsec.get("sport", 0) if lsec is not None else 0
            if sip in (None, "0.0.0.0", "::"):
                sip = _wildcard_local(peer)
            sec.update(type=net.family_type(peer.family), l4proto="tcp", cip=peer.ip, cport=peer.port,
                       sip=sip, sport=sport, is_server=True, connected=True,
                       name=net.tuple_text(peer.ip, peer.port, sip, sport))
            vals["tuple"] = sec["name"]
        else:
            sec.update(type=lsec.get("type", "unix") if lsec is not None else "unix",
                       name=lsec.get("name", "") if lsec is not None else "", is_server=True,
                       connected=True)
            vals["tuple"] = sec["name"]
        self.state.set_fd(t, sec)
        return vals, sec, t

    def _sendrecv(self, name: str, t: Thread, rec: bytes, hdr: tuple[Any, ...], res: int) -> Any:
        vals = _values(rec, hdr, _DECODERS[name])
        sec = self.state.fd(t, vals["fd"])
        addr = net.parse_sockaddr(vals.get("_addr", b""))
        if sec is not None and res >= 0 and addr is not None and addr.family in (net.AF_INET, net.AF_INET6):
            new = dict(sec, connected=True)
            new.pop("name_changed", None)
            if sec.get("is_server"):
                new.update(cip=addr.ip, cport=addr.port)
            else:
                new.setdefault("cip", "0.0.0.0" if addr.family == net.AF_INET else "::")
                if not new.get("cport"):
                    new["cport"] = self._kernel_port(t, vals["fd"], "cport") if name == "sendto" else 0
                new.update(sip=addr.ip, sport=addr.port, is_server=False)
            new["name"] = net.tuple_text(new["cip"], new["cport"], new["sip"], new["sport"])
            changed = new["name"] != sec.get("name")
            self.state.set_fd(t, new)
            sec = dict(new, name_changed=True) if changed else new
        if sec is not None and "->" in sec.get("name", ""):
            vals["tuple"] = sec["name"]
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
        self.state.on_exit(t)
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
        if len(rec) >= kernel.EXEC_SIZE:
            argv_len, env_len = int.from_bytes(rec[kernel.EXEC_LENS_OFF:kernel.EXEC_LENS_OFF + 4], "little"), \
                int.from_bytes(rec[kernel.EXEC_LENS_OFF + 4:kernel.EXEC_LENS_OFF + 8], "little")
            argv = _split_blob(rec[kernel.EXEC_ARGV_OFF:kernel.EXEC_ARGV_OFF + argv_len])
            env = _split_blob(rec[kernel.EXEC_ENV_OFF:kernel.EXEC_ENV_OFF + env_len])
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
            t = self.state.on_exec(t, comm, argv, env, path, hdr[3], hdr[4], self._memfd_path(t))
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


def _wildcard_local(peer: net.Addr) -> str:
    """Local address of a socket accepted on a wildcard listener: only loopback is certain."""
    if peer.family == net.AF_INET:
        return peer.ip if peer.ip.startswith("127.") else "0.0.0.0"
    return "::1" if peer.ip == "::1" else "::"


def run_for(seconds: float, event_types: set[str] | None = None) -> tuple[int, dict[str, Any]]:
    """Capture for `seconds`; return (events seen, stats).  Handy for measuring throughput."""
    cap = LiveCapture(event_types)
    cap.start()
    timer = threading.Timer(seconds, cap.stop)
    n = 0
    t0 = time.monotonic()
    timer.start()
    for _ev in cap.events():
        n += 1
    cap.stats["elapsed_s"] = time.monotonic() - t0
    return n, cap.stats


__all__ += ["run_for"]
