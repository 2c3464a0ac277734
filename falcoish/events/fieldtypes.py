"""Field value types, shared by the field registry, the operators and the compiler.

Why: Falco converts every constant to the left-hand field's type when a rule is compiled
(so `fd.num < 0` compares numbers and `evt.is_io = TRUE` is an error).  One description of
the types keeps the registry, the operators and the compiler in agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    STRING = "string"      # CHARBUF / FSPATH / FSRELPATH: python str
    BYTES = "bytebuf"      # BYTEBUF: python bytes
    INT = "int"            # INT*/UINT*/PID/FD/UID/GID/ERRNO/FLAGS*/MODE: python int
    BOOL = "bool"          # python bool
    IP = "ipaddr"          # python ipaddress.IPv4Address / IPv6Address
    IPNET = "ipnet"        # filter-only; the extracted value is an address, the constant a network
    PORT = "port"          # python int (u16)
    ABSTIME = "abstime"    # python int, ns since epoch
    RELTIME = "reltime"    # python int, ns
    DOUBLE = "double"      # python float


@dataclass(frozen=True)
class FType:
    """A field's type: kind plus integer width/signedness (unsigned fields wrap `-1`)."""

    kind: Kind
    bits: int = 64
    signed: bool = True

    @property
    def is_numeric(self) -> bool:
        return self.kind in (Kind.INT, Kind.PORT, Kind.ABSTIME, Kind.RELTIME, Kind.DOUBLE)

    def __str__(self) -> str:
        if self.kind is Kind.INT:
            return f"{'int' if self.signed else 'uint'}{self.bits}"
        return str(self.kind.value)


STRING = FType(Kind.STRING)
BYTES = FType(Kind.BYTES)
BOOL = FType(Kind.BOOL)
IP = FType(Kind.IP)
IPNET = FType(Kind.IPNET)
PORT = FType(Kind.PORT, 16, False)
ABSTIME = FType(Kind.ABSTIME, 64, False)
RELTIME = FType(Kind.RELTIME, 64, False)
DOUBLE = FType(Kind.DOUBLE)
INT64 = FType(Kind.INT, 64, True)
UINT64 = FType(Kind.INT, 64, False)
INT32 = FType(Kind.INT, 32, True)
UINT32 = FType(Kind.INT, 32, False)
