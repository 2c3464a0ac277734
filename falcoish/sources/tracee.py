"""Tracee input: Tracee's JSON event stream -> falcoish `Event`s (`falcoish run --input tracee`).

Pipeline step 1 (input), the Tracee counterpart of `replay`: `tracee-ebpf --output json |
falcoish run --input tracee -e -` evaluates falcoish rules on Tracee's events, as tracee-rules
does with its signatures.  Why a translation rather than a second event model: every field,
rule and output of falcoish reads the Falco-shaped `Event` (docs/events.md), so one mapping
here makes all of them work on Tracee input.  The mapping is documented in docs/tracee.md.

Principles:

* Tracee event names become Falco event types (`security_file_open` -> `openat`,
  `sched_process_exec` -> `execve`...); Tracee argument names become Falco parameter names,
  with native raw values (flags given as text, e.g. `"O_WRONLY|O_CREAT"`, are parsed back to
  numbers).  Events with no Falco counterpart are skipped (`on_unmapped`).
* Nothing is invented: what a record does not say is absent, and absent fields make rule
  comparisons false, as in Falco.  The only state kept is what the stream itself showed, as
  libsinsp's tables do: a process table (name, executable, arguments, environment and parent
  of each pid, from earlier events of the stream, for `proc.pname`, `proc.env`...) and the
  connected sockets of each process (so a `dup2` of a socket onto stdin carries the socket).
* Three record shapes are recognised per record: Tracee's flat shape (v0.4-v0.12, top-level
  `containerId`...), its nested shape (v0.13+, `container`/`kubernetes` objects) and the
  protobuf-shaped JSON of Tracee main (`workload`/`data`).

Bad records go to `on_bad(record_number, reason)` and are skipped, as in `replay`.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping

import orjson

from ..event import Event, Section
from ..event_table import EVENTS, SYSCALL_NAMES
from ..fields.flags import TABLES
from ..fields.names import SIGNAL_NAMES
from ..fields.render import normalize_path
from .replay import open_stream

__all__ = ["read_tracee_events", "TraceeEvent", "TRACEE_EVENT_TYPES"]

AT_FDCWD = -100
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


class _BadRecord(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------------------------------------
# Values: numbers, flags given as names, socket addresses, byte buffers, string arrays
# ------------------------------------------------------------------------------------------

Names = Mapping[str, int]


def _names(table: str, prefix: str = "") -> dict[str, int]:
    """Name -> value of a falcoish flag table, upper-cased, also under `prefix` + name."""
    out: dict[str, int] = {}
    for name, value in TABLES[table].entries:
        out[name.upper()] = value
        if prefix:
            out[prefix + name.upper()] = value
    return out


# Native x86_64 open(2) flags, under the names Tracee prints.
_OPEN_FLAGS: dict[str, int] = {
    "O_RDONLY": 0, "O_WRONLY": 0o1, "O_RDWR": 0o2, "O_CREAT": 0o100, "O_EXCL": 0o200,
    "O_NOCTTY": 0o400, "O_TRUNC": 0o1000, "O_APPEND": 0o2000, "O_NONBLOCK": 0o4000,
    "O_NDELAY": 0o4000, "O_DSYNC": 0o10000, "FASYNC": 0o20000, "O_ASYNC": 0o20000,
    "O_DIRECT": 0o40000, "O_LARGEFILE": 0o100000, "O_DIRECTORY": 0o200000,
    "O_NOFOLLOW": 0o400000, "O_NOATIME": 0o1000000, "O_CLOEXEC": 0o2000000,
    "O_SYNC": 0o4010000, "O_FSYNC": 0o4010000, "O_PATH": 0o10000000,
    "O_TMPFILE": 0o20200000, "__O_TMPFILE": 0o20000000,
}
_O_DIRECTORY = 0o200000
_FILE_MODE: dict[str, int] = {**_names("chmod_mode"), "S_IFIFO": 0o10000, "S_IFCHR": 0o20000,
                              "S_IFDIR": 0o40000, "S_IFBLK": 0o60000, "S_IFREG": 0o100000,
                              "S_IFLNK": 0o120000, "S_IFSOCK": 0o140000}
_SOCKET_TYPES: dict[str, int] = {"SOCK_STREAM": 1, "SOCK_DGRAM": 2, "SOCK_RAW": 3, "SOCK_RDM": 4,
                                 "SOCK_SEQPACKET": 5, "SOCK_DCCP": 6, "SOCK_PACKET": 10,
                                 "SOCK_NONBLOCK": 0o4000, "SOCK_CLOEXEC": 0o2000000}
_SIGNALS: dict[str, int] = {name: num for num, name in SIGNAL_NAMES.items()}
_PTRACE = _names("ptrace_requests")
_PROT = _names("prot_flags")
_MMAP = _names("mmap_flags")
_MEMFD = _names("memfd_create_flags")
_MOUNT = _names("mount_flags", "MS_")
_RENAME = _names("renameat2_flags")
_UNLINKAT = _names("unlinkat_flags")
_LINKAT = _names("linkat_flags")
_FINIT = _names("finit_module_flags")
_FAMILIES = _names("socket_families")
_BPF = _names("bpf_commands")
_CLONE = _names("clone_flags")

#: `mem_prot_alert` messages (parsed form) -> alert kind; 1 is an mmap, the others mprotect.
_MEM_PROT_ALERTS = {"mmaped region with w+e permissions!": 1,
                    "protection changed to executable!": 2,
                    "protection changed from e to w+e!": 3,
                    "protection changed from w+e to e!": 4, "protection changed from w to e!": 4}

_OCTAL = re.compile(r"0[0-7]+\Z")


def _num(value: Any, names: Names | None = None, octal: bool = False) -> int | None:
    """An integer argument: a JSON number, a numeric string (`"0x1f"`, `"0755"` for modes), or
    names joined by `|` (`"O_WRONLY|O_CREAT"`, any case).  None when it is none of these, or
    names a flag the table does not know (a partial value would be wrong)."""
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if octal and _OCTAL.match(text):
        return int(text, 8)
    try:
        return int(text, 0)
    except ValueError:
        pass
    if names is None:
        return None
    total = 0
    for token in text.split("|"):
        token = token.strip().upper()
        if token in names:
            total |= names[token]
            continue
        try:
            total |= int(token, 0)
        except ValueError:
            return None
    return total


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, dict):               # protobuf shape: {"value": [...]}
        value = value.get("value")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _bytes(value: Any) -> str | None:
    """A base64 byte buffer as falcoish records it: a string of code points 0-255."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        return None


_OLD_SOCKADDR = re.compile(r"'(\w+)'\s*:\s*'([^']*)'")


def _sockaddr(value: Any) -> dict[str, Any] | None:
    """`{"sa_family": "AF_INET", "sin_addr": ..., "sin_port": ...}` (v0.7+: all strings;
    Tracee main: family as a number), or v0.5-v0.6's single-quoted text -> {family, ip, port}
    / {family: unix, path}; None for other families."""
    if isinstance(value, str):
        value = dict(_OLD_SOCKADDR.findall(value))
    if not isinstance(value, dict):
        return None
    family = _num(value.get("sa_family"), _FAMILIES)
    if family == 2:
        ip, port = value.get("sin_addr"), _num(value.get("sin_port"))
        kind = "ipv4"
    elif family == 10:
        ip, port = value.get("sin6_addr"), _num(value.get("sin6_port"))
        kind = "ipv6"
    elif family == 1:
        path = value.get("sun_path")
        return {"family": "unix", "path": path} if isinstance(path, str) else None
    else:
        return None
    if not isinstance(ip, str) or not ip or port is None:
        return None
    return {"family": kind, "ip": ip, "port": port}


def _addr_text(sa: Mapping[str, Any]) -> str:
    """Falco's text of a socket address: `ip:port` (IPv6 without brackets) or a unix path."""
    if sa["family"] == "unix":
        return str(sa["path"])
    return f"{sa['ip']}:{sa['port']}"


def _socket_fd(sa: Mapping[str, Any], num: int | None, l4proto: str | None) -> Section:
    """The fd section of a socket the caller connected (client end): peer known, local end
    not reported by Tracee (so no `fd.name` tuple, no `fd.cip`/`fd.cport`)."""
    fd: Section = {"type": sa["family"]}
    if num is not None:
        fd["num"] = num
    if sa["family"] == "unix":
        fd["name"] = sa["path"]
        return fd
    fd.update(sip=sa["ip"], sport=sa["port"], is_server=False)
    if l4proto is not None:
        fd["l4proto"] = l4proto
    return fd


def _abspath(path: str | None, cwd: str | None = None, dirfd: int | None = None) -> str | None:
    """An absolute path: as given, or relative to the cwd (known, and dirfd AT_FDCWD)."""
    if not path:
        return None
    if path.startswith("/"):
        return normalize_path(path)
    if cwd and (dirfd is None or dirfd == AT_FDCWD):
        return normalize_path(cwd + "/" + path)
    return None


def _file_fd(path: str | None, flags: int | None, num: int | None = None,
             dev: int | None = None, ino: int | None = None) -> Section | None:
    """The fd section of an opened path.  Its type follows libsinsp: a directory when opened
    with O_DIRECTORY, otherwise a file (`memfd:...` is a memfd)."""
    if path is None:
        return None
    fd: Section = {"name": path}
    if path.startswith("memfd:"):
        fd["type"] = "memfd"
    else:
        fd["type"] = "directory" if flags is not None and flags & _O_DIRECTORY else "file"
    if num is not None:
        fd["num"] = num
    if flags is not None:
        fd["flags"] = flags
    if dev is not None:
        fd["dev"] = dev
    if ino is not None:
        fd["ino"] = ino
    return fd


def _put(target: Section, key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def _shorten(text: str, size: int = 15) -> str:
    return text[:size]


# ------------------------------------------------------------------------------------------
# Records: the three Tracee shapes -> one normalised `_Rec`
# ------------------------------------------------------------------------------------------

class _Rec:
    """One Tracee record, independent of its shape.  `pid`/`tid`/`ppid` are host ids,
    `vpid`/`vtid`/`vppid` the ids in the task's pid namespace; None when absent."""

    __slots__ = ("name", "ts", "ret", "args", "syscall", "pid", "vpid", "tid", "vtid", "ppid",
                 "vppid", "uid", "comm", "exepath", "hostname", "container", "ancestors",
                 "identity")

    def __init__(self, name: str, ts: int) -> None:
        self.name = name
        self.ts = ts
        self.ret: int | None = None
        self.args: dict[str, Any] = {}
        self.syscall: str | None = None
        self.pid: int | None = None
        self.vpid: int | None = None
        self.tid: int | None = None
        self.vtid: int | None = None
        self.ppid: int | None = None
        self.vppid: int | None = None
        self.uid: int | None = None
        self.comm: str | None = None
        self.exepath: str | None = None
        self.hostname: str | None = None
        self.container: Section = {}
        self.ancestors: list[Section] | None = None
        self.identity: Any = None

    @property
    def key(self) -> int | None:
        """The process-table key: the host pid, else the namespaced one (oldest records)."""
        return self.pid if self.pid is not None else self.vpid


def _int_key(obj: Mapping[str, Any], key: str) -> int | None:
    v = obj.get(key)
    return v if type(v) is int else _num(v) if isinstance(v, str) else None


def _obj(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    v = obj.get(key)
    return v if isinstance(v, dict) else {}


def _parse_record(obj: Any) -> _Rec:
    if not isinstance(obj, dict):
        raise _BadRecord(f"record is a {type(obj).__name__}, expected a JSON object")
    if "eventName" in obj:
        return _parse_classic(obj)
    if isinstance(obj.get("name"), str) and ("workload" in obj or "data" in obj):
        return _parse_proto(obj)
    raise _BadRecord("not a Tracee event: no 'eventName' (nor 'name' with 'workload'/'data')")


def _classic_ts(value: Any) -> int:
    if type(value) is int:
        return value                          # v0.6+: nanoseconds
    if isinstance(value, float):
        return round(value * 1_000_000)       # v0.4-v0.5: milliseconds, as a float
    raise _BadRecord("'timestamp' must be a number")


def _parse_classic(obj: dict[str, Any]) -> _Rec:
    """The flat (v0.4-v0.12) and nested (v0.13+) shapes: same keys but for the container."""
    name = obj["eventName"]
    if not isinstance(name, str) or not name:
        raise _BadRecord("'eventName' must be a non-empty string")
    if "timestamp" not in obj:
        raise _BadRecord("missing required key 'timestamp'")
    rec = _Rec(name, _classic_ts(obj["timestamp"]))
    rec.pid, rec.vpid = _int_key(obj, "hostProcessId"), _int_key(obj, "processId")
    rec.tid, rec.vtid = _int_key(obj, "hostThreadId"), _int_key(obj, "threadId")
    rec.ppid, rec.vppid = _int_key(obj, "hostParentProcessId"), _int_key(obj, "parentProcessId")
    if rec.tid is None and rec.vtid is None:
        raise _BadRecord("missing thread id: neither 'hostThreadId' nor 'threadId' is an integer")
    rec.uid = _int_key(obj, "userId")
    rec.comm = _str(obj.get("processName"))
    rec.exepath = _str(_obj(obj, "executable").get("path")) or None
    rec.hostname = _str(obj.get("hostName"))
    ret = obj.get("returnValue")
    rec.ret = ret if type(ret) is int else None
    rec.syscall = _str(obj.get("syscall")) or None
    rec.args = _classic_args(obj.get("args"))
    rec.container = _classic_container(obj)
    entity = obj.get("processEntityId")
    if type(entity) is int and entity:
        rec.identity = entity
    elif type(obj.get("threadStartTime")) is int and rec.tid is not None and rec.tid == rec.pid:
        rec.identity = ("start", obj["threadStartTime"])
    return rec


def _classic_args(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise _BadRecord("'args' must be a list of {name, value} objects")
    args: dict[str, Any] = {}
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            args[item["name"]] = item.get("value")
    return args


def _image_parts(image: str, into: Section) -> None:
    """`repo[:tag][@digest]` -> container.image(.repository/.tag/.digest)."""
    into["image"] = image
    ref, _, digest = image.partition("@")
    if digest:
        into.setdefault("image_digest", digest)
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        into["image_repository"], into["image_tag"] = ref[:colon], ref[colon + 1:]
    else:
        into["image_repository"] = ref


def _container_section(cid: str | None, name: str | None, image: str | None,
                       digest: str | None, pod: str | None, namespace: str | None,
                       pod_uid: str | None, said: bool) -> Section:
    """falcoish's container section; `said`: the record states the container (an empty id
    then means the host)."""
    out: Section = {}
    if cid:
        out["id"], out["full_id"] = cid[:12], cid
    elif said:
        return {"id": "host"}
    else:
        return {}
    _put(out, "name", name or None)
    if digest:
        out["image_digest"] = digest
    if image:
        _image_parts(image, out)
    _put(out, "k8s_pod_name", pod or None)
    _put(out, "k8s_ns_name", namespace or None)
    _put(out, "k8s_pod_uid", pod_uid or None)
    return out


def _classic_container(obj: dict[str, Any]) -> Section:
    nested = _obj(obj, "container")
    kube = _obj(obj, "kubernetes")
    said = any(k in obj for k in ("containerId", "ContainerID", "container"))
    cid = _str(nested.get("id")) or _str(obj.get("containerId")) or _str(obj.get("ContainerID"))
    return _container_section(
        cid, _str(nested.get("name")) or _str(obj.get("containerName")),
        _str(nested.get("image")) or _str(obj.get("containerImage")),
        _str(nested.get("imageDigest")),
        _str(kube.get("podName")) or _str(obj.get("podName")),
        _str(kube.get("podNamespace")) or _str(obj.get("podNamespace")),
        _str(kube.get("podUID")) or _str(obj.get("podUID")), said)


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?\d*(Z|[+-]\d\d:\d\d)\Z")


def _proto_ts(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, dict):
        secs, nanos = _num(value.get("seconds")), _num(value.get("nanos", 0))
        if secs is not None and nanos is not None:
            return secs * 1_000_000_000 + nanos
    if isinstance(value, str):
        m = _RFC3339.match(value.strip())
        if m:
            zone = "+00:00" if m[3] == "Z" else m[3]
            secs = int(datetime.fromisoformat(m[1] + zone).timestamp())
            return secs * 1_000_000_000 + int((m[2] or "0").ljust(9, "0"))
    raise _BadRecord("'timestamp' must be an RFC 3339 time, {seconds, nanos} or nanoseconds")


def _proto_value(entry: Mapping[str, Any]) -> Any:
    """The value of one `data` entry: `{"name", "value"}` or `{"name", "<type>": value}`."""
    if "value" in entry:
        return entry["value"]
    for key, value in entry.items():
        if key != "name":
            if isinstance(value, dict) and set(value) == {"value"}:
                return value["value"]
            return value
    return None


def _proto_process(proc: Mapping[str, Any]) -> Section:
    """A `workload.process` (or one of its `ancestors`) -> falcoish thread keys."""
    out: Section = {}
    thread = _obj(proc, "thread")
    _put(out, "pid", _int_key(proc, "host_pid"))
    _put(out, "vpid", _int_key(proc, "pid"))
    _put(out, "comm", _str(thread.get("name")) or None)
    _put(out, "exepath", _str(_obj(proc, "executable").get("path")) or None)
    _put(out, "uid", _int_key(_obj(proc, "real_user"), "id"))
    return out


def _parse_proto(obj: dict[str, Any]) -> _Rec:
    """Tracee main's protobuf-shaped JSON (`v1beta1.Event`)."""
    if "timestamp" not in obj:
        raise _BadRecord("missing required key 'timestamp'")
    rec = _Rec(obj["name"], _proto_ts(obj["timestamp"]))
    workload = _obj(obj, "workload")
    proc = _obj(workload, "process")
    thread = _obj(proc, "thread")
    rec.pid, rec.vpid = _int_key(proc, "host_pid"), _int_key(proc, "pid")
    rec.tid, rec.vtid = _int_key(thread, "host_tid"), _int_key(thread, "tid")
    if rec.tid is None and rec.vtid is None:
        raise _BadRecord("missing thread id: 'workload.process.thread' has no 'host_tid'/'tid'")
    rec.uid = _int_key(_obj(proc, "real_user"), "id")
    rec.comm = _str(thread.get("name")) or None
    rec.exepath = _str(_obj(proc, "executable").get("path")) or None
    rec.syscall = _str(thread.get("syscall")) or None
    unique = _int_key(proc, "unique_id")
    rec.identity = unique or None
    data = obj.get("data")
    if data is not None and not isinstance(data, list):
        raise _BadRecord("'data' must be a list of {name, value} objects")
    for entry in data or ():
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            rec.args[entry["name"]] = _proto_value(entry)
    ret = obj.get("returnValue", rec.args.pop("returnValue", None))
    if ret is not None:
        rec.ret = _num(ret)
    elif rec.name not in SYSCALL_NAMES:
        rec.ret = 0     # as older shapes always report for Tracee's own (non-syscall) events
    ancestors = proc.get("ancestors")
    if isinstance(ancestors, list) and ancestors:
        rec.ancestors = [_proto_process(a) for a in ancestors if isinstance(a, dict)]
        parent = rec.ancestors[0] if rec.ancestors else {}
        rec.ppid, rec.vppid = parent.get("pid"), parent.get("vpid")
    cont, k8s = _obj(workload, "container"), _obj(workload, "k8s")
    image = _obj(cont, "image")
    digests = image.get("repo_digests")
    digest = digests[0] if isinstance(digests, list) and digests and isinstance(digests[0], str) else None
    if digest and "@" in digest:
        digest = digest.split("@", 1)[1]
    rec.container = _container_section(
        _str(cont.get("id")), _str(cont.get("name")), _str(image.get("name")), digest,
        _str(_obj(k8s, "pod").get("name")), _str(_obj(k8s, "namespace").get("name")),
        _str(_obj(k8s, "pod").get("uid")), "container" in workload)
    return rec


# ------------------------------------------------------------------------------------------
# Mapping: Tracee event -> Falco event type, parameters, result and fd
# ------------------------------------------------------------------------------------------

class _Mapped:
    """What one Tracee event becomes.  `program`: for exec events, the new program's thread
    keys (comm, exe, exepath, args, env, cwd), which replace the process's old ones."""

    __slots__ = ("type", "args", "res", "fd", "program")

    def __init__(self, type: str, args: Section, res: int | None, fd: Section | None = None,
                 program: Section | None = None) -> None:
        self.type = type
        self.args = args
        self.res = res
        self.fd = fd
        self.program = program


Handler = Callable[["_Reader", _Rec], "_Mapped | None"]

# Syscall events whose arguments map one to one: Tracee name -> (Falco type, {Tracee arg:
# (Falco parameter, value parser)}).
Parser = Callable[[Any], Any]


def _p(names: Names | None = None, octal: bool = False) -> Parser:
    return lambda v: _num(v, names, octal)


_INT, _MODE = _p(), _p(_FILE_MODE, True)
_SIMPLE: dict[str, tuple[str, dict[str, tuple[str, Parser]]]] = {
    "unlink": ("unlink", {"pathname": ("path", _str)}),
    "unlinkat": ("unlinkat", {"dirfd": ("dirfd", _INT), "pathname": ("name", _str),
                              "flags": ("flags", _p(_UNLINKAT))}),
    "rmdir": ("rmdir", {"pathname": ("path", _str)}),
    "mkdir": ("mkdir", {"pathname": ("path", _str), "mode": ("mode", _MODE)}),
    "mkdirat": ("mkdirat", {"dirfd": ("dirfd", _INT), "pathname": ("path", _str),
                            "mode": ("mode", _MODE)}),
    "chmod": ("chmod", {"pathname": ("filename", _str), "mode": ("mode", _MODE)}),
    "fchmod": ("fchmod", {"fd": ("fd", _INT), "mode": ("mode", _MODE)}),
    "fchmodat": ("fchmodat", {"dirfd": ("dirfd", _INT), "pathname": ("filename", _str),
                              "mode": ("mode", _MODE)}),
    "rename": ("rename", {"oldpath": ("oldpath", _str), "newpath": ("newpath", _str)}),
    "security_inode_rename": ("rename", {"old_path": ("oldpath", _str),
                                         "new_path": ("newpath", _str)}),
    "renameat": ("renameat", {"olddirfd": ("olddirfd", _INT), "oldpath": ("oldpath", _str),
                              "newdirfd": ("newdirfd", _INT), "newpath": ("newpath", _str)}),
    "renameat2": ("renameat2", {"olddirfd": ("olddirfd", _INT), "oldpath": ("oldpath", _str),
                                "newdirfd": ("newdirfd", _INT), "newpath": ("newpath", _str),
                                "flags": ("flags", _p(_RENAME))}),
    "link": ("link", {"oldpath": ("oldpath", _str), "newpath": ("newpath", _str)}),
    "linkat": ("linkat", {"olddirfd": ("olddir", _INT), "oldpath": ("oldpath", _str),
                          "newdirfd": ("newdir", _INT), "newpath": ("newpath", _str),
                          "flags": ("flags", _p(_LINKAT))}),
    "symlink": ("symlink", {"target": ("target", _str), "linkpath": ("linkpath", _str)}),
    "symlinkat": ("symlinkat", {"target": ("target", _str), "newdirfd": ("linkdirfd", _INT),
                                "linkpath": ("linkpath", _str)}),
    "ptrace": ("ptrace", {"request": ("request", _p(_PTRACE)), "pid": ("pid", _INT),
                          "addr": ("addr", _INT), "data": ("data", _INT)}),
    "process_vm_writev": ("process_vm_writev", {}),
    "process_vm_readv": ("process_vm_readv", {}),
    "init_module": ("init_module", {"len": ("length", _INT), "param_values": ("uargs", _str)}),
    "finit_module": ("finit_module", {"fd": ("fd", _INT), "param_values": ("uargs", _str),
                                      "flags": ("flags", _p(_FINIT))}),
    "mount": ("mount", {"source": ("dev", _str), "target": ("dir", _str),
                        "filesystemtype": ("type", _str), "mountflags": ("flags", _p(_MOUNT))}),
    "security_sb_mount": ("mount", {"dev_name": ("dev", _str), "path": ("dir", _str),
                                    "type": ("type", _str), "flags": ("flags", _p(_MOUNT))}),
    "umount2": ("umount2", {"target": ("name", _str)}),
    "memfd_create": ("memfd_create", {"name": ("name", _str),
                                      "flags": ("flags", _p(_MEMFD))}),
    "mprotect": ("mprotect", {"addr": ("addr", _INT), "len": ("length", _INT),
                              "prot": ("prot", _p(_PROT))}),
    "mmap": ("mmap", {"addr": ("addr", _INT), "length": ("length", _INT),
                      "prot": ("prot", _p(_PROT)), "flags": ("flags", _p(_MMAP)),
                      "fd": ("fd", _INT), "off": ("offset", _INT)}),
    "setuid": ("setuid", {"uid": ("uid", _INT)}),
    "kill": ("kill", {"pid": ("pid", _INT), "sig": ("sig", _p(_SIGNALS))}),
    "chdir": ("chdir", {"path": ("path", _str)}),
    "bpf": ("bpf", {"cmd": ("cmd", _p(_BPF))}),
    "unshare": ("unshare", {"flags": ("flags", _p(_CLONE))}),
    "setns": ("setns", {"fd": ("fd", _INT), "nstype": ("nstype", _p(_CLONE))}),
    "socket": ("socket", {"domain": ("domain", _p(_FAMILIES)),
                          "type": ("type", _p(_SOCKET_TYPES)), "protocol": ("proto", _INT)}),
    "listen": ("listen", {"sockfd": ("fd", _INT), "backlog": ("backlog", _INT)}),
}


def _simple_args(rec: _Rec, spec: Mapping[str, tuple[str, Parser]]) -> Section:
    args: Section = {}
    for tracee_name, (falco_name, parse) in spec.items():
        if tracee_name in rec.args:
            _put(args, falco_name, parse(rec.args[tracee_name]))
    return args


def _argv_program(argv: list[str] | None, env: list[str] | None) -> Section:
    prog: Section = {}
    if argv is not None:
        if argv:
            prog["exe"] = argv[0]
        prog["args"] = argv[1:]
    if env is not None:
        prog["env"] = env
    return prog


def _exec_args(prog: Section, filename: str | None) -> Section:
    """execve/execveat parameters (Falco names) from the new program's thread keys."""
    args: Section = {}
    _put(args, "filename", filename)
    _put(args, "exe", prog.get("exe"))
    if "args" in prog:
        args["args"] = "\0".join(prog["args"])
    if "env" in prog:
        args["env"] = "\0".join(prog["env"])
    _put(args, "comm", prog.get("comm"))
    _put(args, "cwd", prog.get("cwd"))
    _put(args, "trusted_exepath", prog.get("exepath"))
    _put(args, "exe_ino", prog.get("exe_ino"))
    return args


def _exec_event(rec: _Rec, argv_key: str, env_key: str) -> tuple[Section, str | None]:
    argv, env = _strings(rec.args.get(argv_key)), _strings(rec.args.get(env_key))
    return _argv_program(argv, env), _str(rec.args.get("pathname")) or None


class _Reader:
    """Turns records into events, keeping the stream's process and socket tables."""

    def __init__(self) -> None:
        self.procs: dict[int, Section] = {}
        self.sockets: dict[int, dict[int, Section]] = {}     # pid -> fd -> socket

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

    # -- tables ----------------------------------------------------------------------------

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


_PROGRAM_KEYS = ("comm", "exe", "exepath", "args", "env", "exe_ino")
_THREAD_KEYS = frozenset(("pid", "vpid", "tid", "vtid", "ppid", "uid", "comm", "exe", "exepath",
                          "args", "env", "cwd", "exe_ino"))
_INHERITED = frozenset(("comm", "exe", "exepath", "args", "env", "cwd", "uid", "exe_ino"))

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


# ------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------

def read_tracee_events(path: str, on_bad: Callable[[int, str], None], *,
                       on_unmapped: Callable[[int, str], None] | None = None) -> Iterator[Event]:
    """The events of a Tracee JSON stream (`path`, `-` = stdin, gzip detected), in order.

    Bad records go to `on_bad(record_number, reason)`; records of Tracee events falcoish has
    no counterpart for are skipped, and reported to `on_unmapped(record_number, event_name)`
    when given.  Record numbers are 1-based line numbers; blank lines are skipped.  The file
    is opened immediately (a missing file raises here)."""
    stream, close = open_stream(path)
    return _events(stream, close, on_bad, on_unmapped)


def _events(lines: Iterable[bytes], close: Callable[[], None], on_bad: Callable[[int, str], None],
            on_unmapped: Callable[[int, str], None] | None) -> Iterator[Event]:
    reader = _Reader()
    handlers = _HANDLERS
    number = 0
    try:
        for number, line in enumerate(lines, 1):
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as err:
                if not line or line.isspace():
                    continue
                on_bad(number, f"not valid JSON: {err.msg} at column {err.colno}")
                continue
            try:
                rec = _parse_record(obj)
                handler = handlers.get(rec.name)
                mapped = handler(reader, rec) if handler is not None else None
            except _BadRecord as err:
                on_bad(number, err.reason)
                continue
            if mapped is None:
                if on_unmapped is not None:
                    on_unmapped(number, rec.name)
                continue
            yield reader.build(rec, mapped, number)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        on_bad(number + 1, f"compressed stream is truncated or corrupt ({err}); replay stopped")
    finally:
        close()
