"""What the probe knows of one record: the `Values` the kernel filter is evaluated on.

This is the Python statement of kfilter.c's string analysis and operand decoding (views are
described in kfields.py).  The property tests evaluate filters on it, the bench uses it to
say which share of a workload passes, and the kernel's own answers are checked against it.
"""

from __future__ import annotations

import posixpath
from typing import Any

from . import spec
from .kernel import HEADER, HEADER_SIZE, RF_UCOPY_SHIFT, STR_SZ
from .kfilter_maps import KF_STR
from .snaplen import SNAPLEN



def is_normal(raw: bytes) -> bool:
    """An absolute path that normalising leaves unchanged (so fd.name equals it)."""
    return raw.startswith(b"/") and b"//" not in raw and posixpath.normpath(raw) == raw


class RecordValues:
    """The kernel's view of a raw record; `comm` is the thread's exec-time name (None when
    the probe does not have it)."""

    def __init__(self, rec: bytes, comm: bytes | None) -> None:
        hdr = HEADER.unpack_from(rec)
        self.hdr = hdr
        self.comm = comm
        self.res: int = hdr[12]
        self.a: tuple[int, ...] = hdr[13:19]
        nstr = hdr[6]
        payloads = payload_slots(spec.TYPE_NAMES.get(hdr[5], ""))
        self.slots: list[tuple[bytes, bool]] = []
        for i in range(3):
            n = hdr[7 + i] if i < nstr else 0
            if (hdr[11] >> (RF_UCOPY_SHIFT + i)) & 1:     # only the caller's copy (kcopy.c)
                self.slots.append((b"", False))
                continue
            if i in payloads:             # raw bytes, no NUL; known when read at all
                self.slots.append((rec[HEADER_SIZE + i * STR_SZ: HEADER_SIZE + i * STR_SZ + n], 0 < n <= STR_SZ))
                continue
            raw = rec[HEADER_SIZE + i * STR_SZ: HEADER_SIZE + i * STR_SZ + max(n - 1, 0)]
            self.slots.append((raw, 0 < n < STR_SZ))

    def string(self, view: str) -> bytes | None:
        if view == "comm":
            return self.comm
        kind = view.rstrip("0123456789")
        raw, whole = self.slots[int(view[len(kind):])]
        if not whole:
            return None
        if kind == "raw" or kind == "pay":
            return raw
        if kind == "abs":
            return raw if raw.startswith(b"/") else None
        if kind == "rawc":
            return raw if b"//" not in raw else None
        if not is_normal(raw):
            return None
        if kind == "path":
            return raw
        cut = raw.rfind(b"/")
        if kind == "dir":
            return raw[:cut] or b"/"
        if kind == "base":
            return raw[cut + 1:]
        raise ValueError(f"unknown view {view}")

    def window(self) -> int:
        return KF_STR

    def integer(self, operand: str) -> int:
        if operand == "res":
            return self.res
        if operand == "fdnum":
            return self.res if self.res >= 0 else -1
        index, _, kind = operand[1:].partition(":")
        return decode(self.a[int(index)], kind)


def payload_slots(type_name: str) -> frozenset[int]:
    """The string slots of a type that hold an I/O payload (raw bytes, see spec.py `buf`)."""
    sc = spec.SYSCALLS.get(type_name)
    if sc is None:
        return frozenset()
    return frozenset(sc.positions[f.name][1] for f in sc.fields if f.kind == "buf")


def decode(value: int, kind: str) -> int:
    """A scalar argument as capture.py decodes it (spec.py field kinds)."""
    if kind in ("fd", "i32"):
        value &= 0xFFFFFFFF
        return value - (1 << 32) if value >= 1 << 31 else value
    if kind == "u32":
        return value & 0xFFFFFFFF
    if kind == "i64":
        return value - (1 << 64) if value >= 1 << 63 else value
    return value


def pack_record(type_name: str, *, tid: int = 1000, pid: int | None = None, res: int = 0,
                a: tuple[int, ...] = (0,) * 6, strings: tuple[bytes | None, ...] = (),
                comm: bytes = b"", uid: int = 0, rflags: int = 0, ts: int = 1) -> bytes:
    """A record as the probe sends it (for tests and the bench).  A string slot given as
    bytes is read whole when shorter than the read limit (a longer one is cut, as the probe
    would); None marks an unreadable slot.  A payload slot holds its bytes as they are, cut
    at the snapshot length."""
    lens, body = [], b""
    payloads = payload_slots(type_name)
    for i, s in enumerate(strings):
        if s is None:
            lens.append(0)
            body += b"\0" * STR_SZ
            continue
        if i in payloads:
            cut = s[:SNAPLEN]
            lens.append(len(cut))
            body += cut.ljust(STR_SZ, b"\0")
            continue
        cut = s[: STR_SZ - 1]
        lens.append(len(cut) + 1)
        body += (cut + b"\0").ljust(STR_SZ, b"\0")
    lens += [0] * (3 - len(lens))
    a6: Any = tuple((v & (1 << 64) - 1) for v in a) + (0,) * (6 - len(a))
    hdr = HEADER.pack(ts, tid, pid if pid is not None else tid, uid, 0, spec.TYPE_NUMBERS[type_name],
                      len(strings), *lens, 0, rflags, res, *a6, 0, 0, comm)
    return hdr + body
