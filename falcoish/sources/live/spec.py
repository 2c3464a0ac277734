"""The syscalls the live source captures: tracepoint fields, record layout, Falco parameters.

One table drives both sides: kernel.py generates the BPF enter/exit handlers of the *plain*
syscalls from it (copy scalar fields into `a[]`, user strings and sockaddrs into string
slots), and the decoder in capture.py reads each value back from the same position.  The
syscalls marked `special` have hand-written handlers in probe.c whose layout must match the
field list given here (scalars fill a[0], a[1]... in order, strings s[0], s[1]...).

Field kinds: `fd`/`i32` (int, sign-extended from 32 bits), `u32`, `i64`, `u64`, `str` (user
string), `sockaddr` (bytes at a pointer, length in another tracepoint field), `xsockaddr`
(sockaddr the kernel writes back, read at exit through an `int *` length; for accept and
accept4 the peer of the new socket instead, which the caller cannot rewrite), `xfds` (the int[2]
of pipe/pipe2, read at exit), `buf` (an I/O payload, at most `snaplen` bytes and never more
than the syscall returned, only while a rule needs it: see snaplen.py; a receive's is read at
exit, a send's or a write's at entry where possible), `sklocal`
(a scalar: the local end of the socket behind the `fd` field, read from the kernel's socket at
exit).  Names starting with `_` are internal (not Falco parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCALAR_KINDS = frozenset(("fd", "i32", "u32", "i64", "u64", "sklocal"))
SLOT_KINDS = frozenset(("str", "sockaddr", "xsockaddr", "xfds", "buf"))


@dataclass(frozen=True)
class Field:
    name: str                 # Falco parameter name ("_x" = internal)
    kind: str
    tp: str = ""              # tracepoint field (pointer for slot kinds)
    length: str = ""          # sockaddr: length field; xsockaddr: int* length field


@dataclass(frozen=True)
class Syscall:
    type: str                 # Falco evt.type
    fields: tuple[Field, ...]
    order: tuple[str, ...]    # Falco parameter order of the exit event
    ret: str = "res"          # parameter that carries the return value ("res" or "fd")
    tp: str = ""              # tracepoint suffix when it differs from `type`
    special: bool = False     # handler written in probe.c
    positions: dict[str, tuple[str, int]] = field(default_factory=dict, compare=False)

    @property
    def tracepoint(self) -> str:
        return self.tp or self.type

    @property
    def const(self) -> str:
        return "EV_" + self.type.upper()


def F(name: str, kind: str, tp: str = "", length: str = "") -> Field:
    return Field(name, kind, tp or name, length)


def _sc(type: str, fields: list[Field], order: str, ret: str = "res", tp: str = "",
        special: bool = False) -> Syscall:
    sc = Syscall(type, tuple(fields), tuple(order.split()), ret, tp, special)
    ai = si = 0
    for f in sc.fields:
        if f.kind in SCALAR_KINDS:
            sc.positions[f.name] = ("a", ai)
            ai += 1
        else:
            sc.positions[f.name] = ("s", si)
            si += 1
    assert ai <= 6 and si <= 3, type
    return sc


_FILE = [
    _sc("open", [F("name", "str", "filename"), F("flags", "i32"), F("mode", "u32")],
        "fd name flags mode dev ino", ret="fd"),
    _sc("openat", [F("dirfd", "fd", "dfd"), F("name", "str", "filename"), F("flags", "i32"),
                   F("mode", "u32")], "fd dirfd name flags mode dev ino", ret="fd"),
    _sc("openat2", [F("dirfd", "fd", "dfd"), F("flags", "u64"), F("mode", "u64"),
                    F("resolve", "u64"), F("name", "str", "filename")],
        "fd dirfd name flags mode resolve dev ino", ret="fd", special=True),
    _sc("creat", [F("name", "str", "pathname"), F("mode", "u32")],
        "fd name mode dev ino creat_flags", ret="fd"),
    _sc("unlink", [F("path", "str", "pathname")], "res path"),
    _sc("unlinkat", [F("dirfd", "fd", "dfd"), F("name", "str", "pathname"), F("flags", "i32", "flag")],
        "res dirfd name flags"),
    _sc("rmdir", [F("path", "str", "pathname")], "res path"),
    _sc("rename", [F("oldpath", "str", "oldname"), F("newpath", "str", "newname")],
        "res oldpath newpath"),
    _sc("renameat", [F("olddirfd", "fd", "olddfd"), F("oldpath", "str", "oldname"),
                     F("newdirfd", "fd", "newdfd"), F("newpath", "str", "newname")],
        "res olddirfd oldpath newdirfd newpath"),
    _sc("renameat2", [F("olddirfd", "fd", "olddfd"), F("oldpath", "str", "oldname"),
                      F("newdirfd", "fd", "newdfd"), F("newpath", "str", "newname"),
                      F("flags", "u32")],
        "res olddirfd oldpath newdirfd newpath flags"),
    _sc("link", [F("oldpath", "str", "oldname"), F("newpath", "str", "newname")],
        "res oldpath newpath"),
    _sc("linkat", [F("olddir", "fd", "olddfd"), F("oldpath", "str", "oldname"),
                   F("newdir", "fd", "newdfd"), F("newpath", "str", "newname"), F("flags", "i32")],
        "res olddir oldpath newdir newpath flags"),
    _sc("symlink", [F("target", "str", "oldname"), F("linkpath", "str", "newname")],
        "res target linkpath"),
    _sc("symlinkat", [F("target", "str", "oldname"), F("linkdirfd", "fd", "newdfd"),
                      F("linkpath", "str", "newname")], "res target linkdirfd linkpath"),
    _sc("chmod", [F("filename", "str"), F("mode", "u32")], "res filename mode"),
    _sc("fchmod", [F("fd", "fd"), F("mode", "u32")], "res fd mode"),
    _sc("fchmodat", [F("dirfd", "fd", "dfd"), F("filename", "str"), F("mode", "u32")],
        "res dirfd filename mode"),
    _sc("mkdir", [F("path", "str", "pathname"), F("mode", "u32")], "res path mode"),
    _sc("mkdirat", [F("dirfd", "fd", "dfd"), F("path", "str", "pathname"), F("mode", "u32")],
        "res dirfd path mode"),
    _sc("mount", [F("dev", "str", "dev_name"), F("dir", "str", "dir_name"), F("type", "str"),
                  F("flags", "u64")], "res dev dir type flags"),
    _sc("umount2", [F("name", "str"), F("flags", "i32")], "res name flags", tp="umount"),
    _sc("chdir", [F("path", "str", "filename")], "res path"),
    _sc("fchdir", [F("fd", "fd")], "res fd"),
]

_PROC = [
    _sc("setuid", [F("uid", "u32")], "res uid"),
    _sc("setgid", [F("gid", "u32")], "res gid"),
    _sc("setresuid", [F("ruid", "u32"), F("euid", "u32"), F("suid", "u32")], "res ruid euid suid"),
    _sc("setresgid", [F("rgid", "u32"), F("egid", "u32"), F("sgid", "u32")], "res rgid egid sgid"),
    _sc("ptrace", [F("request", "i64"), F("pid", "i32"), F("addr", "u64"), F("data", "u64")],
        "res addr data request pid"),
    _sc("kill", [F("pid", "i32"), F("sig", "i32")], "res pid sig"),
    _sc("init_module", [F("length", "u64", "len"), F("uargs", "str")], "res img length uargs",
        special=True),
    _sc("finit_module", [F("fd", "fd"), F("flags", "u32"), F("uargs", "str")],
        "res fd uargs flags", special=True),
    _sc("bpf", [F("cmd", "i32")], "fd cmd", ret="fd"),
    _sc("unshare", [F("flags", "u64", "unshare_flags")], "res flags"),
    _sc("setns", [F("fd", "fd"), F("nstype", "i32", "flags")], "res fd nstype"),
    _sc("userfaultfd", [F("flags", "i32")], "res flags"),
    _sc("memfd_create", [F("name", "str", "uname"), F("flags", "u32")], "fd name flags", ret="fd"),
    _sc("mprotect", [F("addr", "u64", "start"), F("length", "u64", "len"), F("prot", "u64")],
        "res addr length prot"),
    _sc("mmap", [F("addr", "u64"), F("length", "u64", "len"), F("prot", "u64"), F("flags", "u64"),
                 F("fd", "fd"), F("offset", "u64", "off")],
        "res vm_size vm_rss vm_swap addr length prot flags fd offset"),
    _sc("process_vm_writev", [F("pid", "i32")], "res pid"),
    # clone family and exec: fixed handlers in probe.c (always attached: state needs them)
    _sc("clone", [F("flags", "u64"), F("_child", "u64")], "res exe args tid pid ptid cwd comm "
        "flags uid gid vtid vpid", special=True),
    _sc("clone3", [F("flags", "u64"), F("_child", "u64")], "res exe args tid pid ptid cwd comm "
        "flags uid gid vtid vpid", special=True),
    _sc("fork", [F("flags", "u64"), F("_child", "u64")], "res exe args tid pid ptid cwd comm "
        "flags uid gid vtid vpid", special=True),
    _sc("vfork", [F("flags", "u64"), F("_child", "u64")], "res exe args tid pid ptid cwd comm "
        "flags uid gid vtid vpid", special=True),
    _sc("execve", [F("filename", "str")], "res exe args tid pid ptid cwd comm env tty vpgid "
        "loginuid flags cap_inheritable cap_permitted cap_effective exe_ino exe_ino_ctime "
        "exe_ino_mtime uid trusted_exepath pgid gid filename", special=True),
    _sc("execveat", [F("dirfd", "fd"), F("_flags", "i32"), F("pathname", "str")],
        "res exe args tid pid ptid cwd comm env tty vpgid loginuid flags cap_inheritable "
        "cap_permitted cap_effective exe_ino exe_ino_ctime exe_ino_mtime uid trusted_exepath "
        "pgid gid", special=True),
]

_NET = [
    _sc("socket", [F("domain", "i32", "family"), F("type", "i32"), F("proto", "i32", "protocol")],
        "fd domain type proto flags", ret="fd"),
    _sc("bind", [F("fd", "fd"), F("addr", "sockaddr", "umyaddr", "addrlen")], "res addr fd"),
    _sc("listen", [F("fd", "fd"), F("backlog", "i32"), F("_sk", "u64"), F("_lport", "u64")],
        "res fd backlog", special=True),
    _sc("connect", [F("fd", "fd"), F("_sktype", "u64"), F("_r2", "u64"), F("_sk", "u64"),
                    F("_saddr4", "u64"), F("_lport", "u64"),
                    F("_addr", "sockaddr", "uservaddr", "addrlen"), F("_saddr6", "sockaddr")],
        "res tuple fd addr", special=True),
    _sc("accept", [F("_lfd", "fd", "fd"), F("_peer", "xsockaddr", "upeer_sockaddr", "upeer_addrlen")],
        "fd tuple queuepct queuelen queuemax", ret="fd"),
    _sc("accept4", [F("_lfd", "fd", "fd"), F("flags", "i32"),
                    F("_peer", "xsockaddr", "upeer_sockaddr", "upeer_addrlen")],
        "fd tuple queuepct queuelen queuemax flags", ret="fd"),
    _sc("sendto", [F("fd", "fd"), F("size", "u64", "len"), F("_addr", "sockaddr", "addr", "addr_len"),
                   F("data", "buf", "buff"), F("_local", "sklocal", "fd")],
        "res data fd size tuple"),
    _sc("recvfrom", [F("fd", "fd"), F("size", "u64"), F("_addr", "xsockaddr", "addr", "addr_len"),
                     F("data", "buf", "ubuf"), F("_local", "sklocal", "fd")],
        "res data tuple fd size"),
    # read and the write family: attached only when a rule names them (they are the busiest
    # syscalls there are); a payload is copied only when a rule reads it, and the kernel
    # filter can test its first bytes (`evt.buffer bstartswith ...`, see kfields.py).
    _sc("read", [F("fd", "fd"), F("size", "u64", "count"), F("data", "buf", "buf")], "res data fd size"),
    _sc("write", [F("fd", "fd"), F("size", "u64", "count"), F("data", "buf", "buf")], "res data fd size"),
    _sc("pwrite64", [F("fd", "fd"), F("size", "u64", "count"), F("pos", "u64"), F("data", "buf", "buf")],
        "res data fd size pos"),
    # writev/pwritev: handwritten (the payload is the first iovec of a user array)
    _sc("writev", [F("fd", "fd"), F("size", "u64"), F("data", "buf")], "res size data fd", special=True),
    _sc("pwritev", [F("fd", "fd"), F("size", "u64"), F("pos", "u64"), F("data", "buf")],
        "res size data fd pos", special=True),
    # sendmsg/recvmsg: handwritten (the address and the first buffer sit in a user msghdr)
    _sc("sendmsg", [F("fd", "fd"), F("size", "u64"), F("_local", "sklocal", "fd"),
                    F("_addr", "sockaddr"), F("data", "buf")], "res data fd size tuple", special=True),
    _sc("recvmsg", [F("fd", "fd"), F("size", "u64"), F("_local", "sklocal", "fd"),
                    F("_addr", "sockaddr"), F("data", "buf")], "res size data tuple fd", special=True),
    # io_uring's own syscalls (its requests themselves become openat/connect: iouring.c)
    _sc("io_uring_setup", [F("entries", "u32")], "res entries"),
    _sc("io_uring_enter", [F("fd", "fd"), F("to_submit", "u32"), F("min_complete", "u32"),
                           F("flags", "u32")], "res fd to_submit min_complete flags"),
    _sc("io_uring_register", [F("fd", "fd"), F("opcode", "u32"), F("nr_args", "u32")],
        "res fd opcode nr_args"),
    _sc("close", [F("fd", "fd")], "res fd"),
    _sc("dup", [F("oldfd", "fd", "fildes")], "res oldfd"),
    _sc("dup2", [F("oldfd", "fd"), F("newfd", "fd")], "res oldfd newfd"),
    _sc("dup3", [F("oldfd", "fd"), F("newfd", "fd"), F("flags", "i32")], "res oldfd newfd flags"),
    _sc("pipe", [F("_fds", "xfds", "fildes")], "res fd1 fd2 ino"),
    _sc("pipe2", [F("flags", "i32"), F("_fds", "xfds", "fildes")], "res fd1 fd2 ino flags"),
]

SYSCALLS: dict[str, Syscall] = {sc.type: sc for sc in _FILE + _PROC + _NET}

PROCEXIT = "procexit"
FLOOD = "flood"
# Record types that are not syscalls (numbers after the syscalls).
INTERNAL = ("sched_fork", PROCEXIT, FLOOD)
SUPPORTED: frozenset[str] = frozenset(SYSCALLS) | {PROCEXIT}

# Types whose handlers probe.c always compiles: the state table needs them whatever is wanted.
ALWAYS = frozenset(("clone", "clone3", "fork", "vfork", "execve", "execveat"))
CLONE_TYPES = frozenset(("clone", "clone3", "fork", "vfork"))
EXEC_TYPES = frozenset(("execve", "execveat"))

# Descriptor bookkeeping: attached when any wanted event is about a descriptor.
FD_STATE = frozenset(("open", "openat", "openat2", "creat", "close", "socket", "connect", "accept",
                      "accept4", "bind", "listen", "dup", "dup2", "dup3", "pipe", "pipe2",
                      "memfd_create"))
# Cheap process bookkeeping, always attached: cwd and credentials.
PROC_STATE = frozenset(("chdir", "fchdir", "setuid", "setgid", "setresuid", "setresgid"))
FD_USERS = FD_STATE | frozenset((
    "unlinkat", "renameat", "renameat2", "linkat", "symlinkat", "fchmod", "fchmodat", "mkdirat",
    "fchdir", "setns", "finit_module", "mmap", "listen", "sendto", "recvfrom", "sendmsg", "recvmsg", "read", "bpf",
    "write", "pwrite64", "writev", "pwritev",
    "userfaultfd", "execveat"))

TYPE_NUMBERS: dict[str, int] = {name: i + 1 for i, name in enumerate(list(SYSCALLS) + list(INTERNAL))}
TYPE_NAMES: dict[int, str] = {n: name for name, n in TYPE_NUMBERS.items()}
#: size of the probe's per-type tables (type numbers are 1..NTYPES-1)
NTYPES = len(TYPE_NUMBERS) + 1

# Always sent, in the reserved lane: without them the process table is wrong.
LIFECYCLE = ALWAYS | PROC_STATE | {PROCEXIT, "sched_fork", FLOOD}
OPEN_TYPES = frozenset(("open", "openat", "openat2", "creat"))
# String slot where the probe puts the canonical path of the file an open-family call opened,
# walked from the kernel's struct file (kpath.c); every open type uses only slot 0 otherwise.
KPATH_SLOT = 1
# The path arguments the kernel copies into a `struct filename` (getname) before using them:
# the probe takes their text from that copy, not from the caller's memory (kcopy.c).
KERNEL_COPIED: dict[str, tuple[str, ...]] = {
    "open": ("name",), "openat": ("name",), "openat2": ("name",), "creat": ("name",),
    "unlink": ("path",), "unlinkat": ("name",), "rmdir": ("path",),
    "rename": ("oldpath", "newpath"), "renameat": ("oldpath", "newpath"),
    "renameat2": ("oldpath", "newpath"), "link": ("oldpath", "newpath"),
    "linkat": ("oldpath", "newpath"), "symlink": ("target", "linkpath"),
    "symlinkat": ("target", "linkpath"), "chmod": ("filename",), "fchmodat": ("filename",),
    "mkdir": ("path",), "mkdirat": ("path",), "mount": ("dir",), "umount2": ("name",),
    "chdir": ("path",),
}


def kernel_copied_slots(type_name: str) -> int:
    """Bit i set for each string slot of `type_name` that holds a kernel-copied path."""
    sc = SYSCALLS.get(type_name)
    if sc is None:
        return 0
    return sum(1 << sc.positions[name][1] for name in KERNEL_COPIED.get(type_name, ()))


# Syscalls whose return value is a new descriptor (pipe/pipe2 return two, in their `_fds` slot).
FD_CREATORS = OPEN_TYPES | frozenset(("socket", "accept", "accept4", "dup", "dup2", "dup3",
                                      "memfd_create", "userfaultfd", "bpf"))
PIPES = frozenset(("pipe", "pipe2"))
# Syscalls with an I/O payload (`buf` field): its bytes are read only while a rule needs them.
DATA_TYPES = frozenset(sc.type for sc in SYSCALLS.values() if any(f.kind == "buf" for f in sc.fields))
# The write family (the kernel filter tests their payload, so they are judged per event).
WRITE_TYPES = frozenset(("write", "pwrite64", "writev", "pwritev"))
# Those whose payload comes from the caller (read at entry where possible, see payload.c).
SEND_TYPES = frozenset(("sendto", "sendmsg")) | WRITE_TYPES
# Handlers that need data from syscall entry (the stash path) or are written in probe.c.
ENTER_TYPES = ALWAYS
HANDWRITTEN_EXIT = frozenset(("openat2", "connect", "listen", "sendmsg", "recvmsg", "writev", "pwritev"))

# x86_64 syscall numbers (a stable ABI) of the syscalls read at exit.
SYSCALL_NR_X86_64: dict[str, int] = {
    "read": 0, "write": 1, "pwrite64": 18, "writev": 20, "pwritev": 296, "open": 2, "openat": 257, "openat2": 437, "creat": 85, "unlink": 87, "unlinkat": 263,
    "rmdir": 84, "rename": 82, "renameat": 264, "renameat2": 316, "link": 86, "linkat": 265,
    "symlink": 88, "symlinkat": 266, "chmod": 90, "fchmod": 91, "fchmodat": 268, "mkdir": 83,
    "mkdirat": 258, "mount": 165, "umount2": 166, "chdir": 80, "fchdir": 81, "setuid": 105,
    "setgid": 106, "setresuid": 117, "setresgid": 119, "ptrace": 101, "kill": 62,
    "init_module": 175, "finit_module": 313, "bpf": 321, "unshare": 272, "setns": 308,
    "userfaultfd": 323, "memfd_create": 319, "mprotect": 10, "mmap": 9,
    "process_vm_writev": 311, "socket": 41, "bind": 49, "listen": 50, "connect": 42,
    "accept": 43, "accept4": 288, "sendto": 44, "recvfrom": 45, "sendmsg": 46, "recvmsg": 47, "close": 3, "dup": 32,
    "dup2": 33, "dup3": 292, "pipe": 22, "pipe2": 293,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
}
# Other syscall numbers whose exits are reported as the type: pwritev2 (same arguments plus
# flags; what glibc's and CPython's pwritev call) has no Falco event, and a rule on pwritev
# must not be evaded by calling it.
SYSCALL_ALIASES_X86_64: dict[str, tuple[int, ...]] = {"pwritev": (328,)}
# Argument positions of syscalls without a syscalls:sys_enter_* tracepoint to read them from
# (kernels built without CONFIG_MODULES have none for the module syscalls).
ARG_INDEX_FALLBACK: dict[str, dict[str, int]] = {
    "init_module": {"umod": 0, "len": 1, "uargs": 2},
    "finit_module": {"fd": 0, "uargs": 1, "flags": 2},
}


# Attached only for rules that name them: a rule for every event type does not bring them in.
EXPLICIT_ONLY = frozenset(("read", "io_uring_enter")) | WRITE_TYPES
IMPLICIT: frozenset[str] = SUPPORTED - EXPLICIT_ONLY


def capture_set(wanted: set[str] | frozenset[str] | None) -> frozenset[str]:
    """The syscalls to attach for `wanted` event types (None = all, but EXPLICIT_ONLY)."""
    want = IMPLICIT if wanted is None else frozenset(wanted) & SUPPORTED
    attach = (want - {PROCEXIT}) | ALWAYS | PROC_STATE
    if want & FD_USERS:
        attach |= FD_STATE
    return frozenset(attach)
