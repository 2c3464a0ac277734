"""Tracee input (`--input tracee`): the TRC matrix.

The events below are written in Tracee's JSON format, in its old flat shape (v0.8: top-level
`containerId`, `containerImage`, `podName`..., flags as parsed text) and its new nested shape
(v0.18+: `container`/`kubernetes`/`executable` objects, raw integer arguments).  They are
replayed through the default rules, which must raise the TRC detection each case names, and
must not on its near miss.  Rules are found by their `TRC-N` tag, not their name.  The same
through the CLI, with exact alerts: tests/test_tracee_streams.py; mapping details:
tests/test_tracee_mapping.py; `--output tracee`: tests/test_tracee_output.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from falcoish.events.event import Event
from falcoish.rules.loader import LoadResult

from .tracee_kit import (HOST_MOD, IN_POD, O_RDONLY, O_RDONLY_CLOEXEC, O_RDWR, O_WRONLY_APPEND,
                         O_WRONLY_CREAT, O_WRONLY_TRUNC, SHAPES, V, ev, exec_, file_open, fired,
                         load_default_rules, ptrace, read, records, sockaddr, sys_openat,
                         trc_rules, write_jsonl)


@pytest.fixture(scope="module")
def default_rules() -> LoadResult:
    return load_default_rules()


Case = tuple[str, str, list[dict[str, Any]], bool]
CASES: list[Case] = [
    # TRC-1: standard I/O on a socket
    ("connect-on-stdin", "TRC-1", [ev("security_socket_connect", [
        ("sockfd", "int", 0), ("remote_addr", "struct sockaddr*", sockaddr("203.0.113.7", 4444))],
        comm="bash")], True),
    ("connect-then-dup2", "TRC-1", [
        ev("security_socket_connect", [("sockfd", "int", 3),
                                       ("remote_addr", "struct sockaddr*", sockaddr("2001:db8::66", 443, True))],
           comm="bash"),
        ev("dup2", [("oldfd", "int", 3), ("newfd", "int", 0)], ret=0, comm="bash")], True),
    ("socket-dup", "TRC-1", [ev("socket_dup", [
        ("oldfd", "int", 3), ("newfd", "int", 1),
        ("remote_addr", "struct sockaddr*", sockaddr("203.0.113.7", 4444))], comm="python3",
        syscall="dup2")], True),
    ("near-miss-dup2-without-socket", "TRC-1", [
        ev("dup2", [("oldfd", "int", 3), ("newfd", "int", 0)], ret=0, comm="bash")], False),
    ("near-miss-socket-onto-fd-5", "TRC-1", [
        ev("security_socket_connect", [("sockfd", "int", 3),
                                       ("remote_addr", "struct sockaddr*", sockaddr("203.0.113.7", 4444))]),
        ev("dup2", [("oldfd", "int", 3), ("newfd", "int", 5)], ret=5)], False),
    ("near-miss-dup-in-another-process", "TRC-1", [
        ev("security_socket_connect", [("sockfd", "int", 3),
                                       ("remote_addr", "struct sockaddr*", sockaddr("203.0.113.7", 4444))]),
        ev("dup2", [("oldfd", "int", 3), ("newfd", "int", 0)], ret=0, pid=4243)], False),
    ("near-miss-closed-before-dup", "TRC-1", [
        ev("security_socket_connect", [("sockfd", "int", 3),
                                       ("remote_addr", "struct sockaddr*", sockaddr("203.0.113.7", 4444))]),
        ev("close", [("fd", "int", 3)]),
        ev("dup2", [("oldfd", "int", 3), ("newfd", "int", 0)], ret=0)], False),
    # TRC-2: anti-debugging
    ("ptrace-traceme", "TRC-2", [ptrace(V("PTRACE_TRACEME", 0), pid=0)], True),
    ("near-miss-ptrace-peektext", "TRC-2", [ptrace(V("PTRACE_PEEKTEXT", 1))], False),
    # TRC-3: code injection
    ("ptrace-poketext", "TRC-3", [ptrace(V("PTRACE_POKETEXT", 4))], True),
    ("proc-mem-opened-for-write", "TRC-3", [sys_openat("/proc/1234/mem", O_RDWR, 3)], True),
    ("process-vm-writev", "TRC-3", [ev("process_vm_writev", [
        ("pid", "pid_t", 1234), ("local_iov", "const struct iovec*", V("0x7ffd1000", 2147291136)),
        ("liovcnt", "unsigned long", 1), ("remote_iov", "const struct iovec*", V("0x7ffd2000", 2147295232)),
        ("riovcnt", "unsigned long", 1), ("flags", "unsigned long", 0)], ret=64)], True),
    ("near-miss-ptrace-peekdata", "TRC-3", [ptrace(V("PTRACE_PEEKDATA", 2))], False),
    ("near-miss-proc-maps-read", "TRC-3", [sys_openat("/proc/1234/maps", O_RDONLY, 3)], False),
    ("near-miss-process-vm-writev-denied", "TRC-3", [ev("process_vm_writev", [("pid", "pid_t", 1)], ret=-1)],
     False),
    # TRC-4: writable+executable memory
    ("mem-prot-alert-wx-mmap", "TRC-4", [ev("mem_prot_alert", [
        ("alert", "u32", V("Mmaped region with W+E permissions!", 1)),
        ("addr", "void*", V("0x7f1000000000", 139637976727552)), ("len", "size_t", 4096),
        ("prot", "int", V("PROT_READ|PROT_WRITE|PROT_EXEC", 7))], comm="loader")], True),
    ("mprotect-wx", "TRC-4", [ev("mprotect", [("addr", "void*", 139637976727552), ("len", "size_t", 4096),
                                              ("prot", "int", V("PROT_WRITE|PROT_EXEC", 6))],
                                 comm="loader")], True),
    ("near-miss-mprotect-rx", "TRC-4", [ev("mprotect", [("addr", "void*", 139637976727552),
                                                        ("len", "size_t", 4096),
                                                        ("prot", "int", V("PROT_READ|PROT_EXEC", 5))])],
     False),
    ("near-miss-jit-runtime", "TRC-4", [
        exec_("/usr/lib/jvm/java-17/bin/java", ["java", "-jar", "app.jar"]),
        ev("mprotect", [("addr", "void*", 139637976727552), ("len", "size_t", 4096),
                        ("prot", "int", V("PROT_READ|PROT_WRITE|PROT_EXEC", 7))], comm="C2 CompilerThre",
           tid=4250, exe="/usr/lib/jvm/java-17/bin/java")], False),
    # TRC-5: fileless execution
    ("exec-from-memfd", "TRC-5", [exec_("memfd:payload", ["payload"], comm="3")], True),
    ("exec-from-dev-shm", "TRC-5", [exec_("/dev/shm/.x/miner", ["./miner", "-o", "pool:3333"])], True),
    ("near-miss-runc-memfd-on-host", "TRC-5", [exec_("memfd:runc_cloned:/proc/self/exe",
                                                     ["runc", "init"], comm="runc:[0:PARENT]")], False),
    ("near-miss-exec-from-usr-bin", "TRC-5", [exec_("/usr/bin/ls", ["ls", "-l"])], False),
    # TRC-6: kernel module loading
    ("init-module", "TRC-6", [ev("init_module", [
        ("module_image", "void*", V("0x55d0c0a00000", 94355020644352)), ("len", "unsigned long", 24576),
        ("param_values", "const char*", "")], **HOST_MOD)], True),
    ("finit-module", "TRC-6", [ev("finit_module", [("fd", "int", 3), ("param_values", "const char*", ""),
                                                   ("flags", "int", 0)], **HOST_MOD)], True),
    ("kernel-read-file-module", "TRC-6", [ev("security_kernel_read_file", [
        ("pathname", "const char*", "/tmp/diamorphine.ko"), ("dev", "dev_t", 2049),
        ("inode", "unsigned long", 5555), ("type", "int", V("kernel-module", 2))], **HOST_MOD)], True),
    ("near-miss-kernel-read-firmware", "TRC-6", [ev("security_kernel_read_file", [
        ("pathname", "const char*", "/lib/firmware/iwlwifi.ucode"), ("dev", "dev_t", 2049),
        ("inode", "unsigned long", 5556), ("type", "int", V("firmware", 1))], comm="kworker/u8:2")], False),
    ("near-miss-boot-module-load", "TRC-6", [ev("finit_module", [
        ("fd", "int", 3), ("param_values", "const char*", ""), ("flags", "int", 0)],
        comm="systemd-udevd")], False),
    # TRC-7: LD_PRELOAD
    ("exec-with-ld-preload", "TRC-7", [exec_("/usr/bin/sshd", ["sshd", "-D"],
                                             ["PATH=/usr/bin", "LD_PRELOAD=/tmp/.lib/hook.so"])], True),
    ("execve-envp-ld-preload", "TRC-7", [ev("execve", [
        ("pathname", "const char*", "/usr/bin/id"), ("argv", "const char*const*", ["id"]),
        ("envp", "const char*const*", ["HOME=/root", "LD_PRELOAD=/dev/shm/libx.so"])], comm="bash")], True),
    ("ld-so-preload-renamed-onto", "TRC-7", [ev("security_inode_rename", [
        ("old_path", "const char*", "/tmp/p"), ("new_path", "const char*", "/etc/ld.so.preload")])], True),
    ("ld-so-preload-opened-for-write", "TRC-7", [sys_openat("/etc/ld.so.preload", O_WRONLY_APPEND, 3)], True),
    ("near-miss-known-preload", "TRC-7", [exec_("/usr/bin/dpkg-deb", ["dpkg-deb", "-b", "pkg"],
                                                ["LD_PRELOAD=libfakeroot-sysv.so"])], False),
    ("near-miss-ld-so-preload-read", "TRC-7", [sys_openat("/etc/ld.so.preload", O_RDONLY_CLOEXEC, 3)], False),
    # TRC-9: new executable in a container (default rules: created with an execute bit)
    ("exec-file-created-in-container", "TRC-9", [sys_openat(
        "/tmp/kinsing", O_WRONLY_CREAT, 3, V("0755", 0o755), container=IN_POD, comm="curl")], True),
    ("chmod-x-in-container", "TRC-9", [ev("chmod", [("pathname", "const char*", "/tmp/kinsing"),
                                                    ("mode", "mode_t", V("0755", 0o755))],
                                          container=IN_POD, comm="chmod")], True),
    ("near-miss-exec-file-on-host", "TRC-9", [sys_openat("/tmp/kinsing", O_WRONLY_CREAT, 3, V("0755", 0o755),
                                                         comm="curl")], False),
    ("near-miss-plain-file-in-container", "TRC-9", [sys_openat(
        "/tmp/notes.txt", O_WRONLY_CREAT, 3, V("0644", 0o644), container=IN_POD, comm="curl")], False),
    # TRC-10: Kubernetes PKI theft
    ("pki-read-by-cat", "TRC-10", [sys_openat("/etc/kubernetes/pki/ca.key", O_RDONLY, 5, comm="cat")], True),
    ("pki-renamed-out", "TRC-10", [ev("security_inode_rename", [
        ("old_path", "const char*", "/etc/kubernetes/pki/apiserver.key"),
        ("new_path", "const char*", "/tmp/k")], comm="mv")], True),
    ("near-miss-pki-read-by-apiserver", "TRC-10", [sys_openat("/etc/kubernetes/pki/ca.key", O_RDONLY, 5,
                                                              comm="kube-apiserver")], False),
    ("near-miss-other-file-read", "TRC-10", [sys_openat("/etc/kubernetes/admin.conf.bak", O_RDONLY, 5,
                                                        comm="cat")], False),
    # TRC-11: device mount in a container
    ("sb-mount-dev-in-container", "TRC-11", [ev("security_sb_mount", [
        ("dev_name", "const char*", "/dev/sda1"), ("path", "const char*", "/mnt/host"),
        ("type", "const char*", "ext4"), ("flags", "unsigned long", 0)],
        container=IN_POD, comm="mount", pid=5001, vpid=57)], True),
    ("mount-syscall-dev-in-container", "TRC-11", [ev("mount", [
        ("source", "const char*", "/dev/nvme0n1p1"), ("target", "const char*", "/host"),
        ("filesystemtype", "const char*", "xfs"), ("mountflags", "unsigned long", V("MS_RDONLY", 1)),
        ("data", "const void*", V("0x0", 0))], container=IN_POD, comm="mount", pid=5001, vpid=57)], True),
    ("near-miss-runc-init-mount", "TRC-11", [ev("security_sb_mount", [
        ("dev_name", "const char*", "/dev/mqueue"), ("path", "const char*", "/dev/mqueue"),
        ("type", "const char*", "mqueue"), ("flags", "unsigned long", 0)],
        container=IN_POD, comm="runc:[2:INIT]", pid=5000, vpid=1)], False),
    ("near-miss-dev-mount-on-host", "TRC-11", [ev("security_sb_mount", [
        ("dev_name", "const char*", "/dev/sdb1"), ("path", "const char*", "/mnt/usb"),
        ("type", "const char*", "vfat"), ("flags", "unsigned long", 0)], comm="mount")], False),
    # TRC-12: shell spawned by a web server
    ("nginx-forks-sh", "TRC-12", [
        ev("close", [("fd", "int", 12)], comm="nginx", pid=300, ppid=1, exe="/usr/sbin/nginx"),
        ev("sched_process_fork", [("parent_tid", "int", 300), ("parent_ns_tid", "int", 300),
                                  ("parent_pid", "int", 300), ("parent_ns_pid", "int", 300),
                                  ("child_tid", "int", 301), ("child_ns_tid", "int", 301),
                                  ("child_pid", "int", 301), ("child_ns_pid", "int", 301)],
           comm="nginx", pid=300, ppid=1, ret=301, exe="/usr/sbin/nginx"),
        exec_("/usr/bin/dash", ["sh", "-c", "id"], comm="sh", pid=301, ppid=300)], True),
    ("nginx-execve-sh", "TRC-12", [
        ev("close", [("fd", "int", 12)], comm="nginx", pid=300, ppid=1, exe="/usr/sbin/nginx"),
        ev("execve", [("pathname", "const char*", "/bin/sh"), ("argv", "const char**", ["sh", "-c", "id"])],
           comm="nginx", pid=301, ppid=300, exe="/usr/sbin/nginx")], True),
    ("near-miss-shell-from-bash", "TRC-12", [
        ev("close", [("fd", "int", 12)], comm="bash", pid=300, ppid=1, exe="/usr/bin/bash"),
        exec_("/usr/bin/dash", ["sh", "-c", "id"], comm="sh", pid=301, ppid=300)], False),
    ("near-miss-nginx-runs-logger", "TRC-12", [
        ev("close", [("fd", "int", 12)], comm="nginx", pid=300, ppid=1, exe="/usr/sbin/nginx"),
        exec_("/usr/bin/logger", ["logger", "x"], pid=301, ppid=300)], False),
    # TRC-13: API server contacted from a pod
    ("pod-contacts-api-server", "TRC-13", [
        exec_("/usr/bin/python3", ["python3", "enum.py"],
              ["KUBERNETES_SERVICE_HOST=10.0.0.10", "KUBERNETES_SERVICE_PORT=6443"],
              container=IN_POD, pid=6000, vpid=12),
        ev("security_socket_connect", [("sockfd", "int", 3),
                                       ("remote_addr", "struct sockaddr*", sockaddr("10.0.0.10", 6443))],
           container=IN_POD, comm="python3", pid=6000, vpid=12)], True),
    ("near-miss-pod-contacts-web", "TRC-13", [
        exec_("/usr/bin/python3", ["python3", "get.py"],
              ["KUBERNETES_SERVICE_HOST=10.0.0.10", "KUBERNETES_SERVICE_PORT=6443"],
              container=IN_POD, pid=6000, vpid=12),
        ev("security_socket_connect", [("sockfd", "int", 3),
                                       ("remote_addr", "struct sockaddr*", sockaddr("93.184.216.34", 443))],
           container=IN_POD, comm="python3", pid=6000, vpid=12)], False),
    ("near-miss-host-contacts-api-server", "TRC-13", [
        exec_("/usr/bin/kubectl", ["kubectl", "get", "pods"], ["KUBERNETES_SERVICE_HOST=10.0.0.10"],
              pid=6100),
        ev("security_socket_connect", [("sockfd", "int", 3),
                                       ("remote_addr", "struct sockaddr*", sockaddr("10.0.0.10", 6443))],
           comm="kubectl", pid=6100)], False),
    # TRC-14: cgroup release_agent
    ("release-agent-renamed-onto", "TRC-14", [ev("security_inode_rename", [
        ("old_path", "const char*", "/sys/fs/cgroup/rdma/x"),
        ("new_path", "const char*", "/sys/fs/cgroup/rdma/release_agent")],
        container=IN_POD, comm="mv")], True),
    ("release-agent-opened-for-write", "TRC-14", [sys_openat(
        "/sys/fs/cgroup/rdma/release_agent", O_WRONLY_TRUNC, 3, container=IN_POD, comm="sh")], True),
    ("near-miss-release-agent-on-host", "TRC-14", [sys_openat(
        "/sys/fs/cgroup/rdma/release_agent", O_WRONLY_TRUNC, 3, comm="sh")], False),
    ("near-miss-release-agent-read", "TRC-14", [sys_openat(
        "/sys/fs/cgroup/rdma/release_agent", O_RDONLY, 3, container=IN_POD, comm="cat")], False),
]

# The classic signatures' own event for TRC-3 (/proc/PID/mem), TRC-7 (/etc/ld.so.preload),
# TRC-10 and TRC-14: security_file_open.  It does not report the descriptor number.
LSM_OPEN_CASES: list[Case] = [
    ("lsm-proc-mem-write", "TRC-3", [file_open("/proc/1234/mem", O_RDWR)], True),
    ("lsm-ld-so-preload-write", "TRC-7", [file_open("/etc/ld.so.preload", O_WRONLY_TRUNC)], True),
    ("lsm-pki-read", "TRC-10", [file_open("/etc/kubernetes/pki/ca.key", O_RDONLY, comm="cat")], True),
    ("lsm-release-agent-write", "TRC-14", [file_open("/sys/fs/cgroup/rdma/release_agent", O_WRONLY_TRUNC,
                                                     container=IN_POD, comm="sh")], True),
    ("near-miss-lsm-pki-read-by-kubelet", "TRC-10", [file_open("/etc/kubernetes/pki/ca.crt", O_RDONLY,
                                                               comm="kubelet")], False),
    ("near-miss-lsm-release-agent-read", "TRC-14", [file_open("/sys/fs/cgroup/rdma/release_agent", O_RDONLY,
                                                              container=IN_POD, comm="cat")], False),
]

def _run_case(tmp_path: Path, loaded: LoadResult, shape: str, case: Case) -> tuple[set[str], list[Event]]:
    name, trc, events, _ = case
    if trc not in trc_rules(loaded):
        pytest.skip(f"no default rule is tagged {trc}")
    path = write_jsonl(tmp_path / f"{name}.{shape}.jsonl", records(shape, events))
    evs, bad = read(path)
    assert bad == []
    return fired(loaded, evs), evs


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_tracee_events_raise_trc_detections(tmp_path: Path, default_rules: LoadResult, shape: str,
                                           case: Case) -> None:
    tags, _ = _run_case(tmp_path, default_rules, shape, case)
    _, trc, _, fires = case
    assert (trc in tags) is fires, f"{trc} {'did not fire' if fires else 'fired'}; fired: {sorted(tags)}"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", LSM_OPEN_CASES, ids=[c[0] for c in LSM_OPEN_CASES])
def test_security_file_open_raises_trc_detections(tmp_path: Path, default_rules: LoadResult, shape: str,
                                                  case: Case) -> None:
    tags, evs = _run_case(tmp_path, default_rules, shape, case)
    _, trc, _, fires = case
    if not fires:
        assert trc not in tags
        return
    assert trc in tags, f"{trc} did not fire on security_file_open (no fd number)"


def test_every_required_trc_is_covered(default_rules: LoadResult) -> None:
    """Each TRC the default rules tag has a firing case and a near miss above."""
    covered = {trc for _, trc, _, fires in CASES if fires}
    missed = {trc for _, trc, _, fires in CASES if not fires}
    for trc in trc_rules(default_rules):
        assert trc in covered and trc in missed, trc
