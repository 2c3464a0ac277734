"""Constant text -> typed value: the typing step of condition compilation.

Why: Falco converts every right-hand constant (and every list element) to the type of the
left-hand field once, when the rule is compiled, and rejects what does not convert.  So
`fd.num < 0` compares numbers, `evt.is_io = TRUE` is a load error, and `fd.num > 0x10` fails
to compile.  The operators module calls `parse_constant` once per constant and closes over
the result, so nothing here runs per event.

The numeric rules reproduce libsinsp's `sscanf("%d%c")` parsing (glibc): leading blanks and
a sign are accepted, anything after the digits is an error, 64-bit conversions saturate like
`strtol`/`strtoul`, narrower fields keep the low bits, and unsigned fields wrap `-1`.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any

from ..events.fieldtypes import FType, Kind

__all__ = ["parse_constant", "parse_int", "parse_ip", "parse_ipnet"]

# What C's isspace() accepts in the C locale: sscanf skips these before a number.
_C_BLANKS = " \t\n\v\f\r"
_DECIMAL = re.compile(r"([+-]?)([0-9]+)", re.ASCII)

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_U64_MAX = (1 << 64) - 1


def _scan(text: str, unsigned: bool) -> int:
    """The value glibc's sscanf stores into a 64-bit `long` (`%ld`) or `unsigned long` (`%lu`)."""
    match = _DECIMAL.fullmatch(text.lstrip(_C_BLANKS))
    if match is None:
        raise ValueError(f"{text} is not a valid number")
    negative = match.group(1) == "-"
    magnitude = int(match.group(2))
    if unsigned:  # strtoul: saturate on overflow, otherwise negate modulo 2**64
        if magnitude > _U64_MAX:
            return _U64_MAX
        return (-magnitude) & _U64_MAX if negative else magnitude
    value = -magnitude if negative else magnitude  # strtol: saturate
    return max(_I64_MIN, min(_I64_MAX, value))


def _wrap(value: int, bits: int, signed: bool) -> int:
    """Keep the low `bits` bits, read back as signed or unsigned (a C integer conversion)."""
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def parse_int(text: str, bits: int = 64, signed: bool = True) -> int:
    """Parse an integer constant the way libsinsp's number parser does for that width.

    64-bit fields go through `%ld`/`%lu` (saturating); 8/16/32-bit fields through
    `%d`/`%u` into a 32-bit variable (glibc converts with strtol, then truncates), then
    are narrowed to the field width.
    """
    scanned = _scan(text, unsigned=not signed)
    if bits >= 64:
        return scanned
    as32 = _wrap(scanned, 32, signed)
    return _wrap(as32, bits, signed) if bits < 32 else as32


def _parse_port(text: str) -> int:
    if text == "":
        return 0
    if text.isascii() and text.isdigit():
        value = int(text)
        if value > 0x7FFFFFFF:  # std::stoi throws out_of_range
            raise ValueError(f"{text} is not a valid number")
        return value & 0xFFFF
    try:
        return socket.getservbyname(text)
    except (OSError, UnicodeError):
        raise ValueError(f"unrecognized protocol {text}") from None


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP address constant: IPv4 when the text contains a dot, otherwise IPv6 (as libsinsp)."""
    if "." in text:
        try:
            return ipaddress.IPv4Address(text)
        except ValueError:
            raise ValueError(f"unrecognized IPv4 address {text}") from None
    if "%" in text:  # inet_pton has no scope ids
        raise ValueError(f"unrecognized IPv6 address {text}")
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        raise ValueError(f"unrecognized IPv6 address {text}") from None


def parse_ipnet(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IP network constant `addr/len`; host bits are allowed (they are masked off)."""
    if "/" not in text:
        raise ValueError(f"unrecognized IP network {text}")
    addr_text, _, mask_text = text.partition("/")
    if "." in text:
        try:
            addr4 = ipaddress.IPv4Address(addr_text)
        except ValueError:
            raise ValueError(f"unrecognized IP address {text}") from None
        prefix = parse_int(mask_text, 8, signed=False)  # libsinsp reads the length as a u8
        if prefix > 32:
            raise ValueError(f"invalid netmask {mask_text}")
        return ipaddress.IPv4Network((addr4, prefix), strict=False)
    try:
        if "%" in addr_text:
            raise ValueError(addr_text)
        addr6 = ipaddress.IPv6Address(addr_text)
        prefix = parse_int(mask_text, 32, signed=False)
    except ValueError:
        raise ValueError(f"unrecognized IP network {text}") from None
    if prefix > 128:
        raise ValueError(f"invalid netmask {mask_text}")
    return ipaddress.IPv6Network((addr6, prefix), strict=False)


def to_bytes(text: str) -> bytes:
    """The bytes a rules-file string stands for: its UTF-8 encoding.

    Lone surrogates U+DC80..U+DCFF (how a parser can carry a raw `\\xHH` byte >= 0x80 in a
    str) become that raw byte, so escapes and literal non-ASCII text both come out as Falco
    sees them.
    """
    return text.encode("utf-8", "surrogateescape")


def parse_constant(ftype: FType, text: str) -> Any:
    """Convert one constant's text to the Python value of `ftype`; ValueError if it does not fit.

    STRING -> str (verbatim), BYTES -> bytes, INT/ABSTIME/RELTIME/PORT -> int, BOOL -> bool,
    IP -> IPv4Address/IPv6Address, IPNET -> IPv4Network/IPv6Network, DOUBLE -> float (integer
    literals only, as in Falco).
    """
    kind = ftype.kind
    if kind is Kind.STRING:
        return text
    if kind is Kind.INT or kind is Kind.ABSTIME or kind is Kind.RELTIME:
        return parse_int(text, ftype.bits, ftype.signed)
    if kind is Kind.BOOL:
        if text == "true":
            return True
        if text == "false":
            return False
        raise ValueError(f"unrecognized boolean value {text}")
    if kind is Kind.PORT:
        return _parse_port(text)
    if kind is Kind.BYTES:
        return to_bytes(text)
    if kind is Kind.IP:
        return parse_ip(text)
    if kind is Kind.IPNET:
        return parse_ipnet(text)
    if kind is Kind.DOUBLE:
        return float(parse_int(text, 64, True))
    raise ValueError(f"cannot convert a constant to type {ftype}")
