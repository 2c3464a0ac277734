"""Flag and enum name tables: native Linux values -> the names Falco prints.

Pipeline step: output of field extraction (`evt.arg.flags`, `evt.args`, `evt.res`,
`thread.cap_*`).  Why here and why native values: rules compare the *text* Falco renders
(`evt.arg.flags contains O_CREAT`, `evt.arg.request = PTRACE_ATTACH`, `evt.res = ENOENT`), so
falcoish must produce the same names in the same order.  Falco's driver first converts flags to
its own bit layout; falcoish records native values and maps them to names directly, keeping
Falco's table order (which decides the order of names in the text) and its quirks (O_RDONLY is
always shown for access mode 0; O_TMPFILE/O_SYNC are tested with "any bit set").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["FlagTable", "TABLES", "render_flags", "render_open_flags", "flags_text"]


@dataclass(frozen=True)
class FlagTable:
    """`kind` "flags": names of the set bits in table order, each consuming its bits, a zero
    valued name only for 0; "enum": every name equal to the whole value (`default` when none)."""

    kind: str
    entries: tuple[tuple[str, int], ...]
    default: str | None = None


def _t(kind: str, text: str, default: str | None = None) -> FlagTable:
    """`NAME=value NAME=value ...` in Falco's rendering order (values in Python syntax)."""
    entries = tuple((n, int(v, 0)) for n, v in (item.split("=") for item in text.split()))
    return FlagTable(kind, entries, default)


TABLES: dict[str, FlagTable] = {
    "chmod_mode": _t("flags", "S_IXOTH=0o1 S_IWOTH=0o2 S_IROTH=0o4 S_IXGRP=0o10 S_IWGRP=0o20 "
                     "S_IRGRP=0o40 S_IXUSR=0o100 S_IWUSR=0o200 S_IRUSR=0o400 S_ISVTX=0o1000 "
                     "S_ISGID=0o2000 S_ISUID=0o4000"),
    "creat_flags": _t("flags", "FD_UPPER_LAYER_CREAT=1 FD_LOWER_LAYER_CREAT=2"),
    # Computed by the capture (not a syscall argument): Falco's own bit values.
    "execve_flags": _t("flags", "EXE_WRITABLE=1 EXE_UPPER_LAYER=2 EXE_FROM_MEMFD=4 "
                       "EXE_LOWER_LAYER=8"),
    "clone_flags": _t("flags", "CLONE_FILES=0x400 CLONE_FS=0x200 CLONE_IO=0x80000000 "
                      "CLONE_NEWIPC=0x8000000 CLONE_NEWNET=0x40000000 CLONE_NEWNS=0x20000 "
                      "CLONE_NEWPID=0x20000000 CLONE_NEWUTS=0x4000000 CLONE_PARENT=0x8000 "
                      "CLONE_PARENT_SETTID=0x100000 CLONE_PTRACE=0x2000 CLONE_SIGHAND=0x800 "
                      "CLONE_SYSVSEM=0x40000 CLONE_THREAD=0x10000 CLONE_UNTRACED=0x800000 "
                      "CLONE_VM=0x100 CLONE_NEWUSER=0x10000000 CLONE_CHILD_CLEARTID=0x200000 "
                      "CLONE_CHILD_SETTID=0x1000000 CLONE_SETTLS=0x80000 CLONE_VFORK=0x4000 "
                      "CLONE_NEWCGROUP=0x2000000"),
    "mount_flags": _t("flags", "RDONLY=0x1 NOSUID=0x2 NODEV=0x4 NOEXEC=0x8 SYNCHRONOUS=0x10 "
                      "REMOUNT=0x20 MANDLOCK=0x40 DIRSYNC=0x80 NOATIME=0x400 NODIRATIME=0x800 "
                      "BIND=0x1000 MOVE=0x2000 REC=0x4000 SILENT=0x8000 POSIXACL=0x10000 "
                      "UNBINDABLE=0x20000 PRIVATE=0x40000 SLAVE=0x80000 SHARED=0x100000 "
                      "RELATIME=0x200000 KERNMOUNT=0x400000 I_VERSION=0x800000 "
                      "STRICTATIME=0x1000000 LAZYTIME=0x2000000 NOSEC=0x10000000 BORN=0x20000000 "
                      "ACTIVE=0x40000000 NOUSER=0x80000000"),
    "umount_flags": _t("flags", "FORCE=1 DETACH=2 EXPIRE=4 NOFOLLOW=8"),
    "prot_flags": _t("flags", "PROT_READ=1 PROT_WRITE=2 PROT_EXEC=4 PROT_SEM=8 "
                     "PROT_GROWSDOWN=0x1000000 PROT_GROWSUP=0x2000000 PROT_SAO=0x10 PROT_NONE=0"),
    "mmap_flags": _t("flags", "MAP_SHARED=0x1 MAP_PRIVATE=0x2 MAP_FIXED=0x10 MAP_ANONYMOUS=0x20 "
                     "MAP_32BIT=0x40 MAP_NORESERVE=0x4000 MAP_POPULATE=0x8000 "
                     "MAP_NONBLOCK=0x10000 MAP_GROWSDOWN=0x100 MAP_DENYWRITE=0x800 "
                     "MAP_EXECUTABLE=0x1000 MAP_LOCKED=0x2000"),
    "memfd_create_flags": _t("flags", "MFD_CLOEXEC=1 MFD_ALLOW_SEALING=2 MFD_HUGETLB=4"),
    "renameat2_flags": _t("flags", "RENAME_NOREPLACE=1 RENAME_EXCHANGE=2 RENAME_WHITEOUT=4"),
    "linkat_flags": _t("flags", "AT_SYMLINK_FOLLOW=0x400 AT_EMPTY_PATH=0x1000"),
    "unlinkat_flags": _t("flags", "AT_REMOVEDIR=0x200"),
    "fchownat_flags": _t("flags", "AT_SYMLINK_NOFOLLOW=0x100 AT_EMPTY_PATH=0x1000"),
    "execveat_flags": _t("flags", "AT_EMPTY_PATH=0x1000 AT_SYMLINK_NOFOLLOW=0x100"),
    "newfstatat_flags": _t("flags", "AT_EMPTY_PATH=0x1000 AT_NO_AUTOMOUNT=0x800 "
                           "AT_SYMLINK_NOFOLLOW=0x100"),
    "openat2_flags": _t("flags", "RESOLVE_BENEATH=0x8 RESOLVE_IN_ROOT=0x10 "
                        "RESOLVE_NO_MAGICLINKS=0x2 RESOLVE_NO_SYMLINKS=0x4 RESOLVE_NO_XDEV=0x1 "
                        "RESOLVE_CACHED=0x20"),
    "finit_module_flags": _t("flags", "MODULE_INIT_IGNORE_MODVERSIONS=1 "
                             "MODULE_INIT_IGNORE_VERMAGIC=2 MODULE_INIT_COMPRESSED_FILE=4"),
    "delete_module_flags": _t("flags", "O_NONBLOCK=0o4000 O_TRUNC=0o1000"),
    "access_flags": _t("flags", "F_OK=0 R_OK=4 W_OK=2 X_OK=1"),
    "close_range_flags": _t("flags", "CLOSE_RANGE_UNSHARE=2 CLOSE_RANGE_CLOEXEC=4"),
    "splice_flags": _t("flags", "SPLICE_F_MOVE=1 SPLICE_F_NONBLOCK=2 SPLICE_F_MORE=4 "
                       "SPLICE_F_GIFT=8"),
    "mlock2_flags": _t("flags", "MLOCK_ONFAULT=1"),
    "mlockall_flags": _t("flags", "MCL_CURRENT=1 MCL_FUTURE=2 MCL_ONFAULT=4"),
    "pidfd_open_flags": _t("flags", "PIDFD_NONBLOCK=0o4000"),
    "socket_families": _t("enum", "AF_NFC=39 AF_ALG=38 AF_CAIF=37 AF_IEEE802154=36 AF_PHONET=35 "
                          "AF_ISDN=34 AF_RXRPC=33 AF_IUCV=32 AF_BLUETOOTH=31 AF_TIPC=30 AF_CAN=29 "
                          "AF_LLC=26 AF_WANPIPE=25 AF_PPPOX=24 AF_IRDA=23 AF_SNA=22 AF_RDS=21 "
                          "AF_ATMSVC=20 AF_ECONET=19 AF_ASH=18 AF_PACKET=17 AF_ROUTE=16 "
                          "AF_NETLINK=16 AF_KEY=15 AF_SECURITY=14 AF_NETBEUI=13 AF_DECnet=12 "
                          "AF_ROSE=11 AF_INET6=10 AF_X25=9 AF_ATMPVC=8 AF_BRIDGE=7 AF_NETROM=6 "
                          "AF_APPLETALK=5 AF_IPX=4 AF_AX25=3 AF_INET=2 AF_LOCAL=1 AF_UNIX=1 "
                          "AF_UNSPEC=0"),
    "ptrace_requests": _t("enum", "PTRACE_TRACEME=0 PTRACE_PEEKTEXT=1 PTRACE_PEEKDATA=2 "
                          "PTRACE_PEEKUSR=3 PTRACE_POKETEXT=4 PTRACE_POKEDATA=5 PTRACE_POKEUSR=6 "
                          "PTRACE_CONT=7 PTRACE_KILL=8 PTRACE_SINGLESTEP=9 PTRACE_ATTACH=16 "
                          "PTRACE_DETACH=17 PTRACE_SYSCALL=24 PTRACE_SETOPTIONS=0x4200 "
                          "PTRACE_GETEVENTMSG=0x4201 PTRACE_GETSIGINFO=0x4202 "
                          "PTRACE_SETSIGINFO=0x4203 PTRACE_GETREGSET=0x4204 "
                          "PTRACE_SETREGSET=0x4205 PTRACE_SEIZE=0x4206 PTRACE_INTERRUPT=0x4207 "
                          "PTRACE_LISTEN=0x4208 PTRACE_PEEKSIGINFO=0x4209 "
                          "PTRACE_GETSIGMASK=0x420a PTRACE_SETSIGMASK=0x420b PTRACE_GETREGS=12 "
                          "PTRACE_SETREGS=13 PTRACE_GETFPREGS=14 PTRACE_SETFPREGS=15 "
                          "PTRACE_GETFPXREGS=18 PTRACE_SETFPXREGS=19 PTRACE_OLDSETOPTIONS=21 "
                          "PTRACE_GET_THREAD_AREA=25 PTRACE_SET_THREAD_AREA=26 "
                          "PTRACE_ARCH_PRCTL=30 PTRACE_SYSEMU=31 PTRACE_SYSEMU_SINGLESTEP=32 "
                          "PTRACE_SINGLEBLOCK=33", default="PTRACE_UNKNOWN"),
    "bpf_commands": _t("enum", " ".join(f"BPF_{n}={i}" for i, n in enumerate(
        "MAP_CREATE MAP_LOOKUP_ELEM MAP_UPDATE_ELEM MAP_DELETE_ELEM MAP_GET_NEXT_KEY PROG_LOAD "
        "OBJ_PIN OBJ_GET PROG_ATTACH PROG_DETACH PROG_TEST_RUN PROG_GET_NEXT_ID MAP_GET_NEXT_ID "
        "PROG_GET_FD_BY_ID MAP_GET_FD_BY_ID OBJ_GET_INFO_BY_FD PROG_QUERY RAW_TRACEPOINT_OPEN "
        "BTF_LOAD BTF_GET_FD_BY_ID TASK_FD_QUERY MAP_LOOKUP_AND_DELETE_ELEM MAP_FREEZE "
        "BTF_GET_NEXT_ID MAP_LOOKUP_BATCH MAP_LOOKUP_AND_DELETE_BATCH MAP_UPDATE_BATCH "
        "MAP_DELETE_BATCH LINK_CREATE LINK_UPDATE LINK_GET_FD_BY_ID LINK_GET_NEXT_ID ENABLE_STATS "
        "ITER_CREATE LINK_DETACH PROG_BIND_MAP".split())).replace(
            "BPF_PROG_TEST_RUN=10", "BPF_PROG_TEST_RUN=10 BPF_PROG_RUN=10")),
    "fcntl_commands": _t("enum", "F_DUPFD=0 F_GETFD=1 F_SETFD=2 F_GETFL=3 F_SETFL=4 F_GETLK=5 "
                         "F_SETLK=6 F_SETLKW=7 F_SETOWN=8 F_GETOWN=9 F_SETSIG=10 F_GETSIG=11 "
                         "F_SETOWN_EX=15 F_GETOWN_EX=16 F_OFD_GETLK=36 F_OFD_SETLK=37 "
                         "F_OFD_SETLKW=38 F_SETLEASE=1024 F_GETLEASE=1025 F_NOTIFY=1026 "
                         "F_CANCELLK=1029 F_DUPFD_CLOEXEC=1030 F_SETPIPE_SZ=1031 "
                         "F_GETPIPE_SZ=1032", default="UNKNOWN"),
    "prctl_options": _t("enum", "PR_SET_PDEATHSIG=1 PR_GET_PDEATHSIG=2 PR_GET_DUMPABLE=3 "
                        "PR_SET_DUMPABLE=4 PR_GET_KEEPCAPS=7 PR_SET_KEEPCAPS=8 PR_SET_NAME=15 "
                        "PR_GET_NAME=16 PR_GET_SECCOMP=21 PR_SET_SECCOMP=22 PR_CAPBSET_READ=23 "
                        "PR_CAPBSET_DROP=24 PR_GET_SECUREBITS=27 PR_SET_SECUREBITS=28 "
                        "PR_SET_MM=35 PR_SET_CHILD_SUBREAPER=36 PR_GET_CHILD_SUBREAPER=37 "
                        "PR_SET_NO_NEW_PRIVS=38 PR_GET_NO_NEW_PRIVS=39 PR_GET_TID_ADDRESS=40 "
                        "PR_SET_THP_DISABLE=41 PR_GET_THP_DISABLE=42 PR_CAP_AMBIENT=47"),
    "fsconfig_cmds": _t("enum", "FSCONFIG_SET_FLAG=0 FSCONFIG_SET_STRING=1 FSCONFIG_SET_BINARY=2 "
                        "FSCONFIG_SET_PATH=3 FSCONFIG_SET_PATH_EMPTY=4 FSCONFIG_SET_FD=5 "
                        "FSCONFIG_CMD_CREATE=6 FSCONFIG_CMD_RECONFIGURE=7"),
    "semctl_commands": _t("enum", "IPC_RMID=0 IPC_SET=1 IPC_STAT=2 IPC_INFO=3 GETPID=11 "
                          "GETVAL=12 GETALL=13 GETNCNT=14 GETZCNT=15 SETVAL=16 SETALL=17 "
                          "SEM_STAT=18 SEM_INFO=19 SEM_STAT_ANY=20"),
}

# file_flags: (name, native mask) in Falco's order; the access-mode names sit between O_CREAT
# and O_CLOEXEC.  The driver tests every flag with `flags & mask`, so multi-bit masks match when
# any of their bits is set (O_TMPFILE includes O_DIRECTORY, O_SYNC includes O_DSYNC).
_OPEN_BEFORE = (("O_LARGEFILE", 0o100000), ("O_DIRECTORY", 0o200000), ("O_DIRECT", 0o40000),
                ("O_TRUNC", 0o1000), ("O_SYNC", 0o4010000), ("O_NONBLOCK", 0o4000),
                ("O_EXCL", 0o200), ("O_DSYNC", 0o10000), ("O_APPEND", 0o2000),
                ("O_CREAT", 0o100))
_OPEN_AFTER = (("O_CLOEXEC", 0o2000000), ("O_TMPFILE", 0o20200000))
_ACCESS = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}
_MS_MGC_MASK, _MS_MGC_VAL = 0xFFFF0000, 0xC0ED0000


@lru_cache(maxsize=1024)
def render_open_flags(value: int, access: bool = True) -> str:
    """Names of native open(2) flags as Falco prints them.  `access=False` for the tables that
    carry no access mode (dup3, pipe2, socket, eventfd2...): then 0 renders `O_NONE`."""
    names = [n for n, mask in _OPEN_BEFORE if value & mask]
    if access:
        mode = _ACCESS.get(value & 3)
        if mode is not None:
            names.append(mode)
    names.extend(n for n, mask in _OPEN_AFTER if value & mask)
    if not names and not access and value == 0:
        return "O_NONE"
    return "|".join(names)


@lru_cache(maxsize=4096)
def render_flags(table: str, value: int) -> str:
    """Resolved text of `value` under a named table; "" when no name applies."""
    if table == "open_flags":
        return render_open_flags(value, True)
    if table == "file_flags":
        return render_open_flags(value, False)
    spec = TABLES[table]
    if table == "mount_flags" and value & _MS_MGC_MASK == _MS_MGC_VAL:
        value &= ~_MS_MGC_MASK
    if spec.kind == "enum":
        names = [n for n, v in spec.entries if v == value]
        if not names and spec.default is not None:
            return spec.default
        return "|".join(names)
    out: list[str] = []
    rest = value
    for name, bits in spec.entries:
        if bits == 0:
            if value == 0:
                out.append(name)
        elif rest & bits == bits:
            out.append(name)
            rest &= ~bits
    return "|".join(out)


def flags_text(table: str, value: int) -> str:
    """What `evt.arg.X` shows: the names, or the decimal value when no name applies."""
    return render_flags(table, value) or str(value)


#: Every table name an event parameter may reference.
TABLE_NAMES: frozenset[str] = frozenset(TABLES) | {"open_flags", "file_flags"}
