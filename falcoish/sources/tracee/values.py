"""Tracee argument values -> falcoish raw values.

Why a module of its own: Tracee prints the same argument in several forms depending on its
version and options (a number, numeric text, flag names joined by `|` with parse-arguments,
socket addresses as objects or as v0.5's quoted text, base64 buffers), and every handler needs
them read the same way, into the native values falcoish's own events carry.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Mapping

from ...events.event import Section
from ...fields.flags import TABLES
from ...fields.names import SIGNAL_NAMES
from ...fields.render import normalize_path

AT_FDCWD = -100

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
