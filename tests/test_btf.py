"""KernelBTF: hand-built BTF blobs, the running kernel's BTF, and a BPF check of the offsets.

The blob tests pin down the format decoding (anonymous members, typedef chains, bitfields in
both encodings, FWD vs definition, byte order).  The vmlinux tests check the reader against
layouts that are ABI (pt_regs, list_head).  The live test is the one that proves the offsets
are the running kernel's: a BPF program reads task_struct/cred through them and must see what
the test process knows about itself.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import threading
import time
from pathlib import Path

import pytest

from falcoish.sources.live.btf import VMLINUX, KernelBTF

INT, PTR, ARRAY, STRUCT, UNION, FWD, TYPEDEF, VOLATILE, CONST = 1, 2, 3, 4, 5, 7, 8, 9, 10
RESTRICT, TYPE_TAG, ENUM = 11, 18, 6


class Blob:
    """Builds a BTF blob type by type, as pahole would lay it out."""

    def __init__(self, order: str = "<") -> None:
        self.order = order
        self.types: list[bytes] = []
        self.strings = bytearray(b"\0")

    def name(self, text: str) -> int:
        if not text:
            return 0
        off = len(self.strings)            # no dedup: duplicate names must still work
        self.strings += text.encode() + b"\0"
        return off

    def add(self, name: str, kind: int, vlen: int, size_or_type: int, extra: bytes = b"",
            kind_flag: int = 0) -> int:
        info = kind_flag << 31 | kind << 24 | vlen
        self.types.append(struct.pack(self.order + "III", self.name(name), info, size_or_type)
                          + extra)
        return len(self.types)

    def int_(self, name: str, size: int, bits: int | None = None, bit_off: int = 0) -> int:
        enc = bit_off << 16 | (size * 8 if bits is None else bits)
        return self.add(name, INT, 0, size, struct.pack(self.order + "I", enc))

    def ref(self, kind: int, target: int, name: str = "") -> int:
        return self.add(name, kind, 0, target)

    def array(self, elem: int, index: int, n: int) -> int:
        return self.add("", ARRAY, 0, 0, struct.pack(self.order + "III", elem, index, n))

    def composite(self, name: str, size: int, members: list[tuple[str, int, int, int]],
                  union: bool = False, kind_flag: int = 1) -> int:
        """members: (name, type id, bit offset, bitfield size)."""
        extra = b""
        for mname, mtype, boff, bsize in members:
            off = (bsize << 24 | boff) if kind_flag else boff
            extra += struct.pack(self.order + "III", self.name(mname), mtype, off)
        return self.add(name, UNION if union else STRUCT, len(members), size, extra, kind_flag)

    def build(self) -> bytes:
        types = b"".join(self.types)
        hdr = struct.pack(self.order + "HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types),
                          len(types), len(self.strings))
        return hdr + types + bytes(self.strings)


def sample(order: str = "<") -> bytes:
    b = Blob(order)
    i32 = b.int_("int", 4)                                       # 1
    u64 = b.int_("unsigned long", 8)                             # 2
    char = b.int_("char", 1)                                     # 3
    u32 = b.int_("unsigned int", 4)                              # 4
    # typedef chain: my_t = const volatile restrict type_tag u32_t, u32_t = typedef int
    u32_t = b.ref(TYPEDEF, i32, "u32_t")
    my_t = b.ref(CONST, b.ref(VOLATILE, b.ref(RESTRICT, b.ref(TYPE_TAG, u32_t, "tag"))))
    b.ref(FWD, 0, "dup")                                         # forward declaration first
    inner = b.composite("inner", 16, [("a", i32, 0, 0), ("b", u64, 64, 0)])
    inner_ptr = b.ref(PTR, inner)
    anon_s = b.composite("", 2, [("c1", char, 0, 0), ("c2", char, 8, 0)])
    anon_u = b.composite("", 4, [("u1", i32, 0, 0), ("", anon_s, 0, 0)], union=True)
    name16 = b.array(char, i32, 16)
    b.composite("outer", 56, [
        ("x", i32, 0, 0), ("", anon_u, 32, 0), ("emb", inner, 64, 0), ("p", inner_ptr, 192, 0),
        ("name", name16, 256, 0),
        ("bf_a", u32, 384, 8), ("bf_b", u32, 392, 3), ("bf_c", u32, 395, 5),
        ("bf_d", u32, 400, 16), ("t", my_t, 416, 0)])
    b.composite("dup", 8, [("first", u64, 0, 0)])
    b.composite("dup", 16, [("second", u64, 64, 0)])           # a differing second definition
    b.composite("u", 8, [("a", i32, 0, 0), ("b", u64, 0, 0)], union=True)
    # old encoding (no kind_flag): the bitfield is an INT type carrying offset and width
    nib = b.int_("int", 4, bits=4, bit_off=0)
    byte_bf = b.int_("int", 4, bits=8, bit_off=8)
    b.composite("old", 8, [("nib", nib, 0, 0), ("byte", byte_bf, 0, 0), ("y", i32, 32, 0)],
                kind_flag=0)
    b.ref(TYPEDEF, b.composite("", 4, [("counter", i32, 0, 0)]), "atomic_t")
    b.ref(FWD, 0, "only_fwd")
    b.add("e", ENUM, 2, 4, struct.pack(order + "iiii", b.name("A"), 0, b.name("B"), 1))
    return b.build()


@pytest.fixture(params=["<", ">"], ids=["little", "big"])
def btf(request: pytest.FixtureRequest) -> KernelBTF:
    return KernelBTF.from_bytes(sample(request.param))


def test_plain_and_embedded_path(btf: KernelBTF) -> None:
    assert btf.offset("outer", "x") == 0
    assert btf.offset("outer", "emb") == 8
    assert btf.offset("outer", "emb.b") == 16
    assert btf.offset("struct outer", "emb.a") == 8
    assert btf.size("outer") == 56 and btf.size("inner") == 16
    assert btf.member_size("outer", "emb") == 16
    assert btf.member_size("outer", "p") == 8 and btf.offset("outer", "p") == 24
    assert btf.member_size("outer", "name") == 16 and btf.offset("outer", "name") == 32


def test_members_of_nested_anonymous_union_and_struct(btf: KernelBTF) -> None:
    assert btf.offset("outer", "u1") == 4
    assert btf.offset("outer", "c1") == 4
    assert btf.offset("outer", "c2") == 5
    assert btf.member_size("outer", "c2") == 1
    assert btf.has("outer", "c2") and not btf.has("outer", "c3")


def test_typedef_and_qualifier_chain(btf: KernelBTF) -> None:
    assert btf.offset("outer", "t") == 52
    assert btf.member_size("outer", "t") == 4
    assert btf.offset("atomic_t", "counter") == 0 and btf.size("atomic_t") == 4


def test_bitfields(btf: KernelBTF) -> None:
    assert btf.offset("outer", "bf_a") == 48 and btf.member_size("outer", "bf_a") == 1
    assert btf.offset("outer", "bf_d") == 50 and btf.member_size("outer", "bf_d") == 2
    for name in ("bf_b", "bf_c"):
        assert btf.has("outer", name)
        with pytest.raises(ValueError, match=f"outer.{name}.*not byte-aligned"):
            btf.offset("outer", name)
        with pytest.raises(ValueError, match=f"outer.{name}"):
            btf.member_size("outer", name)
    # without kind_flag, the INT's own encoding gives the bit offset and width
    assert btf.offset("old", "byte") == 1 and btf.member_size("old", "byte") == 1
    assert btf.offset("old", "y") == 4 and btf.member_size("old", "y") == 4
    with pytest.raises(ValueError, match="old.nib"):
        btf.offset("old", "nib")


def test_union(btf: KernelBTF) -> None:
    assert btf.offset("u", "a") == 0 and btf.offset("union u", "b") == 0
    assert btf.size("u") == 8 and btf.member_size("u", "b") == 8


def test_missing_member_and_struct_messages(btf: KernelBTF) -> None:
    with pytest.raises(KeyError, match="struct outer has no member 'nope'"):
        btf.offset("outer", "nope")
    with pytest.raises(KeyError, match=r"'emb\.zz'.*outer\.emb has no 'zz'"):
        btf.offset("outer", "emb.zz")
    with pytest.raises(KeyError, match=r"outer\.p is a ptr"):    # pointers are not embedded
        btf.offset("outer", "p.a")
    with pytest.raises(KeyError, match="no struct or union named 'missing'"):
        btf.size("missing")
    with pytest.raises(KeyError, match="only_fwd"):
        btf.offset("only_fwd", "x")
    assert not btf.has("missing", "x") and not btf.has("outer", "p.a")


def test_forward_declaration_and_duplicate_definitions(btf: KernelBTF) -> None:
    assert btf.offset("dup", "first") == 0 and btf.size("dup") == 8
    assert not btf.has("dup", "second")


def test_defines(btf: KernelBTF) -> None:
    assert btf.defines({"OFF_B": ("outer", "emb.b"), "OFF_C2": ("outer", "c2")}) == [
        "#define OFF_B 16", "#define OFF_C2 5"]


def test_bad_blobs() -> None:
    good = sample()
    with pytest.raises(ValueError, match="magic"):
        KernelBTF.from_bytes(b"\0\0" + good[2:])
    with pytest.raises(ValueError):
        KernelBTF.from_bytes(good[:40])
    b = Blob()
    b.int_("int", 4)
    b.add("weird", 25, 0, 0)
    with pytest.raises(ValueError, match="type id 2"):
        KernelBTF.from_bytes(b.build())


# -- the running kernel's BTF ----------------------------------------------------------------

@pytest.fixture(scope="module")
def kernel() -> KernelBTF:
    if not Path(VMLINUX).exists():
        print(f"{VMLINUX} absent: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF off)")
        pytest.skip(f"{VMLINUX} absent (kernel built without CONFIG_DEBUG_INFO_BTF)")
    return KernelBTF.load()


WANTED = {
    "OFF_TASK_TGID": ("task_struct", "tgid"), "OFF_TASK_PID": ("task_struct", "pid"),
    "OFF_TASK_REAL_PARENT": ("task_struct", "real_parent"),
    "OFF_TASK_CRED": ("task_struct", "cred"), "OFF_CRED_EUID": ("cred", "euid"),
    "OFF_TASK_COMM": ("task_struct", "comm"),
}


def test_vmlinux_sanity_and_speed(kernel: KernelBTF) -> None:
    start = time.perf_counter()
    fresh = KernelBTF.load()
    lookups = [("list_head", "prev"), ("task_struct", "pid"), ("task_struct", "tgid"),
               ("task_struct", "real_parent"), ("task_struct", "cred"), ("task_struct", "comm"),
               ("task_struct", "files"), ("task_struct", "fs"), ("files_struct", "fdt"),
               ("fdtable", "fd"), ("fdtable", "max_fds"), ("file", "f_inode"),
               ("file", "f_path.dentry"), ("inode", "i_mode"), ("inode", "i_ino"),
               ("fs_struct", "pwd"), ("path", "mnt"), ("dentry", "d_parent"),
               ("dentry", "d_name"), ("qstr", "name"), ("cred", "euid")]
    got = [fresh.offset(s, m) for s, m in lookups]
    elapsed = time.perf_counter() - start
    print(f"load + {len(lookups)} lookups over {fresh.type_count} types: {elapsed * 1e3:.1f} ms")
    assert elapsed < 0.5
    assert got == [kernel.offset(s, m) for s, m in lookups]
    assert kernel.type_count > 10_000
    assert kernel.offset("list_head", "next") == 0 and kernel.offset("list_head", "prev") == 8
    assert kernel.size("list_head") == 16
    ts = kernel.size("task_struct")
    for member in ("pid", "tgid", "real_parent", "cred", "comm"):
        assert 0 < kernel.offset("task_struct", member) < ts
    assert kernel.member_size("task_struct", "pid") == 4
    assert kernel.member_size("task_struct", "tgid") == 4
    assert kernel.member_size("task_struct", "comm") == 16
    assert kernel.member_size("task_struct", "real_parent") == 8
    assert kernel.offset("file", "f_path.dentry") == (
        kernel.offset("file", "f_path") + kernel.offset("path", "dentry"))
    assert kernel.has("inode", "i_nlink")                  # in an anonymous union
    assert kernel.offset("inode", "i_nlink") == kernel.offset("inode", "__i_nlink")
    assert kernel.has("file", "f_ref") or kernel.has("file", "f_count")
    assert not kernel.has("task_struct", "no_such_member")
    with pytest.raises(KeyError, match="task_struct.*no_such_member"):
        kernel.offset("task_struct", "no_such_member")
    assert len(kernel.defines(WANTED)) == len(WANTED)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="pt_regs layout checked for x86_64")
def test_vmlinux_x86_64_abi_layouts(kernel: KernelBTF) -> None:
    # struct pt_regs is user-visible ABI on x86_64 (ptrace), so these never change.
    regs = {"r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48, "r10": 56,
            "r9": 64, "r8": 72, "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112,
            "orig_ax": 120, "ip": 128}
    assert {r: kernel.offset("pt_regs", r) for r in regs} == regs
    assert kernel.offset("task_struct", "thread_info") == 0    # THREAD_INFO_IN_TASK on x86
    assert kernel.offset("task_struct", "thread_info.flags") == 0


def test_vmlinux_every_struct_decodes_within_its_size(kernel: KernelBTF) -> None:
    """Whole-file check of member decoding: every plain member fits inside its struct."""
    checked = 0
    for name in kernel._name_index():
        text = name.decode()
        try:
            size = kernel.size(text)
        except KeyError:
            continue                                   # typedef of a non-struct
        named, _anon = kernel._decode(kernel._find_type(text))
        for member, m in named.items():
            if m.bitfield_size:
                assert m.bit_offset + m.bitfield_size <= size * 8, (text, member)
                continue
            msize = kernel.member_size(text, member)
            assert kernel.offset(text, member) + msize <= size, (text, member, msize)
            checked += 1
    assert checked > 50_000


# -- live: a BPF program reads the kernel through these offsets --------------------------------

PR_SET_NAME = 15
SYS_SETRESUID = {"x86_64": 117, "aarch64": 147}.get(platform.machine())
PROBE_EUID = 4242                 # a euid that differs from uid/suid, so the fields are told apart

PROG = r"""
struct result {
    u64 hits, tgid, pid, ppid, euid, helper_tgid, helper_pid;
    char comm[16];
};
BPF_ARRAY(out, struct result, 1);

TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != TARGET_TGID)
        return 0;
    int zero = 0;
    struct result *r = out.lookup(&zero);
    if (!r)
        return 0;
    char *task = (char *)bpf_get_current_task();
    char *parent = 0, *cred = 0;
    u32 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), task + OFF_TASK_TGID);
    r->tgid = v;
    bpf_probe_read_kernel(&v, sizeof(v), task + OFF_TASK_PID);
    r->pid = v;
    bpf_probe_read_kernel(&parent, sizeof(parent), task + OFF_TASK_REAL_PARENT);
    bpf_probe_read_kernel(&v, sizeof(v), parent + OFF_TASK_TGID);
    r->ppid = v;
    bpf_probe_read_kernel(&cred, sizeof(cred), task + OFF_TASK_CRED);
    bpf_probe_read_kernel(&v, sizeof(v), cred + OFF_CRED_EUID);
    r->euid = v;
    bpf_probe_read_kernel(r->comm, sizeof(r->comm), task + OFF_TASK_COMM);
    r->helper_tgid = id >> 32;
    r->helper_pid = (u32)id;
    r->hits++;
    return 0;
}
"""


class Probed(threading.Thread):
    """Calls getppid from a fresh thread, so pid (tid) != tgid, with its own comm and euid.

    In the main thread pid == tgid, so swapping the two offsets would go unnoticed; and as
    root uid == euid == suid == 0, so a wrong cred offset would too.  Credentials and comm are
    per thread in the kernel (raw setresuid, not glibc's, which changes every thread), and
    both die with this thread, so nothing needs restoring.
    """

    def __init__(self) -> None:
        super().__init__(name="btf-probe")
        self.seen: dict[str, object] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            name = b"btf-chk-%d" % (os.getpid() % 100000)
            if libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")
            if os.geteuid() == 0 and SYS_SETRESUID is not None:
                if libc.syscall(SYS_SETRESUID, -1, PROBE_EUID, -1) != 0:
                    raise OSError(ctypes.get_errno(), "setresuid")
            for _ in range(3):
                ppid = os.getppid()
            self.seen = {"tid": threading.get_native_id(), "ppid": ppid, "euid": os.geteuid(),
                         "comm": Path("/proc/thread-self/comm").read_bytes().rstrip(b"\n")}
            assert self.seen["comm"] == name
        except BaseException as exc:   # noqa: BLE001 - re-raised in the test's thread
            self.error = exc


@pytest.mark.live
def test_live_offsets_read_the_right_fields(kernel: KernelBTF) -> None:
    from falcoish.sources.live.setup import check_live_support, import_bcc
    reason = check_live_support()
    if reason is not None:
        print(f"live capture unavailable: {reason}")
        pytest.skip(f"live capture unavailable: {reason}")
    bcc = import_bcc()
    euid_before = os.geteuid()
    lines = kernel.defines(WANTED) + [f"#define TARGET_TGID {os.getpid()}"]
    print("\n".join(lines))
    bpf = bcc.BPF(text=("\n".join(lines) + "\n" + PROG).encode(),
                  cflags=["-Wno-macro-redefined", "-Wno-unused-function"])
    try:
        probed = Probed()
        probed.start()
        probed.join()
        r = bpf[b"out"][ctypes.c_int(0)]
    finally:
        bpf.cleanup()
    if probed.error is not None:
        raise probed.error
    assert os.geteuid() == euid_before            # the setresuid stayed in the probe thread
    seen = probed.seen
    assert seen["tid"] != os.getpid()
    assert r.hits >= 3
    assert (r.helper_tgid, r.helper_pid) == (os.getpid(), seen["tid"])
    assert r.tgid == os.getpid()
    assert r.pid == seen["tid"]
    assert r.ppid == seen["ppid"]
    assert r.euid == seen["euid"]
    assert os.geteuid() != 0 or SYS_SETRESUID is None or r.euid == PROBE_EUID
    assert bytes(r.comm).rstrip(b"\0") == seen["comm"]
