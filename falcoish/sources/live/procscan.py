"""Read processes, threads and descriptors from /proc (start-up scan and on-demand lookups).

What is read per process/thread follows libscap's scan: cmdline (exe + args), exe link
(exepath, inode, times), comm, environ, cwd, status (Tgid, PPid, effective Uid/Gid, caps,
NSpid/NStgid/NSpgid), stat (pgrp, session, tty_nr, start time), loginuid, cgroup.  Sockets
are resolved through the inode tables of /proc/PID/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}
of the process' network namespace; IPv4 tuples are put in client->server order using the
ports seen listening, as Falco does after its scan.
"""

from __future__ import annotations

import os
import socket
import stat as stat_mod
from dataclasses import dataclass, field
from typing import Any, Iterator

from . import containers

Section = dict[str, Any]
CLK_TCK = os.sysconf("SC_CLK_TCK")
UNSET = 0xFFFFFFFF
O_CLOEXEC = 0o2000000


def boot_time_ns() -> int:
    """Boot time, epoch ns (btime of /proc/stat, refined with CLOCK_BOOTTIME)."""
    import time
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


BOOT_NS = boot_time_ns()


@dataclass
class ProcData:
    """What /proc says about one thread (process fields come from its thread group)."""
    tid: int
    pid: int
    ppid: int = 0
    comm: str = ""
    exe: str = ""
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    exepath: str = ""
    cwd: str = "/"
    uid: int = UNSET
    gid: int = UNSET
    loginuid: int = UNSET
    caps: tuple[int, int, int] = (0, 0, 0)    # inheritable, permitted, effective
    vtid: int = 0
    vpid: int = 0
    pgid: int = 0
    vpgid: int = 0
    sid: int = 0
    tty: int = 0
    start_ts: int = 0
    exe_ino: int = 0
    exe_ctime: int = 0
    exe_mtime: int = 0
    exe_mode: int = 0
    exe_uid: int = -1
    exe_gid: int = -1
    container: tuple[str, str, str] | None = None
    container_read: bool = True     # False: the process was gone before its cgroup was read
    pidns: int = 0
    kernel_thread: bool = False


def _alive(pbase: str) -> bool:
    """The process still has its memory (not exiting, not a zombie)."""
    try:
        os.readlink(f"{pbase}/exe")
        return True
    except OSError:
        return False


def _read(path: str, binary: bool = False) -> Any:
    with open(path, "rb" if binary else "r", errors=None if binary else "replace") as fh:
        return fh.read()


def _split_nul(data: bytes) -> list[str]:
    if not data:
        return []
    if data.endswith(b"\0"):
        data = data[:-1]
    return [p.decode("utf-8", "replace") for p in data.split(b"\0")]


def normalize_memfd(link: str) -> str:
    """`/memfd:NAME (deleted)` -> `memfd:NAME` (the probe's spelling in Falco)."""
    if link.startswith("/memfd:"):
        link = link[1:]
        if link.endswith(" (deleted)"):
            link = link[: -len(" (deleted)")]
    return link


def read_thread(pid: int, tid: int | None = None, process: bool = True) -> ProcData | None:
    """Everything /proc knows about thread `tid` of process `pid`; None if it is gone.
    With process=False only the per-thread files (status, stat, comm) are read."""
    tid = pid if tid is None else tid
    base = f"/proc/{pid}/task/{tid}" if tid != pid else f"/proc/{pid}"
    data = ProcData(tid=tid, pid=pid)
    try:
        status = _read(f"{base}/status")
        statline = _read(f"{base}/stat")
        data.comm = _read(f"{base}/comm").rstrip("\n")
    except OSError:
        return None
    _parse_status(data, status)
    _parse_stat(data, statline)
    if not process:
        return data
    pbase = f"/proc/{data.pid}"
    try:
        cmd = _split_nul(_read(f"{pbase}/cmdline", binary=True))
    except OSError:
        cmd = []
    if cmd:
        data.exe, data.args = cmd[0], cmd[1:]
    read_exe(data, pbase)
    if not cmd and not data.exepath:
        data.kernel_thread = True
    try:
        data.env = _split_nul(_read(f"{pbase}/environ", binary=True))
    except OSError:
        pass
    try:
        data.cwd = os.readlink(f"{pbase}/cwd")
    except OSError:
        data.cwd = "/"
    if not data.cwd.endswith("/"):
        data.cwd += "/"
    try:
        data.loginuid = int(_read(f"{pbase}/loginuid").strip() or UNSET)
    except (OSError, ValueError):
        data.loginuid = UNSET
    found = containers.read_container(data.pid)
    if found is None and not _alive(pbase):
        # An exiting process leaves its cgroups (cgroup_exit) after its memory, and with it
        # /proc/N/exe, is gone: "no container" read then may only mean "already exiting".
        found = False
    data.container_read = found is not False
    data.container = None if found is False else found  # type: ignore[assignment]
    try:
        data.pidns = os.stat(f"{pbase}/ns/pid").st_ino
    except OSError:
        pass
    return data


def read_exe(data: ProcData, pbase: str) -> None:
    """exepath + inode data of /proc/PID/exe."""
    try:
        link = os.readlink(f"{pbase}/exe")
    except OSError:
        return
    data.exepath = normalize_memfd(link) if link.startswith("/memfd:") else link
    try:
        st = os.stat(f"{pbase}/exe")
    except OSError:
        return
    data.exe_ino, data.exe_ctime, data.exe_mtime = st.st_ino, st.st_ctime_ns, st.st_mtime_ns
    data.exe_mode, data.exe_uid, data.exe_gid = st.st_mode, st.st_uid, st.st_gid


def _parse_status(data: ProcData, text: str) -> None:
    caps = [0, 0, 0]
    for line in text.splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "Tgid":
            data.pid = int(value)
        elif key == "PPid":
            data.ppid = int(value)
        elif key == "Uid":
            data.uid = int(value.split()[1])
        elif key == "Gid":
            data.gid = int(value.split()[1])
        elif key == "CapInh":
            caps[0] = int(value, 16)
        elif key == "CapPrm":
            caps[1] = int(value, 16)
        elif key == "CapEff":
            caps[2] = int(value, 16)
        elif key == "NSpid":
            data.vtid = int(value.split()[-1])
        elif key == "NStgid":
            data.vpid = int(value.split()[-1])
        elif key == "NSpgid":
            data.vpgid = int(value.split()[-1])
    data.caps = (caps[0], caps[1], caps[2])


def _parse_stat(data: ProcData, text: str) -> None:
    rest = text[text.rfind(")") + 2:].split()
    # rest[0] = state (field 3); pgrp = field 5, session = 6, tty_nr = 7, starttime = 22
    data.pgid = int(rest[2])
    data.sid = int(rest[3])
    data.tty = int(rest[4])
    data.start_ts = BOOT_NS + int(rest[19]) * 1_000_000_000 // CLK_TCK
    if not data.vpgid:
        data.vpgid = data.pgid


def list_pids() -> list[int]:
    return sorted(int(n) for n in os.listdir("/proc") if n.isdigit())


def list_tids(pid: int) -> list[int]:
    try:
        return sorted(int(n) for n in os.listdir(f"/proc/{pid}/task") if n.isdigit())
    except OSError:
        return []


# --------------------------------------------------------------------------- descriptors

ANON_TYPES = {
    "[eventfd]": "event", "[eventpoll]": "eventpoll", "inotify": "inotify", "[signalfd]": "signalfd",
    "[timerfd]": "timerfd", "[io_uring]": "io_uring", "[userfaultfd]": "userfaultfd",
    "[pidfd]": "pidfd", "bpf-map": "bpf", "bpf-prog": "bpf", "bpf-link": "bpf",
}


class SocketTables:
    """inode -> (type, l4proto, local, remote) per network namespace, read on demand."""

    def __init__(self) -> None:
        self._by_netns: dict[int, dict[int, tuple[str, str, tuple[str, int], tuple[str, int]] | tuple[str, str]]] = {}
        self.listening: dict[int, set[int]] = {}

    def lookup(self, pid: int, inode: int) -> tuple[Any, set[int]]:
        """(socket info or None, ports listening in that network namespace)."""
        try:
            netns = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            return None, set()
        table = self._by_netns.get(netns)
        if table is None or inode not in table:
            table = self._load(pid, netns)
        return table.get(inode), self.listening.get(netns, set())

    def _load(self, pid: int, netns: int) -> dict[int, Any]:
        table: dict[int, Any] = {}
        listening = self.listening.setdefault(netns, set())
        for name, family, proto in (("tcp", socket.AF_INET, "tcp"), ("tcp6", socket.AF_INET6, "tcp"),
                                    ("udp", socket.AF_INET, "udp"), ("udp6", socket.AF_INET6, "udp"),
                                    ("raw", socket.AF_INET, "raw"), ("raw6", socket.AF_INET6, "raw")):
            try:
                lines = _read(f"/proc/{pid}/net/{name}").splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                parts = line.split()
                if len(parts) < 10:
                    continue
                local, remote, st, inode = parts[1], parts[2], parts[3], int(parts[9])
                lip, lport = _hexaddr(local, family)
                rip, rport = _hexaddr(remote, family)
                if proto == "tcp" and st == "0A":
                    listening.add(lport)
                kind = "ipv4" if family == socket.AF_INET else "ipv6"
                table[inode] = (kind, proto, (lip, lport), (rip, rport))
        try:
            lines = _read(f"/proc/{pid}/net/unix").splitlines()[1:]
        except OSError:
            lines = []
        for line in lines:
            parts = line.split()
            if len(parts) >= 7:
                path = parts[7] if len(parts) > 7 else ""
                table[int(parts[6])] = ("unix", path)
        if len(self._by_netns) > 64:
            self._by_netns.clear()
        self._by_netns[netns] = table
        return table


def _hexaddr(text: str, family: int) -> tuple[str, int]:
    addr, _, port = text.partition(":")
    raw = bytes.fromhex(addr)
    if family == socket.AF_INET:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:
        # four little-endian 32-bit words
        words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
        ip = socket.inet_ntop(socket.AF_INET6, words)
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[7:]
    return ip, int(port, 16)


def socket_section(num: int, info: Any, flags: int, listening: set[int]) -> Section:
    """fd section for a socket found in the /proc/net tables."""
    if info is None:
        return {"num": num, "type": "unknown", "name": "", "flags": flags}
    if info[0] == "unix":
        return {"num": num, "type": "unix", "name": info[1], "flags": flags}
    kind, proto, (lip, lport), (rip, rport) = info
    if ":" not in lip and kind == "ipv6":
        kind = "ipv4"
    sec: Section = {"num": num, "type": kind, "l4proto": proto, "flags": flags}
    if rport == 0 and rip in ("0.0.0.0", "::"):
        sec.update(name=f"{lip}:{lport}", sip=lip, sport=lport, is_server=True, connected=False)
        return sec
    server = kind == "ipv4" and lport in listening
    if server:
        cip, cport, sip, sport = rip, rport, lip, lport
    else:
        cip, cport, sip, sport = lip, lport, rip, rport
    sec.update(name=f"{cip}:{cport}->{sip}:{sport}", cip=cip, cport=cport, sip=sip, sport=sport,
               is_server=server, connected=proto == "tcp")
    return sec


def _fd_flags(pid: int, num: int) -> int:
    try:
        for line in _read(f"/proc/{pid}/fdinfo/{num}").splitlines():
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0


def read_fd(pid: int, num: int, sockets: SocketTables | None = None) -> Section | None:
    """fd section for descriptor `num` of `pid` from /proc; None if it is not open."""
    path = f"/proc/{pid}/fd/{num}"
    try:
        link = os.readlink(path)
    except OSError:
        return None
    flags = _fd_flags(pid, num)
    if link.startswith("socket:["):
        tables = sockets or SocketTables()
        inode = int(link[8:-1])
        info, listening = tables.lookup(pid, inode)
        return socket_section(num, info, flags, listening)
    if link.startswith("pipe:["):
        return {"num": num, "type": "pipe", "name": link, "flags": flags}
    if link.startswith("anon_inode:"):
        kind = ANON_TYPES.get(link[len("anon_inode:"):], "unknown")
        return {"num": num, "type": kind, "name": "", "flags": flags}
    if link.startswith("/memfd:"):
        return {"num": num, "type": "memfd", "name": link, "flags": flags}
    try:
        st = os.stat(path)
    except OSError:
        return {"num": num, "type": "file", "name": link, "flags": flags}
    if stat_mod.S_ISDIR(st.st_mode):
        kind = "directory"
    elif stat_mod.S_ISFIFO(st.st_mode):
        kind = "pipe"
    else:
        kind = "file"
    return {"num": num, "type": kind, "name": link, "flags": flags, "dev": st.st_dev, "ino": st.st_ino}


def read_fds(pid: int, sockets: SocketTables) -> dict[int, Section]:
    out: dict[int, Section] = {}
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            sec = read_fd(pid, int(name), sockets)
            if sec is not None:
                out[int(name)] = sec
    return out


def scan() -> Iterator[tuple[ProcData, dict[int, Section] | None]]:
    """Every thread on the machine; the descriptors come with each process' main thread."""
    sockets = SocketTables()
    for pid in list_pids():
        main = read_thread(pid)
        if main is None:
            continue
        fds = None if main.kernel_thread else read_fds(pid, sockets)
        yield main, fds
        for tid in list_tids(pid):
            if tid == pid:
                continue
            data = read_thread(pid, tid, process=False)
            if data is not None:
                yield data, None


