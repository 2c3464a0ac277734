"""Event parameters -> text: what `evt.arg.NAME`, `evt.arg[N]` and `evt.args` return.

Pipeline step: field extraction.  Why per parameter kind: Falco renders each parameter from its
type (event_table.PKind): an fd as `<f>/etc/shadow` from the fd table, a dirfd of -100 as
`AT_FDCWD`, flags as `O_RDONLY|O_CLOEXEC`, a relative path resolved against the cwd or the
dirfd's directory, a uid as the user name.  `evt.arg.X` is the resolved text when there is
one, else the raw text; `evt.args` prints `name=raw` or `name=raw(resolved)` for every
parameter.  The renderer of each (event type, parameter) pair is built once, at bind time.
"""

from __future__ import annotations

from typing import Any, Callable

from ..events.event import Event
from ..events.table import Param, PKind
from .flags import render_flags
from .names import SIGNAL_NAMES, errno_name
from .render import local_datetime, normalize_path, printable

__all__ = ["MISSING", "TYPECHARS", "L4_LETTERS", "value_getter", "text_getter", "pair_getter",
           "resolve_path", "fd_tag"]

MISSING: Any = object()
Texts = Callable[[Event, Any], "tuple[str, str]"]

#: fd.type -> fd.typechar (falco-language.md §7).
TYPECHARS: dict[str, str] = {
    "file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u", "pipe": "p",
    "event": "e", "signalfd": "s", "eventpoll": "l", "inotify": "i", "timerfd": "t",
    "netlink": "n", "bpf": "b", "userfaultfd": "u", "io_uring": "r", "memfd": "m", "pidfd": "P",
    "unknown": "o",
}
L4_LETTERS = {"tcp": "t", "udp": "u", "icmp": "i", "raw": "r"}


def fd_tag(fd: dict[str, Any]) -> str:
    """`<f>`, `<4t>`...: the prefix Falco puts before an fd's name in argument text."""
    kind = fd.get("type")
    char = TYPECHARS.get(kind, "o") if isinstance(kind, str) else "o"
    if char in ("4", "6"):
        char += L4_LETTERS.get(fd.get("l4proto") or "", "")
    return f"<{char}>"


def value_getter(p: Param) -> Callable[[Event], Any]:
    """The recorded value of a parameter; the return-value parameter falls back to `res`."""
    name = p.name
    if p.ret:
        def get_ret(ev: Event) -> Any:
            args = ev.args
            return args[name] if name in args else (MISSING if ev.res is None else ev.res)
        return get_ret
    return lambda ev: ev.args.get(name, MISSING)


def _strip_tag(text: Any) -> str:
    if not isinstance(text, str):
        return ""
    return text[text.index(">") + 1:] if text.startswith("<") and ">" in text else text


def _dir_base(ev: Event, dirfd_name: str | None) -> str:
    """The directory a RELPATH is relative to: cwd for AT_FDCWD, else the dirfd's name."""
    cwd = ev.thread.get("cwd")
    cwd = cwd if isinstance(cwd, str) else ""
    if dirfd_name is None:
        return cwd
    dirfd = ev.args.get(dirfd_name)
    if dirfd is None or dirfd == -100:
        return cwd
    fd = ev.fd
    if fd is not None and fd.get("num") == dirfd:
        name = fd.get("name")
        return name if isinstance(name, str) else ""
    return _strip_tag(ev.resolved.get(dirfd_name))


def _join(base: str, path: str) -> str:
    if not base:
        return ""
    return normalize_path(base + "/" + path)


def resolve_path(ev: Event, p: Param) -> str | None:
    """The absolute, normalised path a PATH/RELPATH parameter names; None when unknown."""
    path = ev.args.get(p.name)
    if not isinstance(path, str) or path == "":
        return None
    if path.startswith("/"):
        return normalize_path(path)
    return _join(_dir_base(ev, p.ref if p.kind is PKind.RELPATH else None), path) or None


# -- raw and resolved text per kind -------------------------------------------------------------

def _num(v: Any) -> str:
    return str(v)


def _octal(v: Any) -> str:
    return f"0{v:o}" if type(v) is int and v else str(v)


def _fd(p: Param) -> Texts:
    pname = p.name

    def texts(ev: Event, v: Any) -> tuple[str, str]:
        if type(v) is not int:
            return str(v), ""
        if v == -100:
            return "-100", "AT_FDCWD"
        if v < 0:
            return str(v), errno_name(v) or ""
        fd = ev.fd
        if fd is not None and fd.get("num") == v:
            name = fd.get("name")
            return str(v), fd_tag(fd) + (name if isinstance(name, str) else "")
        res = ev.resolved.get(pname)
        return str(v), res if isinstance(res, str) else ""
    return texts


def _path(p: Param) -> Texts:
    ref = p.ref if p.kind is PKind.RELPATH else None

    def texts(ev: Event, v: Any) -> tuple[str, str]:
        if not isinstance(v, str):
            return str(v), ""
        if v == "" or v.startswith("/"):
            return v, ""
        return v, _join(_dir_base(ev, ref), v)
    return texts


def _errno(v: Any) -> str:
    return (errno_name(v) or "") if type(v) is int and v < 0 else ""


def _pid(p: Param) -> Texts:
    pname = p.name

    def texts(ev: Event, v: Any) -> tuple[str, str]:
        res = ev.resolved.get(pname)
        if isinstance(res, str):
            return str(v), res
        for proc in (ev.thread, *ev.ancestors):
            if proc.get("pid") == v or proc.get("tid") == v:
                comm = proc.get("comm")
                return str(v), comm if isinstance(comm, str) else ""
        return str(v), ""
    return texts


def _ident(p: Param) -> Texts:
    """UID/GID: `<NONE>` for -1, the recorded name, the event's own user/group, root for 0."""
    pname, is_uid = p.name, p.kind is PKind.UID

    def texts(ev: Event, v: Any) -> tuple[str, str]:
        if v == -1 or v == 0xFFFFFFFF:
            return "-1", "<NONE>"
        res = ev.resolved.get(pname)
        if isinstance(res, str):
            return str(v), res
        sec, key = (ev.user, "uid") if is_uid else (ev.group, "gid")
        name = sec.get("name")
        if sec.get(key) == v and isinstance(name, str):
            return str(v), name
        if is_uid and ev.thread.get("loginuid") == v and isinstance(ev.user.get("loginname"), str):
            return str(v), ev.user["loginname"]
        return str(v), "root" if v == 0 else ""
    return texts


def _table(p: Param) -> Texts:
    table = p.ref or ""
    raw = _octal if p.kind is PKind.MODE else _num
    return lambda ev, v: (raw(v), render_flags(table, v) if type(v) is int else "")


def _simple(raw: Callable[[Any], str], resolved: Callable[[Any], str] | None = None) -> Texts:
    if resolved is None:
        return lambda ev, v: (raw(v), "")
    res = resolved
    return lambda ev, v: (raw(v), res(v))


def _text(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


def _bytebuf(v: Any) -> str:
    return printable(v) if isinstance(v, (str, bytes)) else str(v)


def _abstime(v: Any) -> str:
    return local_datetime(v, zone=True) if type(v) is int else str(v)


def _sig(v: Any) -> str:
    return SIGNAL_NAMES.get(v, "") if type(v) is int else ""


def _texts(p: Param) -> Texts:
    kind = p.kind
    if kind is PKind.FD:
        return _fd(p)
    if kind in (PKind.PATH, PKind.RELPATH):
        return _path(p)
    if kind is PKind.PID:
        return _pid(p)
    if kind in (PKind.UID, PKind.GID):
        return _ident(p)
    if kind in (PKind.FLAGS, PKind.ENUM):
        return _table(p)
    if kind is PKind.MODE:
        return _table(Param(p.name, kind, "chmod_mode"))
    return {
        PKind.ERRNO: _simple(_num, _errno), PKind.SIGTYPE: _simple(_num, _sig),
        PKind.OCTAL: _simple(_octal), PKind.HEX: _simple(lambda v: f"{v:x}" if type(v) is int else str(v)),
        PKind.BYTEBUF: _simple(_bytebuf), PKind.ABSTIME: _simple(_abstime),
    }.get(kind, _simple(_text))


def text_getter(p: Param) -> Callable[[Event], str | None]:
    """`evt.arg.NAME` for one event type: resolved text, else raw; `<NA>` for a null value;
    None when the record lacks the parameter."""
    get, texts = value_getter(p), _texts(p)

    def text(ev: Event) -> str | None:
        v = get(ev)
        if v is MISSING:
            return None
        if v is None:
            return "<NA>"
        raw, resolved = texts(ev, v)
        return resolved or raw
    return text


def pair_getter(p: Param) -> Callable[[Event], str | None]:
    """`name=raw` or `name=raw(resolved)` for `evt.args`; None when the parameter is missing."""
    get, texts, prefix = value_getter(p), _texts(p), p.name + "="

    def pair(ev: Event) -> str | None:
        v = get(ev)
        if v is MISSING:
            return None
        if v is None:
            return prefix + "<NA>"
        raw, resolved = texts(ev, v)
        return f"{prefix}{raw}({resolved})" if resolved else prefix + raw
    return pair
