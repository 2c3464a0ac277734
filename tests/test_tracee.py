"""Tracee input (`--input tracee`) and tracee-rules output (`--output tracee`).

The events below are written in Tracee's JSON format, in its old flat shape (v0.8: top-level
`containerId`, `containerImage`, `podName`..., flags as parsed text) and its new nested shape
(v0.18+: `container`/`kubernetes`/`executable` objects, raw integer arguments).  They are
replayed through the default rules, which must raise the TRC detection each case names, and
must not on its near miss.  Rules are found by their `TRC-N` tag, not their name.
"""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import orjson
import pytest

import falcoish
from falcoish.engine import Engine
from falcoish.event import Event
from falcoish.loader import LoadResult
from falcoish.output.format import Alert
from falcoish.output.tracee import format_detection, go_value, signature_id
from falcoish.sources.tracee import TraceeEvent, read_tracee_events

DEFAULT_RULES = Path(__file__).parents[1] / "default_rules"
TS = 1_700_000_000_000_000_000
CID = "3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e"
IN_POD = {"id": CID, "name": "k8s_web_web-1_default", "image": "docker.io/library/nginx:1.25",
          "pod": "web-1", "namespace": "default", "pod_uid": "5d1b6b3e-1111-2222-3333-444455556666"}
SHAPES = ("flat", "nested")


class V(NamedTuple):
    """An argument value as Tracee prints it with parse-arguments (`text`, used in the flat
    shape, as the classic signatures required) and without (`raw`, used in the nested one)."""

    text: Any
    raw: Any


def tracee(shape: str, name: str, args: list[tuple[str, str, Any]] | None = None, *,
           ret: int = 0, comm: str = "sample", pid: int = 4242, tid: int | None = None,
           ppid: int = 900, vpid: int | None = None, vtid: int | None = None, vppid: int | None = None,
           uid: int = 0, container: dict[str, str] | None = None, exe: str | None = None,
           syscall: str | None = None, ts: int = TS, host: str = "node-1") -> dict[str, Any]:
    """One Tracee event record in the given shape."""
    tid = pid if tid is None else tid
    c = container or {}
    rec: dict[str, Any] = {
        "timestamp": ts, "threadStartTime": TS - 5_000_000_000 - tid, "processorId": 1,
        "processId": pid if vpid is None else vpid, "cgroupId": 7421,
        "threadId": (vpid if vpid is not None and tid == pid else tid) if vtid is None else vtid,
        "parentProcessId": ppid if vppid is None else vppid,
        "hostProcessId": pid, "hostThreadId": tid, "hostParentProcessId": ppid, "userId": uid,
        "mountNamespace": 4026531840, "pidNamespace": 4026531836, "processName": comm,
        "hostName": host,
    }
    if shape == "flat":
        rec.update(containerId=c.get("id", ""), containerImage=c.get("image", ""),
                   containerName=c.get("name", ""), podName=c.get("pod", ""),
                   podNamespace=c.get("namespace", ""), podUID=c.get("pod_uid", ""))
    else:
        rec["executable"] = {"path": exe or ""}
        rec["containerId"] = c.get("id", "")
        rec["container"] = {k: c[k] for k in ("id", "name", "image") if k in c}
        rec["kubernetes"] = {key: c[k] for k, key in (("pod", "podName"), ("namespace", "podNamespace"),
                                                       ("pod_uid", "podUID")) if k in c}
        rec["processEntityId"] = pid * 7919
        rec["matchedPolicies"] = ["default"]
        if syscall:
            rec["syscall"] = syscall
    def value(v: Any) -> Any:
        return (v.text if shape == "flat" else v.raw) if isinstance(v, V) else v
    values = [{"name": n, "type": t, "value": value(v)} for n, t, v in args or []]
    rec.update(eventId="1", eventName=name, argsNum=len(values), returnValue=ret,
               stackAddresses=None, contextFlags={"containerStarted": bool(c)}, args=values)
    return rec


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


@pytest.fixture(scope="module")
def default_rules() -> LoadResult:
    loaded = falcoish.load_rules([str(DEFAULT_RULES)])
    assert loaded.ok, [str(p) for p in loaded.errors]
    return loaded


def trc_rules(loaded: LoadResult) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in loaded.rules:
        for tag in rule.tags:
            if tag.upper().startswith("TRC-"):
                out.setdefault(tag.upper(), set()).add(rule.name)
    return out


def read(path: Path) -> tuple[list[Event], list[tuple[int, str]]]:
    bad: list[tuple[int, str]] = []
    events = list(read_tracee_events(str(path), lambda n, r: bad.append((n, r))))
    return events, bad


def fired(loaded: LoadResult, events: list[Event]) -> set[str]:
    """The TRC tags of every rule the events fire (all matching rules, not only the first)."""
    engine = Engine.from_load(loaded, rule_matching="all")
    tags: set[str] = set()
    for event in events:
        for alert in engine.process(event):
            tags.update(t.upper() for t in alert.tags if t.upper().startswith("TRC-"))
    return tags


# ------------------------------------------------------------------------------------------
# The TRC matrix: (id, TRC, events as tracee() keyword sets, fires?)
# ------------------------------------------------------------------------------------------

def ev(name: str, args: list[tuple[str, str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    return {"name": name, "args": args or [], **kw}


def sockaddr(ip: str, port: int, v6: bool = False) -> V:
    if v6:
        return V({"sa_family": "AF_INET6", "sin6_addr": ip, "sin6_port": str(port),
                  "sin6_flowinfo": "0", "sin6_scopeid": "0"},
                 {"sa_family": "AF_INET6", "sin6_addr": ip, "sin6_port": str(port),
                  "sin6_flowinfo": "0", "sin6_scopeid": "0"})
    return V({"sa_family": "AF_INET", "sin_addr": ip, "sin_port": str(port)},
             {"sa_family": "AF_INET", "sin_addr": ip, "sin_port": str(port)})


def file_open(path: str, flags: V, **kw: Any) -> dict[str, Any]:
    """security_file_open, the LSM event classic TRC-3/7/10/14 use."""
    return ev("security_file_open", [("pathname", "const char*", path), ("flags", "int", flags),
                                     ("dev", "dev_t", 45), ("inode", "unsigned long", 91234),
                                     ("ctime", "unsigned long", TS - 10**12),
                                     ("syscall_pathname", "const char*", path)],
              syscall="openat", **kw)


def sys_openat(path: str, flags: V, fd: int, mode: V | int = 0, **kw: Any) -> dict[str, Any]:
    """The openat system call event (its return value is the descriptor)."""
    return ev("openat", [("dirfd", "int", -100), ("pathname", "const char*", path),
                         ("flags", "int", flags), ("mode", "mode_t", mode)], ret=fd, **kw)


def exec_(path: str, argv: list[str], env: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    """sched_process_exec: after the exec; processName is the new program's."""
    args = [("cmdpath", "const char*", path), ("pathname", "const char*", path),
            ("argv", "const char**", argv), ("dev", "dev_t", 2049), ("inode", "unsigned long", 788),
            ("invoked_from_kernel", "int", 0)]
    if env is not None:
        args.append(("env", "const char**", env))
    kw.setdefault("comm", path.rsplit("/", 1)[-1][:15])
    kw.setdefault("exe", path)
    return ev("sched_process_exec", args, syscall="execve", **kw)


def ptrace(request: V, pid: int = 77, **kw: Any) -> dict[str, Any]:
    return ev("ptrace", [("request", "long", request), ("pid", "pid_t", pid),
                         ("addr", "void*", V("0x7f0000001000", 139637976731648)),
                         ("data", "void*", V("0x0", 0))], **kw)


O_RDONLY = V("O_RDONLY", 0)
O_RDONLY_CLOEXEC = V("O_RDONLY|O_CLOEXEC", 0o2000000)
O_WRONLY_TRUNC = V("O_WRONLY|O_TRUNC", 0o1001)
O_RDWR = V("o_rdwr", 2)                          # classic Rego tests use lower case
O_WRONLY_CREAT = V("O_WRONLY|O_CREAT|O_TRUNC", 0o1101)
O_WRONLY_APPEND = V("O_WRONLY|O_APPEND", 0o2001)
HOST_MOD = {"comm": "insmod", "exe": "/usr/sbin/insmod"}

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


def records(shape: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, spec in enumerate(events):
        spec = dict(spec)
        name, args = spec.pop("name"), spec.pop("args")
        out.append(tracee(shape, name, args, ts=TS + i * 1000, **spec))
    return out


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


# ------------------------------------------------------------------------------------------
# Mapping details
# ------------------------------------------------------------------------------------------

def one(tmp_path: Path, record: Any) -> TraceeEvent:
    evs, bad = read(write_jsonl(tmp_path / "one.jsonl", [record]))
    assert bad == [] and len(evs) == 1
    event = evs[0]
    assert isinstance(event, TraceeEvent)
    return event


@pytest.mark.parametrize("shape", SHAPES)
def test_context_sections(tmp_path: Path, shape: str) -> None:
    e = one(tmp_path, tracee(shape, "ptrace", [("request", "long", V("PTRACE_TRACEME", 0))],
                             comm="sample", pid=5001, vpid=57, ppid=5000, vppid=1, uid=1000,
                             container=IN_POD, exe="/opt/sample"))
    assert (e.type, e.tid, e.res, e.ts, e.num) == ("ptrace", 5001, 0, TS, 1)
    assert e.args == {"request": 0}
    expected = {"comm": "sample", "pid": 5001, "vpid": 57, "tid": 5001, "vtid": 57, "ppid": 5000,
                "uid": 1000}
    if shape == "nested":
        expected["exepath"] = "/opt/sample"
    assert e.thread == expected
    assert e.ancestors == [{"pid": 5000, "vpid": 1}]
    assert e.user == {"uid": 1000}
    assert e.container == {
        "id": CID[:12], "full_id": CID, "name": "k8s_web_web-1_default",
        "image": "docker.io/library/nginx:1.25", "image_repository": "docker.io/library/nginx",
        "image_tag": "1.25", "k8s_pod_name": "web-1", "k8s_ns_name": "default",
        "k8s_pod_uid": "5d1b6b3e-1111-2222-3333-444455556666"}
    assert (e.tracee_name, e.process_name, e.host_name) == ("ptrace", "sample", "node-1")


@pytest.mark.parametrize("shape", SHAPES)
def test_host_process_has_host_container(tmp_path: Path, shape: str) -> None:
    e = one(tmp_path, tracee(shape, "close", [("fd", "int", 3)]))
    assert e.container == {"id": "host"}


def test_flags_given_as_text_are_parsed(tmp_path: Path) -> None:
    e = one(tmp_path, tracee("flat", "security_file_open", [
        ("pathname", "const char*", "/etc/shadow"), ("flags", "int", "o_rdwr|O_CREAT|O_CLOEXEC")]))
    assert e.type == "openat"
    assert e.args["flags"] == 0o2000102
    assert e.fd == {"name": "/etc/shadow", "type": "file", "flags": 0o2000102}
    assert e.res is None and e.args["fd"] is None        # the hook reports no descriptor
    # A flag name falcoish does not know makes the whole value unknown, not a partial one.
    e = one(tmp_path, tracee("flat", "security_file_open", [
        ("pathname", "const char*", "/etc/shadow"), ("flags", "int", "O_WRONLY|O_BOGUS")]))
    assert "flags" not in e.args


def test_openat_syscall_keeps_its_descriptor(tmp_path: Path) -> None:
    e = one(tmp_path, tracee("nested", "openat", [
        ("dirfd", "int", -100), ("pathname", "const char*", "/var/log/../log/syslog"),
        ("flags", "int", 0o200000), ("mode", "mode_t", 0)], ret=7))
    assert e.res == 7 and e.args["dirfd"] == -100
    assert e.fd == {"name": "/var/log/syslog", "type": "directory", "num": 7, "flags": 0o200000}
    failed = one(tmp_path, tracee("nested", "openat", [
        ("dirfd", "int", -100), ("pathname", "const char*", "/root/x"), ("flags", "int", 0)], ret=-13))
    assert failed.res == -13 and failed.fd is None


def test_old_v05_record(tmp_path: Path) -> None:
    """v0.4-v0.5: float timestamp (milliseconds), no host ids, `ContainerID`, string sockaddr."""
    rec = {"timestamp": 5123456.789, "processId": 77, "threadId": 78, "parentProcessId": 1,
           "userId": 0, "mountNamespace": 4026531840, "pidNamespace": 4026531836,
           "processName": "nc", "hostName": "box", "ContainerID": "", "eventId": "42",
           "eventName": "connect", "argsNum": 2, "returnValue": 0,
           "args": [{"name": "sockfd", "type": "int", "value": 1},
                    {"name": "addr", "type": "struct sockaddr*",
                     "value": "{'sa_family': 'AF_INET','sin_port': '53','sin_addr': '10.225.0.2'}"}]}
    e = one(tmp_path, rec)
    assert e.ts == 5_123_456_789_000 and e.tid == 78
    assert e.thread == {"comm": "nc", "vpid": 77, "vtid": 78, "uid": 0}
    assert e.ancestors == [{"vpid": 1}]
    assert e.container == {"id": "host"}
    assert e.args == {"fd": 1, "addr": "10.225.0.2:53"}
    assert e.fd == {"type": "ipv4", "num": 1, "sip": "10.225.0.2", "sport": 53, "is_server": False}


def test_magic_write_becomes_a_write_with_its_data(tmp_path: Path) -> None:
    elf = b"\x7fELF\x02\x01\x01" + bytes(9)
    e = one(tmp_path, tracee("nested", "magic_write", [
        ("pathname", "const char*", "/tmp/x"), ("bytes", "bytes", base64.b64encode(elf).decode()),
        ("dev", "dev_t", 45), ("inode", "unsigned long", 9)], container=IN_POD, syscall="pwrite64"))
    assert e.type == "pwrite64" and e.res is None
    assert e.args == {"data": elf.decode("latin-1"), "pos": 0}
    assert e.fd == {"name": "/tmp/x", "type": "file", "dev": 45, "ino": 9}


def test_exec_replaces_the_program_and_later_events_inherit_it(tmp_path: Path) -> None:
    recs = records("flat", [
        ev("close", [("fd", "int", 1)], comm="bash", pid=900, ppid=800),
        exec_("/usr/bin/curl", ["curl", "-s", "http://x"], ["A=1"], pid=901, ppid=900),
        ev("close", [("fd", "int", 5)], comm="curl", pid=901, ppid=900),
        ev("sched_process_exit", [("exit_code", "long", 0), ("process_group_exit", "bool", True)],
           comm="curl", pid=901, ppid=900),
        ev("close", [("fd", "int", 5)], comm="curl", pid=901, ppid=900),
    ])
    evs, bad = read(write_jsonl(tmp_path / "s.jsonl", recs))
    assert bad == []
    execd, later, exited, reused = evs[1:]
    assert execd.type == "execve" and execd.res == 0
    assert execd.args["filename"] == "/usr/bin/curl" and execd.args["args"] == "-s\0http://x"
    assert execd.thread["exepath"] == "/usr/bin/curl" and execd.thread["env"] == ["A=1"]
    assert execd.ancestors[0]["comm"] == "bash"
    assert later.thread["args"] == ["-s", "http://x"] and later.thread["exe"] == "curl"
    assert exited.type == "procexit"
    assert "args" not in reused.thread                    # the process ended: nothing carried over


def test_pid_reuse_is_recognised_by_process_identity(tmp_path: Path) -> None:
    first = tracee("nested", "sched_process_exec", [("pathname", "const char*", "/usr/bin/a"),
                                                    ("argv", "const char**", ["a", "-x"])], comm="a")
    second = tracee("nested", "close", [("fd", "int", 3)], comm="b")
    second["processEntityId"] += 1
    evs, _ = read(write_jsonl(tmp_path / "r.jsonl", [first, second]))
    assert "args" not in evs[1].thread and evs[1].thread["comm"] == "b"


def test_failed_execve_keeps_the_old_program(tmp_path: Path) -> None:
    e = one(tmp_path, tracee("nested", "execve", [("pathname", "const char*", "/nope"),
                                                   ("argv", "const char**", ["nope"])],
                             comm="bash", ret=-2, exe="/usr/bin/bash"))
    assert e.res == -2 and e.thread["comm"] == "bash" and e.thread["exepath"] == "/usr/bin/bash"
    assert e.args["filename"] == "/nope"


def test_protobuf_shaped_events(tmp_path: Path, default_rules: LoadResult) -> None:
    """Tracee main's JSON: RFC 3339 time, `workload`, `data` entries (plain or typed values)."""
    workload = {"process": {"executable": {"path": "/usr/bin/sample"}, "unique_id": 99, "host_pid": 5001,
                            "pid": 57, "real_user": {"id": 0},
                            "thread": {"name": "sample", "host_tid": 5001, "tid": 57, "syscall": "ptrace"},
                            "ancestors": [{"host_pid": 5000, "pid": 1, "thread": {"name": "bash"}}]},
                "container": {"id": CID, "name": "web", "image": {"id": "sha256:ab", "name": "nginx:1.25"},
                              "started": True},
                "k8s": {"pod": {"name": "web-1", "uid": "u-1"}, "namespace": {"name": "default"}}}
    recs = [
        {"timestamp": "2023-11-14T22:13:20.000000123Z", "id": 101, "name": "ptrace", "workload": workload,
         "data": [{"name": "request", "value": 0}, {"name": "pid", "int32": 0}]},
        {"timestamp": "2023-11-14T22:13:21Z", "id": 1067, "name": "security_inode_rename",
         "workload": workload, "data": [{"name": "old_path", "str": "/tmp/a"},
                                        {"name": "new_path", "str": "/sys/fs/cgroup/x/release_agent"}]},
        {"timestamp": "2023-11-14T22:13:22Z", "id": 1035, "name": "security_socket_connect",
         "workload": workload, "data": [{"name": "sockfd", "int32": 0},
                                        {"name": "remote_addr", "sockaddr": {"sa_family": 2,
                                                                             "sin_addr": "203.0.113.7",
                                                                             "sin_port": 4444}}]},
    ]
    evs, bad = read(write_jsonl(tmp_path / "p.jsonl", recs))
    assert bad == []
    ptrace_ev = evs[0]
    assert ptrace_ev.ts == 1_700_000_000_000_000_123 and ptrace_ev.tid == 5001
    assert ptrace_ev.args == {"request": 0, "pid": 0}
    assert ptrace_ev.thread["exepath"] == "/usr/bin/sample"
    assert ptrace_ev.ancestors == [{"pid": 5000, "vpid": 1, "comm": "bash"}]
    assert ptrace_ev.container["id"] == CID[:12] and ptrace_ev.container["image_tag"] == "1.25"
    assert ptrace_ev.container["k8s_pod_name"] == "web-1"
    assert evs[2].fd is not None and evs[2].fd["sip"] == "203.0.113.7"
    tags = fired(default_rules, evs)
    for trc in ("TRC-1", "TRC-2", "TRC-14"):
        if trc in trc_rules(default_rules):
            assert trc in tags


def test_bad_and_unmapped_records(tmp_path: Path) -> None:
    good = tracee("flat", "close", [("fd", "int", 3)])
    lines = [
        orjson.dumps(good),
        b"{not json",
        b"",
        b"[1, 2]",
        orjson.dumps({"timestamp": 1, "threadId": 1}),
        orjson.dumps({**good, "timestamp": "soon"}),
        orjson.dumps({**good, "args": {"fd": 3}}),
        orjson.dumps({k: v for k, v in good.items() if k not in ("threadId", "hostThreadId")}),
        orjson.dumps(tracee("flat", "hooked_syscalls", [("hooked_syscalls", "[]trace.HookedSymbolData",
                                                         [{"SymbolName": "kill", "ModuleOwner": "rk"}])])),
        orjson.dumps(good),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    bad: list[tuple[int, str]] = []
    unmapped: list[tuple[int, str]] = []
    evs = list(read_tracee_events(str(path), lambda n, r: bad.append((n, r)),
                                  on_unmapped=lambda n, name: unmapped.append((n, name))))
    assert [e.num for e in evs] == [1, 10]
    assert [n for n, _ in bad] == [2, 4, 5, 6, 7, 8]
    assert "not valid JSON" in bad[0][1] and "expected a JSON object" in bad[1][1]
    assert "not a Tracee event" in bad[2][1] and "'timestamp'" in bad[3][1]
    assert "'args'" in bad[4][1] and "thread id" in bad[5][1]
    assert unmapped == [(9, "hooked_syscalls")]


def test_gzip_input(tmp_path: Path) -> None:
    path = tmp_path / "events.json"                     # compression found by magic, not name
    path.write_bytes(gzip.compress(orjson.dumps(tracee("nested", "close", [("fd", "int", 3)])) + b"\n"))
    evs, bad = read(path)
    assert bad == [] and [e.type for e in evs] == ["close"]


def test_missing_file_raises_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_tracee_events(str(tmp_path / "nope.json"), lambda n, r: None)


# ------------------------------------------------------------------------------------------
# tracee-rules output
# ------------------------------------------------------------------------------------------

def alerts_for(loaded: LoadResult, events: list[Event]) -> Iterator[tuple[Alert, Event]]:
    engine = Engine.from_load(loaded, rule_matching="all")
    for event in events:
        for alert in engine.process(event):
            yield alert, event


def test_detection_block(tmp_path: Path, default_rules: LoadResult) -> None:
    if "TRC-2" not in trc_rules(default_rules):
        pytest.skip("no default rule is tagged TRC-2")
    evs, _ = read(write_jsonl(tmp_path / "d.jsonl", [tracee("flat", "ptrace", [
        ("request", "long", "PTRACE_TRACEME"), ("pid", "pid_t", 0)], comm="sample", host="worker-3")]))
    (alert, event), = [(a, e) for a, e in alerts_for(default_rules, evs) if "TRC-2" in a.tags]
    block = format_detection(alert, event, now_ns=1_700_000_000_123_456_789)
    lines = block.split("\n")
    assert lines[:5] == ["", "*** Detection ***", "Time: 2023-11-14T22:13:20Z", "Signature ID: TRC-2",
                         f"Signature: {alert.rule}"]
    assert lines[5].startswith("Data: map[") and lines[5].endswith("]")
    assert "proc.name:sample" in lines[5] and "<nil>" not in lines[5]
    assert lines[6:] == ["Command: sample", "Hostname: worker-3"]


def test_detection_block_command_is_the_callers_name(tmp_path: Path, default_rules: LoadResult) -> None:
    """For the execve syscall Tracee's processName is the caller's (pre-exec) name."""
    evs, _ = read(write_jsonl(tmp_path / "x.jsonl", [tracee("nested", "execve", [
        ("pathname", "const char*", "/usr/bin/id"), ("argv", "const char**", ["id"]),
        ("envp", "const char**", ["LD_PRELOAD=/tmp/x.so"])], comm="bash")]))
    assert evs[0].thread["comm"] == "id"
    pairs = list(alerts_for(default_rules, evs))
    if not pairs:
        pytest.skip("no default rule fires on LD_PRELOAD")
    assert format_detection(*pairs[0], now_ns=0).split("\n")[-2] == "Command: bash"


def test_detection_block_for_non_tracee_events() -> None:
    alert = Alert(TS, "My rule", "Warning", "syscall", ("host", "T1059"), "out",
                  {"proc.name": "cat", "fd.name": None, "evt.rawres": 3}, "my-host")
    event = Event(1, TS, "openat", 1, 3, {}, {"comm": "cat"}, [], None, {}, {}, {})
    block = format_detection(alert, event, now_ns=0)
    assert block.split("\n")[1:] == ["*** Detection ***", "Time: 1970-01-01T00:00:00Z",
                                     "Signature ID: My rule", "Signature: My rule",
                                     "Data: map[evt.rawres:3 proc.name:cat]", "Command: cat",
                                     "Hostname: my-host"]


def test_signature_id_and_go_values() -> None:
    alert = Alert(TS, "r", "Warning", "syscall", ("TRC-14", "TRC-3", "container"), "", {}, "h")
    assert signature_id(alert) == "TRC-3"
    assert (go_value({"b": [1, "x"], "a": True, "c": {"z": None}, "d": 2.0})
            == "map[a:true b:[1 x] c:map[z:<nil>] d:2]")


def test_thread_names_do_not_rename_the_process(tmp_path: Path) -> None:
    recs = records("nested", [
        ev("close", [("fd", "int", 3)], comm="java", pid=300, ppid=1),
        ev("close", [("fd", "int", 4)], comm="C2 CompilerThre", pid=300, tid=310, ppid=1),
        exec_("/usr/bin/sh", ["sh", "-c", "id"], pid=301, ppid=300),
    ])
    evs, _ = read(write_jsonl(tmp_path / "t.jsonl", recs))
    assert evs[1].thread["comm"] == "C2 CompilerThre" and evs[1].tid == 310
    assert evs[2].ancestors[0]["comm"] == "java"


def test_security_bprm_check_does_not_guess_the_new_name(tmp_path: Path) -> None:
    """The LSM hook runs before the exec: the new program's task name is not reported (a
    symlink such as /bin/sh -> dash would make a guess from the resolved path wrong)."""
    e = one(tmp_path, tracee("flat", "security_bprm_check", [
        ("pathname", "const char*", "/usr/bin/dash"), ("dev", "dev_t", 2049),
        ("inode", "unsigned long", 788)], comm="nginx"))
    assert e.type == "execve" and e.res == 0
    assert e.thread["exepath"] == "/usr/bin/dash" and "comm" not in e.thread
    assert e.process_name == "nginx"


def test_docs_list_every_mapped_event() -> None:
    from falcoish.sources.tracee import TRACEE_EVENT_TYPES
    text = (Path(__file__).parents[1] / "docs" / "tracee.md").read_text()
    missing = [name for name in TRACEE_EVENT_TYPES if f"`{name}`" not in text]
    assert missing == []


@pytest.mark.parametrize(("alert", "etype"), [
    ("Mmaped region with W+E permissions!", "mmap"), (1, "mmap"),
    ("Protection changed to Executable!", "mprotect"),
    ("Protection changed from W+E to E! Saving data to bin.1628094500", "mprotect"), (4, "mprotect")])
def test_mem_prot_alert_kinds(tmp_path: Path, alert: Any, etype: str) -> None:
    e = one(tmp_path, tracee("flat", "mem_prot_alert", [("alert", "alert_t", alert)]))
    assert e.type == etype and e.args == {}


def test_cli_pipe_tracee_json_to_detection_blocks(tmp_path: Path) -> None:
    """`tracee-ebpf --output json | falcoish run --input tracee -e - --output tracee`."""
    import subprocess
    import sys as _sys
    stream = "".join(orjson.dumps(r).decode() + "\n" for r in records("nested", [ptrace(V("PTRACE_TRACEME", 0), pid=0),
                                                                     ptrace(V("PTRACE_PEEKTEXT", 1))]))
    proc = subprocess.run([_sys.executable, "-m", "falcoish.cli.main", "run", "--input", "tracee",
                           "-e", "-", "--output", "tracee"], input=stream, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("*** Detection ***") == 1
    assert "Signature ID: TRC-2" in proc.stdout
    assert "Events processed: 2" in proc.stderr
