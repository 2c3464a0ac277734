"""Value -> output text, the way Falco prints field values; plus small shared value helpers.

Pipeline step: alert formatting (step 8) calls `BoundField.render` on every present value of a
`%field`; argument rendering (`evt.arg.*`, `evt.args`) uses the byte and time helpers.  Why one
place: Falco prints every type one way (integers decimal, booleans true/false, times as decimal
nanoseconds, byte buffers with non-printable bytes as `.`, multi-valued fields joined by
spaces), and the output of `%proc.aname` must equal what a comparison sees.
"""

from __future__ import annotations

import ipaddress
import time
from functools import lru_cache
from typing import Any, Callable

from ..events.fieldtypes import FType, Kind

__all__ = ["renderer", "printable", "bytes_value", "parse_ip", "normalize_path", "local_datetime",
           "local_time", "u32"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# bytes.translate table: printable ASCII kept, everything else becomes '.'.
_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))


def printable(data: bytes | str) -> str:
    """A byte buffer as Falco prints it: printable ASCII kept, every other byte `.`."""
    if isinstance(data, str):
        data = data.encode("latin-1", "replace")
    return data.translate(_PRINTABLE).decode("ascii")


def bytes_value(value: Any) -> bytes | None:
    """A recorded byte buffer (JSON string whose code points are bytes) as bytes."""
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return None


@lru_cache(maxsize=8192)
def parse_ip(text: str) -> IPAddress | None:
    """IP text -> address object (IPv4-mapped IPv6 becomes IPv4); None if it is not an IP."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def normalize_path(path: str) -> str:
    """Collapse `//`, `.` and `..` of an absolute path (never above `/`)."""
    parts: list[str] = []
    for comp in path.split("/"):
        if comp == "" or comp == ".":
            continue
        if comp == "..":
            if parts:
                parts.pop()
            continue
        parts.append(comp)
    return "/" + "/".join(parts)


def u32(value: Any) -> int | None:
    """An integer read as an unsigned 32-bit field (so a recorded -1 compares as 4294967295)."""
    return value & 0xFFFFFFFF if type(value) is int else None


def local_time(ns: int) -> str:
    """`HH:MM:SS.nnnnnnnnn` in local time (Falco's evt.time)."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.localtime(secs)) + f".{frac:09d}"


def local_datetime(ns: int, zone: bool = False) -> str:
    """`YYYY-MM-DD HH:MM:SS.nnnnnnnnn` in local time, optionally followed by ` +zzzz`."""
    secs, frac = divmod(ns, 1_000_000_000)
    local = time.localtime(secs)
    text = time.strftime("%Y-%m-%d %H:%M:%S", local) + f".{frac:09d}"
    return text + time.strftime(" %z", local) if zone else text


def _str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _bool(value: Any) -> str:
    return "true" if value else "false"


def _bytes(value: Any) -> str:
    return printable(value) if isinstance(value, (bytes, str)) else str(value)


_SCALAR: dict[Kind, Callable[[Any], str]] = {
    Kind.STRING: _str, Kind.BYTES: _bytes, Kind.BOOL: _bool, Kind.IP: str, Kind.IPNET: str,
    Kind.DOUBLE: lambda v: f"{v:.1f}",     # libsinsp prints doubles with "%.1lf"
}


def renderer(ftype: FType, multi: str | None) -> Callable[[Any], str]:
    """The output renderer of a field type; "any" fields (every ancestor's value) join values
    with spaces."""
    one = _SCALAR.get(ftype.kind, str)
    if multi is None:
        return one
    if multi == "list":     # a list-valued field (fd.types) prints as libsinsp's "(a,b)"
        return lambda values: "(" + ",".join(map(one, values)) + ")"

    def many(values: Any) -> str:
        if isinstance(values, (tuple, list)):
            return " ".join(one(v) for v in values)
        return one(values)
    return many
