"""Socket addresses as the kernel hands them over, and their Falco text forms."""

from __future__ import annotations

import socket
from typing import NamedTuple

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3
SOCK_TYPE_MASK = 0xF
IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 = 6, 17, 1, 58


class Addr(NamedTuple):
    family: int
    ip: str          # IP text, or the unix path
    port: int


def parse_sockaddr(raw: bytes) -> Addr | None:
    """Decode a struct sockaddr (as copied from user memory); None if unusable."""
    if len(raw) < 2:
        return None
    family = int.from_bytes(raw[:2], "little")
    if family == AF_INET and len(raw) >= 8:
        return Addr(AF_INET, socket.inet_ntop(socket.AF_INET, raw[4:8]), int.from_bytes(raw[2:4], "big"))
    if family == AF_INET6 and len(raw) >= 24:
        ip = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        port = int.from_bytes(raw[2:4], "big")
        if ip.startswith("::ffff:") and "." in ip:
            return Addr(AF_INET, ip[7:], port)
        return Addr(AF_INET6, ip, port)
    if family == AF_UNIX:
        path = raw[2:]
        if path[:1] == b"\0":
            path = path[1:]       # abstract name: shown without the leading NUL
        return Addr(AF_UNIX, path.split(b"\0", 1)[0].decode("utf-8", "replace"), 0)
    return Addr(family, "", 0)


def addr_text(addr: Addr) -> str:
    """SOCKADDR text: `1.2.3.4:80`, `::1:80`, a unix path, `family N` otherwise."""
    if addr.family in (AF_INET, AF_INET6):
        return f"{addr.ip}:{addr.port}"
    if addr.family == AF_UNIX:
        return addr.ip
    return f"family {addr.family}"


def tuple_text(cip: str, cport: int, sip: str, sport: int) -> str:
    return f"{cip}:{cport}->{sip}:{sport}"


def ip4_from_u32(value: int) -> str:
    """An IPv4 address stored little-endian in a u64 slot (network byte order in memory)."""
    return socket.inet_ntop(socket.AF_INET, (value & 0xFFFFFFFF).to_bytes(4, "little"))


def ip6_from_bytes(raw: bytes) -> str:
    ip = socket.inet_ntop(socket.AF_INET6, raw[:16])
    if ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    return ip


def family_type(family: int) -> str:
    return {AF_INET: "ipv4", AF_INET6: "ipv6", AF_UNIX: "unix", AF_NETLINK: "netlink"}.get(family, "unknown")


def l4proto(sock_type: int, proto: int) -> str | None:
    if proto == IPPROTO_TCP:
        return "tcp"
    if proto == IPPROTO_UDP:
        return "udp"
    if proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        return "icmp"
    base = sock_type & SOCK_TYPE_MASK
    if base == SOCK_STREAM:
        return "tcp"
    if base == SOCK_DGRAM:
        return "udp"
    if base == SOCK_RAW:
        return "raw"
    return None


def sock_local(packed: int) -> tuple[str | None, int]:
    """The probe's packed local end of a socket (family << 48 | port << 32 | IPv4 address in
    network order): (IP text or None when not carried, port).  IPv6 carries its port only."""
    family, port = packed >> 48, (packed >> 32) & 0xFFFF
    if family == AF_INET:
        return ip4_from_u32(packed), port
    return None, port if family == AF_INET6 else 0
