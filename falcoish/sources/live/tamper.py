"""A syscall argument the caller's memory misreported: what the probe's RF_TAMPERED says.

Why a notice of its own: the probe replaced the caller's version of the argument with the
kernel's copy (kcopy.c), so rules already judge what the kernel did; but a process whose
memory changed while the kernel read it is racing the detector on purpose (no ordinary
program rewrites a path while the open that uses it runs), and the people reading alerts
must hear of it whether or not a rule cared about the file.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from . import kernel, spec

HEADER_SIZE, STR_SZ = kernel.HEADER_SIZE, kernel.STR_SZ


@dataclass(frozen=True)
class TamperNotice:
    """Process `pid` called `evt_type`; its `param` was `kernel` for the kernel, `claimed` in
    its memory afterwards (None: not kept, the record had no free slot)."""

    ts: int
    pid: int
    tid: int
    comm: str
    evt_type: str
    param: str
    kernel: str
    claimed: str | None


def _slot(rec: bytes, hdr: tuple[Any, ...], i: int) -> bytes:
    n = hdr[7 + i] if i < hdr[6] else 0
    return rec[HEADER_SIZE + i * STR_SZ: HEADER_SIZE + i * STR_SZ + min(n, STR_SZ)]


def _text(raw: bytes, kind: str) -> str:
    """A path as text, or a sockaddr as address:port."""
    if kind in ("sockaddr", "xsockaddr"):
        if len(raw) >= 8 and int.from_bytes(raw[:2], "little") == 2:
            return f"{ipaddress.IPv4Address(raw[4:8])}:{int.from_bytes(raw[2:4], 'big')}"
        if len(raw) >= 24 and int.from_bytes(raw[:2], "little") == 10:
            return f"[{ipaddress.IPv6Address(raw[8:24])}]:{int.from_bytes(raw[2:4], 'big')}"
        return raw.hex()
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def tamper_notice(name: str, rec: bytes, hdr: tuple[Any, ...], ts: int, comm: str) -> TamperNotice | None:
    """The notice for a record the probe marked RF_TAMPERED, else None."""
    rflags = hdr[11]
    if not rflags & kernel.RF_TAMPERED:
        return None
    sc = spec.SYSCALLS.get(name)
    if sc is None:
        return None
    slot = (rflags >> kernel.RF_TAMPER_SHIFT) & 3
    field = next((f for f in sc.fields if sc.positions[f.name] == ("s", slot)), None)
    kind = field.kind if field is not None else "str"
    param = (field.name.lstrip("_") if field is not None else f"arg{slot}")
    claimed = (_text(_slot(rec, hdr, kernel.CLAIM_SLOT), kind)
               if rflags & kernel.RF_CLAIM else None)
    return TamperNotice(ts, hdr[2], hdr[1], comm, name, param, _text(_slot(rec, hdr, slot), kind), claimed)
