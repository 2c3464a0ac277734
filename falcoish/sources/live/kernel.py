"""Load the BPF probe, attach the wanted tracepoints, and hand out raw records.

`KernelProbe(attach)` compiles probe.c plus one generated enter/exit handler pair per plain
syscall in `attach` (see spec.py), so the kernel only runs programs for wanted syscalls.
`poll(timeout_ms)` returns the raw records (bytes) the ring buffer delivered; `lost()` is the
number of records the kernel could not queue because the ring buffer was full.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path
from typing import Any, Iterable

from . import spec
from .setup import import_bcc

PROBE_C = Path(__file__).with_name("probe.c")
TRACEFS = Path("/sys/kernel/tracing/events")

STR_SZ = 512
NSTR = 3
HEADER_SIZE = 152
ARGV_SZ, ARG_SZ = 4096, 1024
EXEC_LENS_OFF = HEADER_SIZE + NSTR * STR_SZ            # argv_len, env_len (u32 each)
EXEC_ARGV_OFF = EXEC_LENS_OFF + 8
EXEC_ENV_OFF = EXEC_ARGV_OFF + ARGV_SZ + ARG_SZ
EXEC_SIZE = EXEC_ENV_OFF + ARGV_SZ + ARG_SZ
# ts tid pid uid gid type nstr slen[3] flags pad res a[6] xptr xlenptr sptr[3] comm
HEADER = struct.Struct("<QIIIIHH3HHIq6QQQ24x16s")
assert HEADER.size == HEADER_SIZE


def tracepoint_exists(category: str, name: str) -> bool:
    return (TRACEFS / category / name).is_dir()


def _gen_handler(sc: spec.Syscall) -> str:
    lines = [f"TRACEPOINT_PROBE(syscalls, sys_enter_{sc.tracepoint}) {{",
             f"    struct evt *e = stash_begin({sc.const});",
             "    if (!e)", "        return 0;"]
    for f in sc.fields:
        where, idx = sc.positions[f.name]
        if f.kind in spec.SCALAR_KINDS:
            lines.append(f"    e->a[{idx}] = (u64)args->{f.tp};")
        elif f.kind == "str":
            lines.append(f"    STR(e, {idx}, args->{f.tp});")
        elif f.kind == "sockaddr":
            lines.append(f"    BYTES(e, {idx}, args->{f.tp}, args->{f.length});")
        elif f.kind == "xsockaddr":
            lines.append(f"    EXIT_READ(e, args->{f.tp}, args->{f.length}, XF_LENPTR);")
        elif f.kind == "xfds":
            lines.append(f"    EXIT_READ(e, args->{f.tp}, 8, XF_FIXED);")
    lines += ["    stash_commit(e);", "    return 0;", "}",
              f"TRACEPOINT_PROBE(syscalls, sys_exit_{sc.tracepoint}) "
              f"{{ return exit_common(args->ret, {sc.const}, 0); }}", ""]
    return "\n".join(lines)


def build_source(attach: Iterable[str], ringbuf_pages: int = 2048,
                 stash_entries: int = 65536) -> tuple[str, set[str]]:
    """The program text for `attach`, and the syscalls that could not be attached here."""
    defines = [f"#define RINGBUF_PAGES {ringbuf_pages}", f"#define STASH_ENTRIES {stash_entries}",
               f"#define STR_SZ {STR_SZ}", f"#define SELF_PID {os.getpid()}"]
    for name, num in spec.TYPE_NUMBERS.items():
        defines.append(f"#define EV_{name.upper()} {num}")
    handlers: list[str] = []
    missing: set[str] = set()
    for name in sorted(attach):
        sc = spec.SYSCALLS[name]
        if name in spec.ALWAYS:
            continue
        if name in ("init_module", "finit_module"):
            if tracepoint_exists("syscalls", f"sys_enter_{name}"):
                # CONFIG_MODULES kernels: the plain tracepoints exist; same layout as raw.
                handlers.append(_gen_module_handler(sc))
            elif tracepoint_exists("raw_syscalls", "sys_enter"):
                defines.append("#define INIT_MODULE_RAW 1")
                defines.append(f"#define WANT_{name} 1")
            else:
                missing.add(name)
            continue
        if not tracepoint_exists("syscalls", f"sys_enter_{sc.tracepoint}"):
            missing.add(name)
            continue
        if sc.special:
            defines.append(f"#define WANT_{name} 1")
        else:
            handlers.append(_gen_handler(sc))
    text = "\n".join(defines) + "\n" + PROBE_C.read_text() + "\n" + "\n".join(handlers)
    return text, missing


def _gen_module_handler(sc: spec.Syscall) -> str:
    if sc.type == "init_module":
        body = ["    e->a[0] = (u64)args->len;", "    STR(e, 0, args->uargs);"]
    else:
        body = ["    e->a[0] = (u64)args->fd;", "    e->a[1] = (u64)args->flags;",
                "    STR(e, 0, args->uargs);"]
    return "\n".join([f"TRACEPOINT_PROBE(syscalls, sys_enter_{sc.type}) {{",
                      f"    struct evt *e = stash_begin({sc.const});", "    if (!e)",
                      "        return 0;", *body, "    stash_commit(e);", "    return 0;", "}",
                      f"TRACEPOINT_PROBE(syscalls, sys_exit_{sc.type}) "
                      f"{{ return exit_common(args->ret, {sc.const}, 0); }}", ""])


class KernelProbe:
    """The compiled, attached probe and its ring buffer."""

    def __init__(self, attach: Iterable[str], ringbuf_pages: int = 2048) -> None:
        bcc = import_bcc()
        text, self.missing = build_source(attach, ringbuf_pages)
        self.attached = sorted(set(attach) - self.missing)
        self._pending: list[bytes] = []
        self._bpf: Any = bcc.BPF(text=text.encode(), cflags=["-Wno-macro-redefined", "-Wno-unused-function"])
        pending = self._pending
        string_at = ctypes.string_at

        def _on_record(_ctx: Any, data: int, size: int) -> int:
            pending.append(string_at(data, size))
            return 0

        self._callback = _on_record   # keep a reference: bcc wraps it in a ctypes callback
        self._bpf[b"events"].open_ring_buffer(_on_record)
        self._lost_table = self._bpf[b"lost"]

    def poll(self, timeout_ms: int) -> list[bytes]:
        """Wait up to `timeout_ms` for records; return all that are ready."""
        self._bpf.ring_buffer_poll(timeout_ms)
        out = self._pending[:]
        del self._pending[:]
        return out

    def lost(self) -> int:
        total = 0
        for value in self._lost_table.values():
            total += sum(int(v) for v in value)
        return total

    def close(self) -> None:
        bpf, self._bpf = self._bpf, None
        if bpf is not None:
            bpf.cleanup()


def boot_offset_ns() -> int:
    """Add to a CLOCK_BOOTTIME value (bpf_ktime_get_boot_ns) to get epoch nanoseconds."""
    import time
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


