"""Every event type falcoish knows, and the Falco parameter list of the ones rules look at.

Pipeline step: consulted by the compiler (step 4) and by the field registry when fields are
bound.  Why a table: Falco rejects `evt.type = foo` for an unknown name and `evt.arg.foo` for a
parameter no event has, at load time; and the text of `evt.arg.NAME` / `evt.args` depends on
the *kind* of each parameter of the event's type (an fd renders `<f>/etc/shadow`, flags render
`O_RDONLY|O_CLOEXEC`, a relative path is resolved against the cwd or a dirfd).  The table says,
per event type, which parameters exist in Falco's order, their kinds, and which parameter
names the descriptor the `fd.*` fields describe.

Parameter lists follow Falco's current exit events (one merged event per syscall), with the
legacy enter-side parameters appended where Falco still lists them.  Values in records are
native Linux values (flags are *not* Falco's PPM encoding); flag/enum tables are named here
and live in `falcoish.fields.flags`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping

__all__ = ["PKind", "Param", "EventInfo", "EVENTS", "EVENT_NAMES", "ARG_NAMES", "SYSCALL_NAMES",
           "event_info"]


class PKind(str, Enum):
    """How a parameter value renders (Falco parameter types, grouped by rendering)."""

    FD = "fd"              # decimal; resolved `<T>name`, AT_FDCWD for -100, errno for < 0
    PATH = "path"          # absolute as is; relative resolved against the thread cwd
    RELPATH = "relpath"    # relative to the directory fd named by `Param.ref`
    ERRNO = "errno"        # decimal; errno name when negative
    PID = "pid"            # decimal; comm of that process
    UID = "uid"            # decimal; user name
    GID = "gid"            # decimal; group name
    FLAGS = "flags"        # decimal; names of `Param.ref` table joined by |
    ENUM = "enum"          # decimal; the name(s) of the value in `Param.ref` table
    MODE = "mode"          # octal; S_* names (chmod family)
    OCTAL = "octal"        # octal only (open/mkdir mode)
    HEX = "hex"            # hexadecimal only (dev, addresses, capability masks)
    INT = "int"            # decimal
    UINT = "uint"          # decimal
    STR = "str"            # text as is
    BYTEBUF = "bytebuf"    # printable ASCII kept, every other byte `.`
    SOCKADDR = "sockaddr"  # text as recorded (`1.2.3.4:80`, unix path)
    SOCKTUPLE = "socktuple"  # text as recorded (`1.2.3.4:5->6.7.8.9:80`)
    SIGTYPE = "sigtype"    # decimal; signal name
    ABSTIME = "abstime"    # ns since epoch; rendered as local date and time

    @property
    def numeric(self) -> bool:
        return self not in _TEXT_KINDS


_TEXT_KINDS = frozenset({PKind.PATH, PKind.RELPATH, PKind.STR, PKind.BYTEBUF, PKind.SOCKADDR,
                         PKind.SOCKTUPLE})


@dataclass(frozen=True)
class Param:
    """One event parameter: `ref` is the flag table (FLAGS/ENUM) or the dirfd parameter name
    (RELPATH); `ret` marks the parameter that holds the syscall's return value (its value
    falls back to the event's `res` when the record's args lack it)."""

    name: str
    kind: PKind
    ref: str | None = None
    ret: bool = False


@dataclass(frozen=True)
class EventInfo:
    """An event type.  `fd_param` names the parameter whose descriptor the `fd.*` fields
    describe (None: the event has no fd); `fd_role` is create/use/destroy; `fd_guess` is the
    typechar Falco assumes when the fd entry is missing; `path_param` gives `fd.name` for a
    failed open; `io` is "r"/"w" for read/write-type events."""

    name: str
    params: tuple[Param, ...] = ()
    category: str = "other"
    syscall: bool = True
    fd_param: str | None = None
    fd_role: str | None = None
    fd_guess: str | None = None
    path_param: str | None = None
    io: str | None = None
    by_name: Mapping[str, Param] = field(default_factory=dict, compare=False, repr=False)


# x86_64 system call names (syscall_64.tbl order), plus the few names Falco uses on other
# architectures or for legacy forms.
SYSCALL_NAMES: frozenset[str] = frozenset("""
read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction
rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select sched_yield
mremap msync mincore madvise shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm
setitimer getpid sendfile socket connect accept sendto recvfrom sendmsg recvmsg shutdown bind
listen getsockname getpeername socketpair setsockopt getsockopt clone fork vfork execve exit
wait4 kill uname semget semop semctl shmdt msgget msgsnd msgrcv msgctl fcntl flock fsync
fdatasync truncate ftruncate getdents getcwd chdir fchdir rename mkdir rmdir creat link unlink
symlink readlink chmod fchmod chown fchown lchown umask gettimeofday getrlimit getrusage sysinfo
times ptrace getuid syslog getgid setuid setgid geteuid getegid setpgid getppid getpgrp setsid
setreuid setregid getgroups setgroups setresuid getresuid setresgid getresgid getpgid setfsuid
setfsgid getsid capget capset rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend
sigaltstack utime mknod uselib personality ustat statfs fstatfs sysfs getpriority setpriority
sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_get_priority_max
sched_get_priority_min sched_rr_get_interval mlock munlock mlockall munlockall vhangup
modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex setrlimit chroot sync acct
settimeofday mount umount2 swapon swapoff reboot sethostname setdomainname iopl ioperm
create_module init_module delete_module get_kernel_syms query_module quotactl nfsservctl
getpmsg putpmsg afs_syscall tuxcall security gettid readahead setxattr lsetxattr fsetxattr
getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr
fremovexattr tkill time futex sched_setaffinity sched_getaffinity set_thread_area io_setup
io_destroy io_getevents io_submit io_cancel get_thread_area lookup_dcookie epoll_create
epoll_ctl_old epoll_wait_old remap_file_pages getdents64 set_tid_address restart_syscall
semtimedop fadvise64 timer_create timer_settime timer_gettime timer_getoverrun timer_delete
clock_settime clock_gettime clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl tgkill
utimes vserver mbind set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend
mq_timedreceive mq_notify mq_getsetattr kexec_load waitid add_key request_key keyctl
ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat
mkdirat mknodat fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat
fchmodat faccessat pselect6 ppoll unshare set_robust_list get_robust_list splice tee
sync_file_range vmsplice move_pages utimensat epoll_pwait signalfd timerfd_create eventfd
fallocate timerfd_settime timerfd_gettime accept4 signalfd4 eventfd2 epoll_create1 dup3 pipe2
inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open recvmmsg fanotify_init
fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg
setns getcpu process_vm_readv process_vm_writev kcmp finit_module sched_setattr sched_getattr
renameat2 seccomp getrandom memfd_create kexec_file_load bpf execveat userfaultfd membarrier
mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx
io_pgetevents rseq uretprobe pidfd_send_signal io_uring_setup io_uring_enter io_uring_register
open_tree move_mount fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2
pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd
landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease
futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait
futex_requeue statmount listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal
setxattrat getxattrat listxattrat removexattrat open_tree_attr file_getattr file_setattr
umount stat64 lstat64 fstat64 mmap2 _llseek llseek socketcall sigreturn
""".split())

# Falco events that are not system calls.
_NON_SYSCALLS = ("procexit switch container signaldeliver pluginevent page_fault procinfo drop "
                 "notification infra cpu_hotplug sysdigevent asyncevent k8s mesos tracer").split()

_EVENTS: dict[str, EventInfo] = {}


def _params(spec: str) -> tuple[Param, ...]:
    """`^fd:FD name:RELPATH(dirfd) flags:FLAGS(open_flags)` -> Params (`^` = return value)."""
    out = []
    for item in spec.split():
        ret = item.startswith("^")
        name, _, kind = item.lstrip("^").partition(":")
        ref = None
        if kind.endswith(")"):
            kind, _, ref = kind[:-1].partition("(")
        out.append(Param(name, PKind[kind], ref, ret))
    return tuple(out)


def _ev(name: str, spec: str, cat: str = "file", *, fd: str | None = None, role: str | None = None,
        guess: str | None = None, path: str | None = None, io: str | None = None,
        syscall: bool = True) -> None:
    params = _params(spec)
    if role == "create" and fd is None:
        fd = next(p.name for p in params if p.ret)
    elif fd is not None and role is None:
        role = "use"
    _EVENTS[name] = EventInfo(name, params, cat, syscall, fd, role, guess, path, io,
                              {p.name: p for p in params})


_RES = "^res:ERRNO "
_OPEN_TAIL = "flags:FLAGS(open_flags) mode:OCTAL"
_FILE_ID = "dev:HEX ino:UINT"

# -- files ---------------------------------------------------------------------------------
_ev("open", f"^fd:FD name:PATH {_OPEN_TAIL} {_FILE_ID}", role="create", guess="o", path="name")
_ev("openat", f"^fd:FD dirfd:FD name:RELPATH(dirfd) {_OPEN_TAIL} {_FILE_ID}", role="create",
    guess="f", path="name")
_ev("openat2", f"^fd:FD dirfd:FD name:RELPATH(dirfd) {_OPEN_TAIL} resolve:FLAGS(openat2_flags) "
    f"{_FILE_ID}", role="create", guess="f", path="name")
_ev("creat", f"^fd:FD name:PATH mode:OCTAL {_FILE_ID} creat_flags:FLAGS(creat_flags)",
    role="create", guess="f", path="name")
_ev("open_by_handle_at", f"^fd:FD mountfd:FD flags:FLAGS(open_flags) path:PATH {_FILE_ID}",
    role="create", guess="f", path="path")
_ev("unlink", _RES + "path:PATH")
_ev("unlinkat", _RES + "dirfd:FD name:RELPATH(dirfd) flags:FLAGS(unlinkat_flags)", fd="dirfd")
_ev("rmdir", _RES + "path:PATH")
_ev("rename", _RES + "oldpath:PATH newpath:PATH")
_REN = "olddirfd:FD oldpath:RELPATH(olddirfd) newdirfd:FD newpath:RELPATH(newdirfd)"
_ev("renameat", _RES + _REN)
_ev("renameat2", _RES + _REN + " flags:FLAGS(renameat2_flags)")
_ev("link", _RES + "oldpath:PATH newpath:PATH")
_ev("linkat", _RES + "olddir:FD oldpath:RELPATH(olddir) newdir:FD newpath:RELPATH(newdir) "
    "flags:FLAGS(linkat_flags)")
_ev("symlink", _RES + "target:STR linkpath:PATH")
_ev("symlinkat", _RES + "target:STR linkdirfd:FD linkpath:RELPATH(linkdirfd)", fd="linkdirfd")
_ev("chmod", _RES + "filename:PATH mode:MODE")
_ev("fchmod", _RES + "fd:FD mode:MODE", fd="fd")
_ev("fchmodat", _RES + "dirfd:FD filename:RELPATH(dirfd) mode:MODE", fd="dirfd")
_ev("mkdir", _RES + "path:PATH mode:OCTAL")
_ev("mkdirat", _RES + "dirfd:FD path:RELPATH(dirfd) mode:OCTAL", fd="dirfd")
_ev("chown", _RES + "path:PATH uid:UID gid:GID")
_ev("lchown", _RES + "path:PATH uid:UID gid:GID")
_ev("fchown", _RES + "fd:FD uid:UID gid:GID", fd="fd")
_ev("fchownat", _RES + "dirfd:FD pathname:RELPATH(dirfd) uid:UID gid:GID "
    "flags:FLAGS(fchownat_flags)", fd="dirfd")
_ev("mount", _RES + "dev:STR dir:PATH type:STR flags:FLAGS(mount_flags)")
_ev("umount2", _RES + "name:PATH flags:FLAGS(umount_flags)")
_ev("umount", _RES + "name:PATH")
_ev("chdir", _RES + "path:STR", "process")
_ev("fchdir", _RES + "fd:FD", "process", fd="fd")
_ev("chroot", _RES + "path:PATH", "process")
_ev("access", _RES + "mode:FLAGS(access_flags) name:PATH")
_ev("stat", _RES + "path:PATH")
_ev("lstat", _RES + "path:PATH")
_ev("fstat", _RES + "fd:FD", fd="fd")
_ev("newfstatat", _RES + "dirfd:FD path:RELPATH(dirfd) flags:FLAGS(newfstatat_flags)", fd="dirfd")
_ev("getcwd", _RES + "path:STR")
_ev("mknod", _RES + "path:PATH mode:OCTAL dev:HEX")
_ev("mknodat", _RES + "dirfd:FD path:RELPATH(dirfd) mode:OCTAL dev:HEX", fd="dirfd")
_ev("getdents", _RES + "fd:FD", fd="fd")
_ev("getdents64", _RES + "fd:FD", fd="fd")
_ev("ioctl", _RES + "fd:FD request:HEX argument:HEX", fd="fd")
_ev("close_range", _RES + "fd:FD max_fd:UINT flags:FLAGS(close_range_flags)")
_ev("splice", _RES + "fd_in:FD fd_out:FD size:UINT flags:FLAGS(splice_flags)", fd="fd_in")
_ev("fsconfig", _RES + "fd:FD cmd:ENUM(fsconfig_cmds) key:STR value_bytebuf:BYTEBUF "
    "value_charbuf:STR aux:INT", fd="fd")
_ev("quotactl", _RES + "cmd:HEX type:UINT id:UINT special:PATH", "user")
# -- I/O -----------------------------------------------------------------------------------
for _n, _io in (("read", "r"), ("write", "w"), ("pread64", "r"), ("pwrite64", "w")):
    _ev(_n, _RES + "data:BYTEBUF fd:FD size:UINT" + (" pos:UINT" if _n[0] == "p" else ""),
        "io", fd="fd", io=_io)
for _n, _io in (("readv", "r"), ("writev", "w"), ("preadv", "r"), ("pwritev", "w")):
    _ev(_n, _RES + "size:UINT data:BYTEBUF fd:FD" + (" pos:UINT" if _n[0] == "p" else ""),
        "io", fd="fd", io=_io)
_ev("sendfile", _RES + "offset:UINT out_fd:FD in_fd:FD size:UINT", "io", fd="out_fd", io="w")
_ev("lseek", _RES + "fd:FD offset:UINT whence:UINT", fd="fd")
_ev("close", _RES + "fd:FD", fd="fd", role="destroy")
# -- process, credentials, namespaces -------------------------------------------------------
_PROC = ("exe:STR args:BYTEBUF tid:PID pid:PID ptid:PID cwd:STR fdlimit:INT pgft_maj:UINT "
         "pgft_min:UINT vm_size:UINT vm_rss:UINT vm_swap:UINT comm:STR cgroups:BYTEBUF")
_EXEC = (f"{_RES}{_PROC} env:BYTEBUF tty:INT vpgid:PID loginuid:UID flags:FLAGS(execve_flags) "
         "cap_inheritable:HEX cap_permitted:HEX cap_effective:HEX exe_ino:UINT "
         "exe_ino_ctime:ABSTIME exe_ino_mtime:ABSTIME uid:UID trusted_exepath:PATH pgid:PID gid:GID")
_ev("execve", _EXEC + " filename:PATH", "process")
_ev("execveat", _EXEC + " dirfd:FD pathname:RELPATH(dirfd)", "process")
for _n in ("clone", "clone3", "fork", "vfork"):
    _ev(_n, f"^res:PID {_PROC} flags:FLAGS(clone_flags) uid:UID gid:GID vtid:PID vpid:PID "
        "pidns_init_start_ts:ABSTIME", "process")
_ev("procexit", "status:ERRNO ret:ERRNO sig:SIGTYPE core:UINT reaper_tid:PID", "process",
    syscall=False)
_ev("setuid", _RES + "uid:UID", "user")
_ev("setgid", _RES + "gid:GID", "user")
_ev("setresuid", _RES + "ruid:UID euid:UID suid:UID", "user")
_ev("setresgid", _RES + "rgid:GID egid:GID sgid:GID", "user")
_ev("setreuid", _RES + "ruid:UID euid:UID", "user")
_ev("setregid", _RES + "rgid:GID egid:GID", "user")
_ev("getuid", "^uid:UID", "user")
_ev("geteuid", "^euid:UID", "user")
_ev("getgid", "^gid:GID", "user")
_ev("getegid", "^egid:GID", "user")
_ev("setpgid", _RES + "pid:PID pgid:PID", "process")
_ev("setsid", "^res:PID", "process")
_ev("setns", _RES + "fd:FD nstype:FLAGS(clone_flags)", "process", fd="fd")
_ev("unshare", _RES + "flags:FLAGS(clone_flags)", "process")
_ev("capset", _RES + "cap_inheritable:HEX cap_permitted:HEX cap_effective:HEX", "process")
_ev("prctl", _RES + "option:ENUM(prctl_options) arg2_str:STR arg2_int:INT", "process")
_ev("ptrace", _RES + "addr:HEX data:HEX request:ENUM(ptrace_requests) pid:PID", "process")
_ev("kill", _RES + "pid:PID sig:SIGTYPE", "signal")
_ev("tkill", _RES + "tid:PID sig:SIGTYPE", "signal")
_ev("tgkill", _RES + "pid:PID tid:PID sig:SIGTYPE", "signal")
_ev("signaldeliver", "spid:PID dpid:PID sig:SIGTYPE", "signal", syscall=False)
_ev("init_module", _RES + "img:BYTEBUF length:UINT uargs:STR", "system")
_ev("finit_module", _RES + "fd:FD uargs:STR flags:FLAGS(finit_module_flags)", "system", fd="fd")
_ev("delete_module", _RES + "name:STR flags:FLAGS(delete_module_flags)", "system")
_ev("seccomp", _RES + "op:UINT flags:HEX", "process")
_ev("bpf", "^fd:FD cmd:ENUM(bpf_commands)", "system", role="create", guess="b")
_ev("userfaultfd", "^res:FD flags:FLAGS(file_flags)", role="create", guess="u")
_ev("memfd_create", "^fd:FD name:STR flags:FLAGS(memfd_create_flags)", "memory", role="create",
    guess="m")
_ev("mmap", _RES + "vm_size:UINT vm_rss:UINT vm_swap:UINT addr:HEX length:UINT "
    "prot:FLAGS(prot_flags) flags:FLAGS(mmap_flags) fd:FD offset:UINT", "memory", fd="fd")
_ev("mprotect", _RES + "addr:HEX length:UINT prot:FLAGS(prot_flags)", "memory")
_ev("munmap", _RES + "vm_size:UINT vm_rss:UINT vm_swap:UINT addr:HEX length:UINT", "memory")
_ev("mlock2", _RES + "addr:HEX len:UINT flags:FLAGS(mlock2_flags)", "memory")
_ev("mlockall", _RES + "flags:FLAGS(mlockall_flags)", "memory")
_ev("pidfd_open", "^fd:FD pid:PID flags:FLAGS(pidfd_open_flags)", "process", role="create",
    guess="P")
_ev("pidfd_getfd", "^fd:FD pid_fd:FD target_fd:FD flags:UINT", "process", role="create")
_ev("semctl", _RES + "semid:INT semnum:INT cmd:ENUM(semctl_commands) val:INT", "IPC")
# -- descriptors and network -----------------------------------------------------------------
_ev("socket", "^fd:FD domain:ENUM(socket_families) type:UINT proto:UINT "
    "flags:FLAGS(file_flags)", "net", role="create", guess="4")
_ev("socketpair", _RES + "fd1:FD fd2:FD source:HEX peer:HEX domain:ENUM(socket_families) "
    "type:UINT proto:UINT", "net", fd="fd1", role="create", guess="u")
_ev("bind", _RES + "addr:SOCKADDR fd:FD", "net", fd="fd")
_ev("listen", _RES + "fd:FD backlog:INT", "net", fd="fd")
_ev("connect", _RES + "tuple:SOCKTUPLE fd:FD addr:SOCKADDR", "net", fd="fd")
_ACC = "^fd:FD tuple:SOCKTUPLE queuepct:UINT queuelen:UINT queuemax:UINT"
_ev("accept", _ACC, "net", role="create", guess="4")
_ev("accept4", _ACC + " flags:INT", "net", role="create", guess="4")
for _n in ("sendto", "sendmsg"):
    _ev(_n, _RES + "data:BYTEBUF fd:FD size:UINT tuple:SOCKTUPLE", "io", fd="fd", io="w")
_ev("recvfrom", _RES + "data:BYTEBUF tuple:SOCKTUPLE fd:FD size:UINT", "io", fd="fd", io="r")
_ev("recvmsg", _RES + "size:UINT data:BYTEBUF tuple:SOCKTUPLE msgcontrol:BYTEBUF fd:FD", "io",
    fd="fd", io="r")
_ev("shutdown", _RES + "fd:FD how:UINT", "net", fd="fd")
for _n in ("setsockopt", "getsockopt"):
    _ev(_n, _RES + "fd:FD level:INT optname:INT val:BYTEBUF optlen:UINT", "net", fd="fd")
_ev("dup", "^res:FD oldfd:FD", role="create")
_ev("dup2", "^res:FD oldfd:FD newfd:FD", role="create")
_ev("dup3", "^res:FD oldfd:FD newfd:FD flags:FLAGS(file_flags)", role="create")
_ev("pipe", _RES + "fd1:FD fd2:FD ino:UINT", "IPC", fd="fd1", role="create", guess="p")
_ev("pipe2", _RES + "fd1:FD fd2:FD ino:UINT flags:FLAGS(file_flags)", "IPC", fd="fd1",
    role="create", guess="p")
_ev("fcntl", "^res:FD fd:FD cmd:ENUM(fcntl_commands) arg:UINT", fd="fd")
_ev("eventfd", "^res:FD initval:UINT flags:UINT", "IPC", role="create", guess="e")
_ev("eventfd2", "^res:FD initval:UINT flags:FLAGS(file_flags)", "IPC", role="create", guess="e")
_ev("signalfd", "^res:FD fd:FD mask:UINT flags:UINT", "signal", role="create", guess="s")
_ev("signalfd4", "^res:FD fd:FD mask:UINT flags:FLAGS(file_flags)", "signal", role="create",
    guess="s")
_ev("inotify_init", "^res:FD flags:UINT", role="create", guess="i")
_ev("inotify_init1", "^res:FD flags:FLAGS(file_flags)", role="create", guess="i")
_ev("timerfd_create", "^res:FD clockid:UINT flags:UINT", "time", role="create", guess="t")
_ev("epoll_create", "^res:FD size:INT", "wait", role="create", guess="l")
_ev("epoll_create1", "^res:FD flags:FLAGS(file_flags)", "wait", role="create", guess="l")
_ev("io_uring_setup", "^res:FD entries:UINT sq_entries:UINT cq_entries:UINT flags:HEX "
    "sq_thread_cpu:UINT sq_thread_idle:UINT features:HEX", role="create", guess="r")
_ev("io_uring_enter", _RES + "fd:FD to_submit:UINT min_complete:UINT flags:HEX sig:HEX",
    fd="fd")
# -- other non-syscall events ----------------------------------------------------------------
_ev("switch", "next:PID pgft_maj:UINT pgft_min:UINT vm_size:UINT vm_rss:UINT vm_swap:UINT",
    "scheduler", syscall=False)
_ev("container", "id:STR type:UINT name:STR image:STR", "internal", syscall=False)
_ev("pluginevent", "plugin_id:UINT event_data:BYTEBUF", "plugin", syscall=False)
_ev("asyncevent", "plugin_id:UINT name:STR data:BYTEBUF", "internal", syscall=False)

for _n in sorted(SYSCALL_NAMES):
    _EVENTS.setdefault(_n, EventInfo(_n, category="other", by_name={}))
for _n in _NON_SYSCALLS:
    _EVENTS.setdefault(_n, EventInfo(_n, category="internal", syscall=False, by_name={}))

#: Every event type by name.
EVENTS: Mapping[str, EventInfo] = _EVENTS
#: Every valid `evt.type` / `syscall.type` constant.
EVENT_NAMES: frozenset[str] = frozenset(_EVENTS)
#: Every parameter name of any event (valid NAME in `evt.arg.NAME` / `evt.rawarg.NAME`).
ARG_NAMES: frozenset[str] = frozenset(p.name for e in _EVENTS.values() for p in e.params)


def event_info(name: str) -> EventInfo | None:
    """The table entry of an event type, or None when the name is unknown."""
    return _EVENTS.get(name)
