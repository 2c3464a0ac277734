"""`fd.*` fields: the file descriptor the event is about.

Pipeline step: field binding/extraction.  Why the event table is consulted: libsinsp only has
`fd.*` values for events that create, use or destroy a descriptor, and when the descriptor's
entry is missing (typically a *failed* open) it still answers `fd.num = -1`, `fd.name` = the
path the event carried and a per-event guess of `fd.typechar`.  Rules such as
`open_file_failed` depend on that.  Socket ends are recorded in client->server orientation
(`cip:cport -> sip:sport`) with `is_server` saying which end is local, from which
`fd.lip/rip/lport/rport` follow.
"""

from __future__ import annotations

from typing import Any, Callable

from ..events.event import Event
from ..events.table import EVENTS, EventInfo, PKind
from ..events.fieldtypes import BOOL, INT64, IP, IPNET, PORT, STRING, FType, Kind
from .args import TYPECHARS, resolve_path
from .registry import simple
from .render import parse_ip

Fd = dict[str, Any]
_INT32 = FType(Kind.INT, 32, True)
_SOCKFAMILY = {"ipv4": "ip", "ipv6": "ip", "unix": "unix"}


def _fallback(info: EventInfo) -> Callable[[Event], str | None] | None:
    """fd.name of a creating event whose entry is missing: its (resolved) path argument."""
    if info.path_param is None:
        return None
    param = info.by_name[info.path_param]
    if param.kind not in (PKind.PATH, PKind.RELPATH):
        return None
    return lambda ev: resolve_path(ev, param)


_FD_EVENTS = {n: e for n, e in EVENTS.items() if e.fd_param is not None}
_NAME_FALLBACK = {n: f for n, e in _FD_EVENTS.items() if (f := _fallback(e)) is not None}
_GUESS = {n: e.fd_guess for n, e in _FD_EVENTS.items() if e.fd_guess}


def _num(ev: Event) -> int | None:
    fd = ev.fd
    if fd is not None:
        v = fd.get("num")
        return v if type(v) is int else None
    info = _FD_EVENTS.get(ev.type)
    if info is None:
        return None
    if info.fd_role == "create" and ev.res is not None and ev.res >= 0:
        return ev.res
    return -1


def _name(ev: Event) -> str | None:
    fd = ev.fd
    if fd is not None:
        v = fd.get("name")
        return v if type(v) is str else None
    f = _NAME_FALLBACK.get(ev.type)
    return None if f is None else f(ev)


def _typechar(ev: Event) -> str | None:
    fd = ev.fd
    if fd is not None:
        kind = fd.get("type")
        return TYPECHARS.get(kind, "o") if type(kind) is str else None
    return _GUESS.get(ev.type)


def _type(ev: Event) -> str | None:
    fd = ev.fd
    kind = None if fd is None else fd.get("type")
    return kind if type(kind) is str and kind != "unknown" else None


def _directory(ev: Event) -> str | None:
    """The directory of a file (the name itself for a directory); from the event's path when
    the entry is missing (failed open)."""
    fd = ev.fd
    if fd is not None:
        kind = fd.get("type")
        name = fd.get("name")
        if type(name) is not str or kind not in ("file", "directory"):
            return None
        if kind == "directory":
            return name
    else:
        f = _NAME_FALLBACK.get(ev.type)
        name = None if f is None else f(ev)
        if name is None:
            return None
    cut = name.rfind("/")
    return name[:cut] or "/" if cut >= 0 else name


def _filename(ev: Event) -> str | None:
    fd = ev.fd
    if fd is None or fd.get("type") != "file":
        return None
    name = fd.get("name")
    return name[name.rfind("/") + 1:] if type(name) is str else None


def _nameraw(ev: Event) -> str | None:
    fd = ev.fd
    if fd is not None:
        v = fd.get("nameraw", fd.get("name"))
        return v if type(v) is str else None
    if ev.type not in _NAME_FALLBACK:
        return None
    info = _FD_EVENTS[ev.type]
    raw = ev.args.get(info.path_param or "")
    if type(raw) is not str or raw == "":
        return None
    while "//" in raw:
        raw = raw.replace("//", "/")
    return raw


def _key(key: str, kind: type) -> Callable[[Event], Any]:
    return lambda ev: None if (fd := ev.fd) is None else (v if type(v := fd.get(key)) is kind else None)


def _flag(key: str) -> Callable[[Event], bool | None]:
    return lambda ev: None if (fd := ev.fd) is None else fd.get(key) is True


def _ip(key: str) -> Callable[[Event], Any]:
    return lambda ev: None if (fd := ev.fd) is None or type(v := fd.get(key)) is not str else parse_ip(v)


_cip, _sip = _ip("cip"), _ip("sip")
_cport, _sport = _key("cport", int), _key("sport", int)


def _side(local: bool, server_get: Callable[[Event], Any],
          client_get: Callable[[Event], Any]) -> Callable[[Event], Any]:
    """Local/remote end of a connected socket: the server end is local when `is_server`."""
    def extract(ev: Event) -> Any:
        fd = ev.fd
        if fd is None or fd.get("cip") is None or fd.get("sip") is None:
            return None
        server_is_local = fd.get("is_server") is True
        return server_get(ev) if server_is_local == local else client_get(ev)
    return extract


def _either(a: Callable[[Event], Any], b: Callable[[Event], Any]) -> Callable[[Event], Any]:
    def extract(ev: Event) -> tuple[Any, ...] | None:
        values = tuple(v for v in (a(ev), b(ev)) if v is not None)
        return values or None
    return extract


_lip, _rip = _side(True, _sip, _cip), _side(False, _sip, _cip)
_lport, _rport = _side(True, _sport, _cport), _side(False, _sport, _cport)
_FILTER: dict[str, Any] = {"filter_only": True, "no_rhs": True, "no_transformer": True}

simple("fd.num", INT64, "descriptor number; -1 when an fd-creating call failed", _num)
simple("fd.type", STRING, "file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, "
       "inotify, timerfd, netlink, bpf, userfaultfd, io_uring, memfd, pidfd", _type)
simple("fd.typechar", STRING, "type as one character: f d 4 6 u p e s l i t n b r m P o",
       _typechar)
simple("fd.name", STRING, "full name: file path, socket tuple cip:cport->sip:sport, unix path",
       _name)
simple("fd.nameraw", STRING, "file path as passed to the syscall (not made absolute)", _nameraw)
simple("fd.directory", STRING, "directory of a file descriptor (the name itself for a directory)",
       _directory)
simple("fd.filename", STRING, "last path component of a regular file", _filename)
simple("fd.l4proto", STRING, "IP protocol of a socket: tcp, udp, icmp, raw", _key("l4proto", str))
simple("fd.sockfamily", STRING, "socket family: ip or unix",
       lambda ev: None if (fd := ev.fd) is None or type(k := fd.get("type")) is not str
       else _SOCKFAMILY.get(k))
simple("fd.cip", IP, "client IP address", _cip)
simple("fd.sip", IP, "server IP address", _sip)
simple("fd.lip", IP, "local IP address of a connected socket", _lip)
simple("fd.rip", IP, "remote IP address of a connected socket", _rip)
simple("fd.cport", PORT, "client port", _cport)
simple("fd.sport", PORT, "server port (also of a listening socket)", _sport)
simple("fd.lport", PORT, "local port of a connected socket", _lport)
simple("fd.rport", PORT, "remote port of a connected socket", _rport)
simple("fd.ip", IP, "matches the client or the server IP address", _either(_cip, _sip),
       multi="ends", **_FILTER)
simple("fd.port", PORT, "matches the client or the server port", _either(_cport, _sport),
       multi="ends", **_FILTER)
simple("fd.proto", PORT, "matches the client or the server port (by number or service name)",
       _either(_cport, _sport), multi="ends", **_FILTER)
simple("fd.net", IPNET, "matches the client or the server address against a network",
       _either(_cip, _sip), multi="ends", **_FILTER)
simple("fd.cnet", IPNET, "matches the client address against a network", _cip, **_FILTER)
simple("fd.snet", IPNET, "matches the server address against a network", _sip, **_FILTER)
simple("fd.lnet", IPNET, "matches the local address against a network", _lip, **_FILTER)
simple("fd.rnet", IPNET, "matches the remote address against a network", _rip, **_FILTER)
for _end in ("c", "s", "l", "r"):
    simple(f"fd.{_end}ip.name", STRING, f"domain name of fd.{_end}ip (needs a DNS cache)",
           lambda ev: None, available=False, no_rhs=True, no_transformer=True)
simple("fd.connected", BOOL, "socket is connected", _flag("connected"))
simple("fd.name_changed", BOOL, "this event changed the descriptor's name", _flag("name_changed"))
simple("fd.is_server", BOOL, "the process owning the descriptor is the server end",
       _flag("is_server"))
_dev = _key("dev", int)
simple("fd.dev", _INT32, "device number of the file (kernel encoding)", _dev)
simple("fd.dev.major", _INT32, "major device number of the file",
       lambda ev: None if (d := _dev(ev)) is None else (d & 0xFFF00) >> 8)
simple("fd.dev.minor", _INT32, "minor device number of the file",
       lambda ev: None if (d := _dev(ev)) is None else (d & 0xFF) | ((d >> 12) & 0xFFF00))
simple("fd.ino", INT64, "inode number of the file", _key("ino", int))


def _container_join(view: Callable[[Event], str | None]) -> Callable[[Event], str | None]:
    def extract(ev: Event) -> str | None:
        value = view(ev)
        if value is None:
            return None
        cid = ev.container.get("id")
        return f"{cid if isinstance(cid, str) and cid else 'host'}:{value}"
    return extract


simple("fd.containername", STRING, "container id and fd.name joined by ':'",
       _container_join(_name))
simple("fd.containerdirectory", STRING, "container id and fd.directory joined by ':'",
       _container_join(_directory))
simple("fd.uid", STRING, "unique id of the descriptor: thread id followed by fd number",
       lambda ev: None if (n := _num(ev)) is None or ev.fd is None else f"{ev.tid}{n}")


# -- protocols (libsinsp prints the port number: name resolution is off in Falco) ----------------


def _proto(port: Callable[[Event], Any]) -> Callable[[Event], str | None]:
    return lambda ev: None if (p := port(ev)) is None else str(p)


simple("fd.cproto", STRING, "client port of a TCP/UDP socket, as text", _proto(_cport))
simple("fd.sproto", STRING, "server port of a TCP/UDP socket, as text", _proto(_sport))
simple("fd.lproto", STRING, "local port of a TCP/UDP socket, as text", _proto(_lport))
simple("fd.rproto", STRING, "remote port of a TCP/UDP socket, as text", _proto(_rport))
simple("fd.is_upper_layer", BOOL, "the file is in the upper layer of an overlayfs (fd record "
       "key `upper_layer`)", _flag("upper_layer"))
simple("fd.is_lower_layer", BOOL, "the file is in the lower layer of an overlayfs (fd record "
       "key `lower_layer`)", _flag("lower_layer"))
