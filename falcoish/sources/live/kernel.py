"""Load the BPF probe, attach it, and hand out raw records from its two lanes.

`KernelProbe(attach)` compiles probe.c (with kfilter.c and payload.c inside) plus one exit program per
plain syscall in `attach` (generated from spec.py), with struct offsets read from the
running kernel's BTF.  Plain syscalls are reached from the raw `sys_exit` tracepoint by a
tail call indexed by syscall number, so a syscall nobody wants costs one failed tail call.
`poll(timeout_ms)` returns the raw records of both lanes, oldest first; `counters()` gives
the per-type decisions the probe counted (seen, filtered, sent and dropped per lane).
"""

from __future__ import annotations

import ctypes
import os
import struct
import time
from pathlib import Path
from typing import Any, Iterable

from . import spec
from .btf import KernelBTF
from .ringbuf import RingReader, RingSet
from .setup import import_bcc

PROBE_C = Path(__file__).with_name("probe.c")
KFILTER_C = Path(__file__).with_name("kfilter.c")
PAYLOAD_C = Path(__file__).with_name("payload.c")
NET_C = Path(__file__).with_name("net.c")
KPATH_C = Path(__file__).with_name("kpath.c")
IOURING_C = Path(__file__).with_name("iouring.c")
TRACEFS = Path("/sys/kernel/tracing/events")

STR_SZ = 512
NSTR = 3
HEADER_SIZE = 152
ARGV_SZ, ARG_SZ = 4096, 1024
EVT_SIZE = HEADER_SIZE + NSTR * STR_SZ                 # sizeof(struct evt)
EXEC_LENS_OFF = EVT_SIZE            # argv_len, env_len (u32 each)
EXEC_ARGV_OFF = EXEC_LENS_OFF + 8
# ts tid pid uid gid type nstr slen[3] flags rflags res a[6] xptr xlenptr sptr[3] comm
HEADER = struct.Struct("<QIIIIHH3HHIq6QQQ24x16s")
assert HEADER.size == HEADER_SIZE
RF_TRACKED, RF_MATCHED, RF_LANE1, RF_IO_URING = 1, 2, 4, 8
# kcopy.c: the caller's memory differed from the kernel's copy of an argument (the slot in 2
# bits at RF_TAMPER_SHIFT; RF_CLAIM: slot CLAIM_SLOT holds what the memory said); name slots
# that only the caller's copy filled, one bit each at RF_UCOPY_SHIFT.
RF_TAMPERED, RF_CLAIM, RF_TAMPER_SHIFT, RF_UCOPY_SHIFT, CLAIM_SLOT = 16, 32, 8, 12, 2
KCOPY_C = Path(__file__).with_name("kcopy.c")
# Members kcopy.c reads; a kernel that lacks one keeps the caller's copies (start says so).
KCOPY_OFFSETS = {
    "OFF_TASK_STACK": ("task_struct", "stack"), "OFF_TASK_FLAGS": ("task_struct", "flags"),
    "OFF_KMEM_CACHE_NAME": ("kmem_cache", "name"), "OFF_FILENAME_NAME": ("filename", "name"),
    "OFF_FILENAME_UPTR": ("filename", "uptr"), "OFF_FILENAME_INAME": ("filename", "iname"),
}
KCOPY_HOOK = "kmem_cache_free"
# io_uring requests (iouring.c): members read from io_uring's own structs, which a kernel
# without io_uring (or a future layout) may lack; then io_uring opens go unseen and start says so.
IOURING_OFFSETS = {
    "OFF_IOU_REQ_OPCODE": ("io_kiocb", "opcode"), "OFF_IOU_REQ_TCTX": ("io_kiocb", "tctx"),
    "OFF_IOU_TCTX_TASK": ("io_uring_task", "task"), "OFF_IOU_CQE_RES": ("io_uring_cqe", "res"),
    "OFF_IOU_OPEN_DFD": ("io_open", "dfd"), "OFF_IOU_OPEN_SLOT": ("io_open", "file_slot"),
    "OFF_IOU_OPEN_FLAGS": ("io_open", "how.flags"), "OFF_IOU_OPEN_MODE": ("io_open", "how.mode"),
    "OFF_IOU_OPEN_FILENAME": ("io_open", "filename"), "OFF_FILENAME_NAME": ("filename", "name"),
    "OFF_IOU_TASK_PID": ("task_struct", "pid"), "OFF_IOU_TASK_TGID": ("task_struct", "tgid"),
    "OFF_IOU_TASK_COMM": ("task_struct", "comm"), "OFF_IOU_TASK_FLAGS": ("task_struct", "flags"),
    "OFF_IOU_TASK_LEADER": ("task_struct", "group_leader"), "OFF_IOU_REQ_FD": ("io_kiocb", "cqe.fd"),
    "OFF_IOU_REQ_FLAGS": ("io_kiocb", "flags"),
    "OFF_IOU_REQ_FILE": ("io_kiocb", "file"),
    "OFF_IOU_CQE_FLAGS": ("io_uring_cqe", "flags"), "OFF_IOU_ACCEPT_SLOT": ("io_accept", "file_slot"),
}
# The event types io_uring requests are followed for (when attached), and iouring.c's switch.
IOURING_TYPES = {"openat": "IOU_OPEN", "connect": "IOU_CONNECT", "accept": "IOU_ACCEPT"}
# The raw tracepoints iouring.c attaches to, by program name.
IOURING_HOOKS = {"iou_submit": "io_uring_submit_req", "iou_complete": "io_uring_complete"}
COUNTER_KINDS = ("seen", "filtered", "sent_reserved", "sent_bulk", "dropped_reserved", "dropped_bulk")
LANES = ("reserved", "bulk")

# Struct members the probe reads, located in the running kernel's BTF.
BTF_OFFSETS = {
    "OFF_REGS_DI": ("pt_regs", "di"), "OFF_REGS_SI": ("pt_regs", "si"),
    "OFF_REGS_DX": ("pt_regs", "dx"), "OFF_REGS_R10": ("pt_regs", "r10"),
    "OFF_REGS_R8": ("pt_regs", "r8"), "OFF_REGS_R9": ("pt_regs", "r9"),
    "OFF_REGS_ORIG_AX": ("pt_regs", "orig_ax"),
    "OFF_TASK_FILES": ("task_struct", "files"), "OFF_FILES_FDT": ("files_struct", "fdt"),
    "OFF_FDT_FD": ("fdtable", "fd"), "OFF_FDT_MAX_FDS": ("fdtable", "max_fds"),
    "OFF_FILE_INODE": ("file", "f_inode"), "OFF_FILE_PRIVATE": ("file", "private_data"),
    "OFF_INODE_MODE": ("inode", "i_mode"), "OFF_SOCKET_SK": ("socket", "sk"),
    "OFF_SKC_FAMILY": ("sock_common", "skc_family"), "OFF_SKC_NUM": ("sock_common", "skc_num"),
    "OFF_SKC_RCV_SADDR": ("sock_common", "skc_rcv_saddr"),
    "OFF_SKC_DADDR": ("sock_common", "skc_daddr"), "OFF_SKC_DPORT": ("sock_common", "skc_dport"),
    "OFF_SKC_V6_DADDR": ("sock_common", "skc_v6_daddr"),
    "OFF_SKC_V6_RCV_SADDR": ("sock_common", "skc_v6_rcv_saddr"),
    "OFF_SK_TYPE": ("sock", "sk_type"), "OFF_SK_PROTOCOL": ("sock", "sk_protocol"),
    "OFF_TASK_CRED": ("task_struct", "cred"),
    "OFF_CRED_CAP_INHERITABLE": ("cred", "cap_inheritable"),
    "OFF_CRED_CAP_PERMITTED": ("cred", "cap_permitted"),
    "OFF_CRED_CAP_EFFECTIVE": ("cred", "cap_effective"),
    "OFF_TASK_CGROUPS": ("task_struct", "cgroups"), "OFF_CSS_SET_DFL_CGRP": ("css_set", "dfl_cgrp"),
    "OFF_CSS_SET_SUBSYS": ("css_set", "subsys"), "OFF_CSS_CGROUP": ("cgroup_subsys_state", "cgroup"),
    "OFF_CGROUP_KN": ("cgroup", "kn"), "OFF_KN_NAME": ("kernfs_node", "name"),
    # the open family's canonical path (kpath.c)
    "OFF_FILE_MNT": ("file", "f_path.mnt"), "OFF_FILE_DENTRY": ("file", "f_path.dentry"),
    "OFF_DENTRY_PARENT": ("dentry", "d_parent"), "OFF_DENTRY_NAME": ("dentry", "d_name.name"),
    "OFF_DENTRY_NAME_LEN": ("dentry", "d_name.len"), "OFF_MOUNT_MNT": ("mount", "mnt"),
    "OFF_MOUNT_PARENT": ("mount", "mnt_parent"), "OFF_MOUNT_MOUNTPOINT": ("mount", "mnt_mountpoint"),
    "OFF_VFSMOUNT_ROOT": ("vfsmount", "mnt_root"), "OFF_MOUNT_NS": ("mount", "mnt_ns"),
}
# v1 controllers whose cgroup path an exec record carries, the first mounted one (container
# runtimes create the container's cgroup in every controller they use; pids and memory are
# in every OCI runtime's default set).
CG_V1_PREFERENCE = ("pids", "memory", "cpu", "devices", "freezer")


def cgroup_v1_subsys(proc_cgroups: str = "/proc/cgroups") -> tuple[int, str]:
    """(index in the kernel's subsystem array, name) of the v1 controller exec records carry;
    (-1, "") when none is mounted as v1.  /proc/cgroups lists the compiled-in controllers in
    their index order, with the v1 hierarchy each is mounted on (0: none, or v2 only)."""
    try:
        rows = [line.split() for line in Path(proc_cgroups).read_text().splitlines()
                if line and not line.startswith("#")]
    except OSError:
        return -1, ""
    mounted = {row[0]: i for i, row in enumerate(rows) if len(row) >= 4 and row[1] != "0" and row[3] == "1"}
    for name in CG_V1_PREFERENCE:
        if name in mounted:
            return mounted[name], name
    return -1, ""


def tracepoint_exists(category: str, name: str) -> bool:
    return (TRACEFS / category / name).is_dir()


def arg_indexes(sc: spec.Syscall) -> dict[str, int] | None:
    """Tracepoint field -> syscall argument position, from the kernel's own description of
    `sys_enter_<name>` (fields after __syscall_nr, in argument order); None if unknown."""
    fmt = TRACEFS / "syscalls" / f"sys_enter_{sc.tracepoint}" / "format"
    try:
        text = fmt.read_text()
    except OSError:
        return spec.ARG_INDEX_FALLBACK.get(sc.type)
    names = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("field:") or "common_" in line or "__syscall_nr" in line:
            continue
        decl = line.split(";")[0][len("field:"):].strip()
        names.append(decl.replace("*", " ").split()[-1])
    return {name: i for i, name in enumerate(names)}


def gen_exit_program(sc: spec.Syscall, index: dict[str, int]) -> str:
    """The raw-tracepoint exit program of one plain syscall: arguments from the saved user
    registers, strings and kernel-written buffers from user memory."""
    lines = [f"int sx_{sc.type}(struct bpf_raw_tracepoint_args *ctx) {{",
             f"    PLAIN_EXIT_BEGIN({sc.const})"]
    used = sorted({index[f.tp] for f in sc.fields} | {index[f.length] for f in sc.fields if f.length})
    lines += [f"    u64 arg{n} = sys_arg(regs, {n});" for n in used]
    for f in sc.fields:
        where, idx = sc.positions[f.name]
        arg = f"arg{index[f.tp]}"
        if f.kind == "sklocal":
            lines.append(f"    e->a[{idx}] = sock_local((s64)(s32){arg});")
        elif f.kind in spec.SCALAR_KINDS:
            lines.append(f"    e->a[{idx}] = {arg};")
        elif f.kind == "str":
            lines.append(f"    STR(e, {idx}, {arg});")
        elif f.kind == "sockaddr":
            lines.append(f"    BYTES(e, {idx}, {arg}, arg{index[f.length]});")
        elif f.kind == "xsockaddr" and sc.type in spec.FD_CREATORS:       # accept: from the new socket
            lines.append(f"    if (ret >= 0) sock_peer(e, {idx}, fd_sock(ret));")
            lines.append(f"    else if (e->nstr < {idx + 1}) e->nstr = {idx + 1};")
        elif f.kind == "xsockaddr":
            lines.append(f"    if (ret >= 0) XSOCKADDR(e, {idx}, {arg}, arg{index[f.length]});")
            lines.append(f"    else if (e->nstr < {idx + 1}) e->nstr = {idx + 1};")
        elif f.kind == "xfds":
            lines.append(f"    if (ret >= 0) BYTES(e, {idx}, {arg}, 8);")
            lines.append(f"    else if (e->nstr < {idx + 1}) e->nstr = {idx + 1};")
        elif f.kind == "buf":
            if sc.type in spec.SEND_TYPES:      # (also on failure: drops the entry read)
                lines.append(f"    PAYLOAD_SENT(e, {idx}, {arg}, ret);")
            else:
                lines.append(f"    if (ret >= 0) PAYLOAD(e, {idx}, {arg}, ret);")
    names = spec.kernel_copied_slots(sc.type)
    if names:
        lines.append(f"    kcopy_take(e, regs, {names});")
    if sc.type in spec.OPEN_TYPES:
        lines.append("    kpath(e, ret);")
    lines += ["    PLAIN_EXIT_END()", "}", ""]
    return "\n".join(lines)


def btf_defines(btf: KernelBTF | None = None) -> list[str]:
    """The offsets the probe needs, as #defines, from the running kernel's BTF; and the span
    of pt_regs holding the syscall arguments and orig_ax, which the probe copies in one read."""
    btf = btf or KernelBTF.load()
    regs = [btf.offset("pt_regs", m) for m in ("di", "si", "dx", "r10", "r8", "r9", "orig_ax")]
    lo, hi = min(regs), max(regs) + 8
    parent = "__parent" if btf.has("kernfs_node", "__parent") else "parent"     # renamed in 6.15
    return btf.defines(BTF_OFFSETS) + [f"#define REGS_LO {lo}", f"#define REGS_SPAN {hi - lo}",
                                       f"#define OFF_KN_PARENT {btf.offset('kernfs_node', parent)}"]


def iouring_defines(btf: KernelBTF | None = None) -> tuple[list[str], str | None]:
    """The io_uring offsets as #defines, or why io_uring requests cannot be followed here."""
    try:
        btf = btf or KernelBTF.load()
        missing = [f"{s}.{m}" for s, m in IOURING_OFFSETS.values() if not btf.has(s, m)]
        if missing:
            return [], "the kernel's BTF lacks " + ", ".join(missing)
        return btf.defines(IOURING_OFFSETS), None
    except (OSError, KeyError, ValueError) as exc:
        return [], str(exc)


def thread_size(config_paths: Iterable[str] = ("/proc/config.gz", f"/boot/config-{os.uname().release}")) -> int:
    """The kernel stack size on x86_64 (pt_regs sit at its top): 16 KiB, doubled by KASAN."""
    import gzip
    for path in config_paths:
        try:
            raw = gzip.open(path).read() if path.endswith(".gz") else Path(path).read_bytes()
        except OSError:
            continue
        return 32768 if b"\nCONFIG_KASAN=y" in raw else 16384
    return 16384


def kcopy_defines(btf: KernelBTF | None = None) -> tuple[list[str], str | None]:
    """kcopy.c's offsets and sizes as #defines, or why the kernel's copies cannot be read here."""
    try:
        btf = btf or KernelBTF.load()
        missing = [f"{s}.{m}" for s, m in KCOPY_OFFSETS.values() if not btf.has(s, m)]
        if missing:
            return [], "the kernel's BTF lacks " + ", ".join(missing)
        return btf.defines(KCOPY_OFFSETS) + [f"#define PTREGS_SIZE {btf.size('pt_regs')}",
                                             f"#define THREAD_SIZE {thread_size()}"], None
    except (OSError, KeyError, ValueError) as exc:
        return [], str(exc)


# Without the kernel's copies every name slot is the caller's word (the filter passes it).
KCOPY_ABSENT = "#define kcopy_take(e, regs, names) ((e)->rflags |= ((names) & 7) << RF_UCOPY_SHIFT)\n"


def build_source(attach: Iterable[str], lane_pages: tuple[int, int] = (2048, 2048),
                 stash_entries: int = 65536,
                 offsets: list[str] | None = None,
                 entry_payloads: Iterable[str] = (),
                 iouring: list[str] | None = None,
                 kcopy: list[str] | None = None) -> tuple[str, set[str], list[str]]:
    """The program text for `attach`, the syscalls that could not be attached here, and the
    syscalls reached through the exit dispatcher.  `entry_payloads`: send syscalls whose
    payload is read at entry (an enter tracepoint each, so only those the rules need).
    `iouring`: io_uring offsets (iouring_defines); with them, and openat attached, io_uring
    opens are followed too (iouring.c)."""
    defines = [f"#define LANE0_PAGES {lane_pages[0]}", f"#define LANE1_PAGES {lane_pages[1]}",
               f"#define STASH_ENTRIES {stash_entries}", f"#define STR_SZ {STR_SZ}",
               f"#define SELF_PID {os.getpid()}", f"#define NTYPES {spec.NTYPES}",
               "#define TRACKED_ENTRIES 262144", "#define COMM_ENTRIES 131072",
               "#define KF_STRING_ENTRIES 16384", "#define KF_NAME_ENTRIES 16384",
               f"#define CG_V1_SUBSYS {cgroup_v1_subsys()[0]}", f"#define KPATH_SLOT {spec.KPATH_SLOT}"]
    defines += offsets if offsets is not None else btf_defines()
    for name, num in spec.TYPE_NUMBERS.items():
        defines.append(f"#define EV_{name.upper()} {num}")
    defines += [f"#define ENTER_PAYLOAD_{name} 1"
                for name in sorted(spec.SEND_TYPES & frozenset(entry_payloads) & frozenset(attach))]
    programs: list[str] = []
    missing: set[str] = set()
    plain: list[str] = []
    for name in sorted(attach):
        sc = spec.SYSCALLS[name]
        if name in spec.ENTER_TYPES:
            continue
        if name not in spec.SYSCALL_NR_X86_64:
            missing.add(name)
            continue
        if name in spec.HANDWRITTEN_EXIT:
            defines.append(f"#define WANT_{name} 1")
            plain.append(name)
            continue
        index = arg_indexes(sc)
        if index is None or any(f.tp not in index or (f.length and f.length not in index) for f in sc.fields):
            missing.add(name)
            continue
        programs.append(gen_exit_program(sc, index))
        plain.append(name)
    probe = PROBE_C.read_text().replace("/* @KFILTER@ (kfilter.c is inserted here by kernel.py) */",
                                        KFILTER_C.read_text())
    probe = probe.replace("/* @PAYLOAD@ (payload.c is inserted here by kernel.py) */", PAYLOAD_C.read_text())
    probe = probe.replace("/* @NET@ (net.c is inserted here by kernel.py) */", NET_C.read_text())
    probe = probe.replace("/* @KPATH@ (kpath.c is inserted here by kernel.py) */", KPATH_C.read_text())
    copied = sorted(t for t in plain if spec.kernel_copied_slots(t))
    if kcopy and copied:
        nrs = sorted(n for t in copied for n in (spec.SYSCALL_NR_X86_64[t], *spec.SYSCALL_ALIASES_X86_64.get(t, ())))
        defines += kcopy + ["#define KCOPY_ENTRIES 4096", "#define KCOPY_NR(nr) (" +
                            " || ".join(f"(nr) == {n}" for n in nrs) + ")"]
        kcopy_text = KCOPY_C.read_text()
    else:
        kcopy_text = KCOPY_ABSENT
    probe = probe.replace("/* @KCOPY@ (kcopy.c is inserted here by kernel.py) */", kcopy_text)
    if iouring and IOURING_TYPES.keys() & set(plain):
        defines += iouring + [f"#define {IOURING_TYPES[t]} 1" for t in sorted(IOURING_TYPES.keys() & set(plain))]
        probe += "\n" + IOURING_C.read_text()
    text = "\n".join(defines) + "\n" + probe + "\n" + "\n".join(programs)
    return text, missing, plain


class KernelProbe:
    """The compiled, attached probe and its two ring buffers (reserved lane 0, bulk lane 1)."""

    def __init__(self, attach: Iterable[str], lane_pages: tuple[int, int] = (2048, 2048),
                 entry_payloads: Iterable[str] = ()) -> None:
        bcc = import_bcc()
        self._bcc = bcc
        started = time.monotonic()
        iouring, why = iouring_defines()
        kcopy, kcopy_why = kcopy_defines()
        text, self.missing, plain = build_source(attach, lane_pages, entry_payloads=entry_payloads,
                                                 iouring=iouring, kcopy=kcopy)
        #: why io_uring requests are not followed (None: followed, or no rule needs opens)
        wanted = bool(IOURING_TYPES.keys() & set(plain))
        self.io_uring_error: str | None = why if wanted else None
        self.attached = sorted(set(attach) - self.missing)
        self._bpf: Any = bcc.BPF(text=text.encode(), cflags=["-Wno-macro-redefined", "-Wno-unused-function", "-Wno-pass-failed"])
        self.tables = self._bpf      # map access for kfilter_maps
        #: why the kernel filter could not be loaded here (None: it is loaded)
        self.judge_error: str | None = None
        try:
            judges = [self._bpf.load_func(f, bcc.BPF.RAW_TRACEPOINT)
                      for f in (b"kf_judge", b"kf_contains", b"kf_slots", b"kf_decide")]
        except Exception as exc:  # noqa: BLE001 - BCC raises bare Exception for a verifier refusal
            self.judge_error = str(exc).splitlines()[0][:300]
            judges = []                  # judge_prog stays empty: events go up unjudged
        for slot, fn in enumerate(judges):
            self._bpf[b"judge_prog"][ctypes.c_int(slot)] = ctypes.c_int(fn.fd)
        progs = self._bpf[b"exit_progs"]
        for name in plain:
            fn = self._bpf.load_func(f"sx_{name}".encode(), bcc.BPF.RAW_TRACEPOINT)
            for nr in (spec.SYSCALL_NR_X86_64[name], *spec.SYSCALL_ALIASES_X86_64.get(name, ())):
                progs[ctypes.c_int(nr)] = ctypes.c_int(fn.fd)
        if iouring and wanted and self.io_uring_error is None:
            self.io_uring_error = self._attach_iouring(bcc)
        #: why path arguments come from the caller's memory here (None: from the kernel's copies)
        self.kcopy_error: str | None = None
        if any(spec.kernel_copied_slots(t) for t in plain):
            self.kcopy_error = kcopy_why or self._attach_raw("kc_free", KCOPY_HOOK)
        self.compile_s = time.monotonic() - started
        self._rings = RingSet([RingReader.from_table(self._bpf[b"lane0"]),
                               RingReader.from_table(self._bpf[b"lane1"])])
        self._counters = self._bpf[b"counters"]
        self._held: list[tuple[int, bytes]] = []

    def _attach_iouring(self, bcc: Any) -> str | None:
        """Attach iouring.c's programs; the reason when a tracepoint is missing (a kernel
        built without io_uring): syscalls are still followed, io_uring opens are not."""
        for fn, tp in IOURING_HOOKS.items():
            why = self._attach_raw(fn, tp)
            if why:
                return why
        return None

    def _attach_raw(self, fn: str, tp: str) -> str | None:
        """Attach program `fn` to raw tracepoint `tp`; the reason if that fails."""
        try:
            self._bpf.attach_raw_tracepoint(tp=tp.encode(), fn_name=fn.encode())
        except Exception as exc:  # noqa: BLE001 - BCC raises bare Exception
            return f"raw tracepoint {tp}: {str(exc).splitlines()[0][:200]}"
        return None

    def poll(self, timeout_ms: int, bulk_limit: int = 4096) -> list[bytes]:
        """Wait up to `timeout_ms` for records; return what is ready, oldest first.  Every
        ready reserved-lane record is taken; at most `bulk_limit` bulk ones per call, so a
        bulk flood delays reserved records by one batch at most."""
        if not self._rings.wait(timeout_ms):
            return []
        reserved, bulk = self._rings.readers
        records = reserved.read(1 << 20) + bulk.read(bulk_limit)
        if len(records) > 1:
            records.sort(key=_record_ts)
        return records

    def held_notices(self) -> list[bytes]:
        """Flood notices the reserved lane had no room for (the probe keeps them in a map),
        taken out of the map, oldest first.  Values are read into a buffer of the kernel's
        value size: BCC's generated Leaf type drops the second dimension of `s[NSTR][STR_SZ]`
        and is too small for a lookup to write into."""
        lib = self._bcc.libbcc.lib
        held = self._bpf[b"flood_held"]
        records = []
        for key in list(held.keys()):
            value = ctypes.create_string_buffer(EVT_SIZE)
            if lib.bpf_lookup_elem(held.map_fd, ctypes.byref(key), value) == 0:
                records.append(value.raw[:HEADER_SIZE])
            lib.bpf_delete_elem(held.map_fd, ctypes.byref(key))
        records.sort(key=_record_ts)
        return records

    def counters(self) -> dict[str, dict[str, int]]:
        """Per event type: how many the probe saw, filtered, sent and dropped per lane."""
        totals = [0] * (spec.NTYPES * len(COUNTER_KINDS))
        for key, per_cpu in self._counters.items():
            totals[key.value] = sum(int(v) for v in per_cpu)
        out: dict[str, dict[str, int]] = {}
        for num, name in spec.TYPE_NAMES.items():
            row = totals[num * len(COUNTER_KINDS): (num + 1) * len(COUNTER_KINDS)]
            if any(row):
                counts = dict(zip(COUNTER_KINDS, row))
                counts["seen"] = sum(row[1:])       # the probe counts outcomes, not arrivals
                out[name] = counts
        return out

    def detach(self) -> None:
        """Stop producing records (the maps stay readable until close)."""
        bpf = self._bpf
        if bpf is None:
            return
        for tp in list(bpf.raw_tracepoint_fds):
            bpf.detach_raw_tracepoint(tp)
        for tp in list(bpf.tracepoint_fds):
            bpf.detach_tracepoint(tp)

    def close(self) -> None:
        bpf, self._bpf = self._bpf, None
        if bpf is not None:
            self._rings.close()
            bpf.cleanup()


def _record_ts(rec: bytes) -> int:
    return int.from_bytes(rec[:8], "little")


def boot_offset_ns() -> int:
    """Add to a CLOCK_BOOTTIME value (bpf_ktime_get_boot_ns) to get epoch nanoseconds."""
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
