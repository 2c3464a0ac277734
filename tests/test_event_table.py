"""The event table: known event names, parameter lists and kinds, fd designation."""

from __future__ import annotations

import pytest

from falcoish.events.table import ARG_NAMES, EVENT_NAMES, EVENTS, SYSCALL_NAMES, PKind, event_info
from falcoish.fields.flags import TABLE_NAMES

# evt.type values compared in the three upstream rules files (fields.md §1).
CORPUS_TYPES = """accept accept4 bpf chmod connect creat dup dup2 dup3 execve execveat fchmod fchmodat
finit_module init_module link linkat listen mkdir mkdirat open openat openat2 ptrace recvfrom
recvmsg rename renameat renameat2 rmdir sendmsg sendto setns setuid socket symlink symlinkat unlink
unlinkat unshare userfaultfd""".split()
CORPUS_ARGS = "flags path name oldpath newpath uid mode request cmd target linkpath filename domain fd".split()


def test_corpus_event_types_are_known() -> None:
    assert len(CORPUS_TYPES) == 41
    assert set(CORPUS_TYPES) <= EVENT_NAMES


@pytest.mark.parametrize("name", ["umount2", "newfstatat", "fchmodat2", "clone3", "io_uring_setup",
                                  "getpid", "read", "pidfd_getfd", "futex_waitv", "mseal"])
def test_syscalls_are_known(name: str) -> None:
    assert name in SYSCALL_NAMES and name in EVENT_NAMES
    assert EVENTS[name].syscall


@pytest.mark.parametrize("name", ["procexit", "switch", "container", "signaldeliver", "pluginevent",
                                  "asyncevent", "page_fault"])
def test_non_syscall_events_are_known(name: str) -> None:
    assert name in EVENT_NAMES
    assert not EVENTS[name].syscall


def test_whole_x86_64_table_is_present() -> None:
    assert len(SYSCALL_NAMES) > 370
    for name in ("foo", "Open", "openat ", "", "sys_openat"):
        assert name not in EVENT_NAMES
    assert event_info("foo") is None


def test_corpus_argument_names_exist() -> None:
    assert set(CORPUS_ARGS) <= ARG_NAMES
    assert "foo" not in ARG_NAMES


def test_openat_parameters_in_falco_order() -> None:
    info = EVENTS["openat"]
    assert [p.name for p in info.params] == ["fd", "dirfd", "name", "flags", "mode", "dev", "ino"]
    assert [p.kind for p in info.params][:5] == [PKind.FD, PKind.FD, PKind.RELPATH, PKind.FLAGS,
                                                PKind.OCTAL]
    assert info.by_name["name"].ref == "dirfd"
    assert info.by_name["flags"].ref == "open_flags"
    assert info.params[0].ret
    assert (info.fd_param, info.fd_role, info.fd_guess, info.path_param) == ("fd", "create", "f", "name")


@pytest.mark.parametrize("evtype,param,role", [
    ("open", "fd", "create"), ("unlinkat", "dirfd", "use"), ("mkdirat", "dirfd", "use"),
    ("fchmodat", "dirfd", "use"), ("fchownat", "dirfd", "use"), ("symlinkat", "linkdirfd", "use"),
    ("dup", "res", "create"), ("dup2", "res", "create"), ("close", "fd", "destroy"),
    ("connect", "fd", "use"), ("accept4", "fd", "create"), ("mmap", "fd", "use"),
    ("setns", "fd", "use"), ("fchdir", "fd", "use"), ("finit_module", "fd", "use"),
    ("fchmod", "fd", "use"), ("bpf", "fd", "create"), ("memfd_create", "fd", "create"),
    ("userfaultfd", "res", "create"), ("socket", "fd", "create"), ("sendto", "fd", "use"),
])
def test_event_fd_designation(evtype: str, param: str, role: str) -> None:
    info = EVENTS[evtype]
    assert (info.fd_param, info.fd_role) == (param, role)


@pytest.mark.parametrize("evtype", ["rename", "renameat", "link", "linkat", "unlink", "rmdir",
                                    "chmod", "mkdir", "execve", "clone", "setuid", "ptrace", "mount",
                                    "unshare", "procexit", "getpid"])
def test_events_without_fd(evtype: str) -> None:
    assert EVENTS[evtype].fd_param is None


# Who carries the corpus' evt.arg names (fields.md §2.3), for the events falcoish describes.
CARRIERS = {
    "flags": "open openat openat2 open_by_handle_at execve execveat clone clone3 fork vfork unshare "
             "mount umount2 dup3 pipe2 socket accept4 userfaultfd memfd_create renameat2 linkat "
             "unlinkat fchownat mmap finit_module eventfd2 signalfd4 inotify_init1 epoll_create1 "
             "close_range splice seccomp mlock2 mlockall newfstatat delete_module",
    "path": "unlink rmdir mkdir mkdirat chown lchown chdir chroot open_by_handle_at getcwd stat "
            "lstat newfstatat mknod mknodat",
    "name": "open openat openat2 creat unlinkat memfd_create umount2 access delete_module",
    "oldpath": "rename renameat renameat2 link linkat",
    "uid": "setuid execve execveat clone clone3 fork vfork chown fchown fchownat lchown getuid",
    "mode": "open openat openat2 creat mkdir mkdirat chmod fchmod fchmodat mknod mknodat access",
    "request": "ptrace", "cmd": "bpf fcntl fsconfig semctl", "target": "symlink symlinkat",
    "linkpath": "symlink symlinkat", "filename": "chmod fchmodat execve", "domain": "socket socketpair",
    "fd": "open openat connect bind listen accept accept4 sendto recvfrom read write close fchmod "
          "fchown fchdir fcntl setns mmap finit_module bpf memfd_create socket ioctl",
}


@pytest.mark.parametrize("arg", sorted(CARRIERS))
def test_argument_carriers(arg: str) -> None:
    for evtype in CARRIERS[arg].split():
        assert arg in EVENTS[evtype].by_name, (arg, evtype)
    assert "flags" not in EVENTS["chmod"].by_name


def test_table_is_consistent() -> None:
    for name, info in EVENTS.items():
        assert info.name == name
        assert sum(p.ret for p in info.params) <= 1, name
        assert len({p.name for p in info.params}) == len(info.params), name
        assert set(info.by_name) == {p.name for p in info.params}
        for p in info.params:
            if p.kind in (PKind.FLAGS, PKind.ENUM):
                assert p.ref in TABLE_NAMES, (name, p)
            if p.kind is PKind.RELPATH:
                assert p.ref is not None and info.by_name[p.ref].kind is PKind.FD, (name, p)
        if info.fd_param is not None:
            assert info.by_name[info.fd_param].kind is PKind.FD, name
            assert info.fd_role in ("create", "use", "destroy"), name
        if info.path_param is not None:
            assert info.by_name[info.path_param].kind in (PKind.PATH, PKind.RELPATH), name
        assert info.io in (None, "r", "w")
