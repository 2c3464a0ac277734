"""Arguments of a raw probe record, decoded as spec.py lays them out.

Shared by the record decoder and its socket handlers: scalar slots a[] are sign-extended or
masked per field kind, string slots are decoded (invalid UTF-8 replaced), byte slots kept.
"""

from __future__ import annotations

from typing import Any

from . import kernel, spec

STR0 = kernel.HEADER_SIZE
STR_SZ = kernel.STR_SZ
Decoder = list[tuple[str, str, int, str]]


def _decoder_of(sc: spec.Syscall) -> Decoder:
    return [(f.name, sc.positions[f.name][0], sc.positions[f.name][1], f.kind) for f in sc.fields]


DECODERS = {name: _decoder_of(sc) for name, sc in spec.SYSCALLS.items()}


def values(rec: bytes, hdr: tuple[Any, ...], decoder: Decoder) -> dict[str, Any]:
    a = hdr[13:19]
    out: dict[str, Any] = {}
    for name, where, idx, kind in decoder:
        if where == "a":
            v = a[idx]
            if kind == "fd" or kind == "i32":
                v &= 0xFFFFFFFF
                if v >= 0x80000000:
                    v -= 0x100000000
            elif kind == "u32":
                v &= 0xFFFFFFFF
            elif kind == "i64" and v >= 1 << 63:
                v -= 1 << 64
            out[name] = v
        elif kind == "buf" and idx >= hdr[6]:
            continue                    # payload not captured (no rule needs it): no `data`
        else:
            n = hdr[7 + idx] if idx < hdr[6] else 0
            raw = rec[STR0 + idx * STR_SZ: STR0 + idx * STR_SZ + n]
            if kind == "str":
                out[name] = raw.rstrip(b"\0").decode("utf-8", "replace")
            else:
                out[name] = raw
    return out


def kernel_path(rec: bytes, hdr: tuple[Any, ...]) -> str | None:
    """The canonical path the probe walked from an open's struct file (spec.KPATH_SLOT), or
    None when it was not sent or the walk did not finish."""
    idx = spec.KPATH_SLOT
    n = hdr[7 + idx] if idx < hdr[6] else 0
    if n < 2:
        return None
    raw = rec[STR0 + idx * STR_SZ: STR0 + idx * STR_SZ + n].rstrip(b"\0")
    return raw.decode("utf-8", "replace") if raw.startswith(b"/") else None


def split_blob(blob: bytes) -> list[str]:
    if not blob:
        return []
    if blob.endswith(b"\0"):
        blob = blob[:-1]
    return [s.decode("utf-8", "replace") for s in blob.split(b"\0")]
