"""Writes the Tracee streams of this folder: `python -m tests.data.tracee.make_streams`.

The streams are the fixtures (tests/test_tracee_streams.py reads them, expected.yaml says what
each must raise); this script is how they were made, kept to change them consistently.  Each
case is written twice: in Tracee's flat shape (v0.8, arguments as text), then in the nested
shape (v0.18+, raw numbers) with pids shifted by 10000 so that the two do not share processes.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson

from tests.tracee_kit import (HOST_MOD, IN_POD, O_RDONLY, O_RDONLY_CLOEXEC, O_RDWR, O_WRONLY_CREAT,
                              O_WRONLY_TRUNC, TS, V, ev, exec_, file_open, ptrace, sockaddr,
                              sys_openat, tracee)

OUT = Path(__file__).parent
ELF = base64.b64encode(b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00>\x00\x01\x00\x00\x00").decode()
SCRIPT = base64.b64encode(b"#!/bin/sh\nexec /tmp/kinsing\n").decode()
IN_DOCKER = {"id": "9f2c5a1e7b3d4c6a8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d", "name": "builder",
             "image": "docker.io/library/debian:12"}


def magic_write(path: str, data: str, **kw: Any) -> dict[str, Any]:
    return ev("magic_write", [("pathname", "const char*", path), ("bytes", "bytes", data),
                              ("dev", "dev_t", 45), ("inode", "unsigned long", 99881)], syscall="write", **kw)


def connect(fd: int, sa: V, **kw: Any) -> dict[str, Any]:
    return ev("security_socket_connect", [("sockfd", "int", fd), ("remote_addr", "struct sockaddr*", sa)], **kw)


def bprm(path: str, **kw: Any) -> dict[str, Any]:
    return ev("security_bprm_check", [("pathname", "const char*", path), ("dev", "dev_t", 2049),
                                      ("inode", "unsigned long", 788)], syscall="execve", **kw)


NGINX = dict(comm="nginx", exe="/usr/sbin/nginx")

def nginx_parent(pid: int) -> dict[str, Any]:
    return ev("close", [("fd", "int", 12)], pid=pid, ppid=1, **NGINX)


K8S_ENV = ["PATH=/usr/bin", "KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443"]
UNIX = V({"sa_family": "AF_UNIX", "sun_path": "/run/nscd/socket"}, {"sa_family": "AF_UNIX", "sun_path": "/run/nscd/socket"})


STREAMS: dict[str, list[dict[str, Any]]] = {
 "trc-1-positive": [
    connect(0, sockaddr("203.0.113.7", 4444), comm="bash", pid=4001),
    connect(3, sockaddr("2001:db8::66", 443, True), comm="bash", pid=4002),
    ev("dup2", [("oldfd", "int", 3), ("newfd", "int", 0)], ret=0, comm="bash", pid=4002),
    ev("socket_dup", [("oldfd", "int", 3), ("newfd", "int", 1),
                      ("remote_addr", "struct sockaddr*", sockaddr("203.0.113.7", 4444))],
       comm="python3", pid=4003, syscall="dup2")],
 "trc-1-negative": [
    ev("dup2", [("oldfd", "int", 3), ("newfd", "int", 0)], ret=0, comm="bash", pid=4011),
    connect(3, sockaddr("203.0.113.7", 4444), comm="bash", pid=4012),
    ev("dup2", [("oldfd", "int", 3), ("newfd", "int", 5)], ret=5, comm="bash", pid=4012),
    ev("dup2", [("oldfd", "int", 3), ("newfd", "int", 0)], ret=0, comm="bash", pid=4013),
    connect(4, sockaddr("203.0.113.7", 4444), comm="bash", pid=4014),
    ev("close", [("fd", "int", 4)], comm="bash", pid=4014),
    ev("dup2", [("oldfd", "int", 4), ("newfd", "int", 1)], ret=1, comm="bash", pid=4014),
    connect(0, UNIX, comm="id", pid=4015),
    ev("socket_dup", [("oldfd", "int", 3), ("newfd", "int", 7),
                      ("remote_addr", "struct sockaddr*", sockaddr("203.0.113.7", 4444))],
       comm="python3", pid=4016, syscall="dup2")],
 "trc-2-positive": [ptrace(V("PTRACE_TRACEME", 0), pid=0, comm="packed")],
 "trc-2-negative": [ptrace(V("PTRACE_PEEKTEXT", 1), comm="packed"),
                    ptrace(V("PTRACE_TRACEME", 0), pid=0, comm="gdb", exe="/usr/bin/gdb")],
 "trc-3-positive": [ptrace(V("PTRACE_POKETEXT", 4), comm="injector"),
                    file_open("/proc/1234/mem", O_RDWR, comm="injector"),
                    ev("process_vm_writev", [("pid", "pid_t", 1234), ("liovcnt", "unsigned long", 1),
                                             ("riovcnt", "unsigned long", 1), ("flags", "unsigned long", 0)],
                       ret=64, comm="injector")],
 "trc-3-negative": [ptrace(V("PTRACE_PEEKDATA", 2), comm="injector"),
                    file_open("/proc/1234/maps", O_RDONLY, comm="ps"),
                    file_open("/proc/1234/mem", O_RDONLY, comm="procdump"),
                    ev("process_vm_writev", [("pid", "pid_t", 1)], ret=-1, comm="injector")],
 "trc-4-positive": [ev("mem_prot_alert", [("alert", "u32", V("Mmaped region with W+E permissions!", 1)),
                                          ("addr", "void*", V("0x7f1000000000", 139637976727552)),
                                          ("len", "size_t", 4096), ("prot", "int", V("PROT_READ|PROT_WRITE|PROT_EXEC", 7))],
                       comm="loader"),
                    ev("mprotect", [("addr", "void*", 139637976727552), ("len", "size_t", 4096),
                                    ("prot", "int", V("PROT_WRITE|PROT_EXEC", 6))], comm="loader")],
 "trc-4-negative": [ev("mprotect", [("addr", "void*", 139637976727552), ("len", "size_t", 4096),
                                    ("prot", "int", V("PROT_READ|PROT_EXEC", 5))], comm="loader"),
                    ev("mem_prot_alert", [("alert", "u32", V("Protection changed to Executable!", 2)),
                                          ("addr", "void*", 139637976727552), ("len", "size_t", 4096),
                                          ("prot", "int", V("PROT_READ|PROT_EXEC", 5))], comm="loader"),
                    exec_("/usr/lib/jvm/java-17/bin/java", ["java", "-jar", "app.jar"], pid=4401),
                    ev("mprotect", [("addr", "void*", 139637976727552), ("len", "size_t", 4096),
                                    ("prot", "int", V("PROT_READ|PROT_WRITE|PROT_EXEC", 7))],
                       comm="C2 CompilerThre", pid=4401, tid=4409, exe="/usr/lib/jvm/java-17/bin/java")],
 "trc-5-positive": [exec_("memfd:payload", ["payload"], comm="3", pid=4501),
                    exec_("/dev/shm/.x/miner", ["./miner", "-o", "pool:3333"], pid=4502),
                    exec_("memfd:runc_cloned:/proc/self/exe", ["runc", "init"], comm="runc:[2:INIT]",
                          container=IN_DOCKER, pid=4503)],
 "trc-5-negative": [exec_("memfd:runc_cloned:/proc/self/exe", ["runc", "init"], comm="runc:[0:PARENT]", pid=4511),
                    exec_("/usr/bin/ls", ["ls", "-l"], pid=4512),
                    exec_("/usr/bin/shmtool", ["shmtool", "/dev/shmem"], pid=4513)],
 "trc-6-positive": [ev("init_module", [("module_image", "void*", V("0x55d0c0a00000", 94355020644352)),
                                       ("len", "unsigned long", 24576), ("param_values", "const char*", "")],
                       **HOST_MOD),
                    ev("security_kernel_read_file", [("pathname", "const char*", "/tmp/diamorphine.ko"),
                                                     ("dev", "dev_t", 2049), ("inode", "unsigned long", 5555),
                                                     ("type", "int", V("kernel-module", 2))], **HOST_MOD),
                    ev("module_load", [("name", "const char*", "diamorphine"), ("version", "const char*", ""),
                                       ("src_version", "const char*", ""),
                                       ("pathname", "const char*", "/tmp/diamorphine.ko")], **HOST_MOD)],
 "trc-6-negative": [ev("security_kernel_read_file", [("pathname", "const char*", "/lib/firmware/iwlwifi.ucode"),
                                                     ("dev", "dev_t", 2049), ("inode", "unsigned long", 5556),
                                                     ("type", "int", V("firmware", 1))], comm="kworker/u8:2"),
                    ev("finit_module", [("fd", "int", 3), ("param_values", "const char*", ""), ("flags", "int", 0)],
                       comm="systemd-udevd", exe="/usr/lib/systemd/systemd-udevd")],
 "trc-7-positive": [exec_("/usr/sbin/sshd", ["sshd", "-D"], ["PATH=/usr/bin", "LD_PRELOAD=/tmp/.lib/hook.so"], pid=4701),
                    ev("execve", [("pathname", "const char*", "/usr/bin/id"), ("argv", "const char**", ["id"]),
                                  ("envp", "const char**", ["HOME=/root", "LD_PRELOAD=/dev/shm/libx.so"])],
                       comm="bash", pid=4702),
                    file_open("/etc/ld.so.preload", O_WRONLY_TRUNC, comm="tee", pid=4703),
                    ev("security_inode_rename", [("old_path", "const char*", "/tmp/p"),
                                                 ("new_path", "const char*", "/etc/ld.so.preload")], comm="mv", pid=4704)],
 "trc-7-negative": [exec_("/usr/bin/dpkg-deb", ["dpkg-deb", "-b", "pkg"], ["LD_PRELOAD=libfakeroot-sysv.so"], pid=4711),
                    file_open("/etc/ld.so.preload", O_RDONLY_CLOEXEC, comm="ls", pid=4712),
                    ev("security_inode_rename", [("old_path", "const char*", "/home/dev/ld.so.preload.new"),
                                                 ("new_path", "const char*", "/home/dev/ld.so.preload")], comm="mv", pid=4713)],
 "trc-9-positive": [magic_write("/tmp/kinsing", ELF, container=IN_POD, comm="curl", pid=4901),
                    sys_openat("/tmp/kdevtmpfsi", O_WRONLY_CREAT, 3, V("0755", 0o755), container=IN_POD, comm="wget", pid=4902)],
 "trc-9-negative": [magic_write("/home/dev/a.out", ELF, comm="ld", pid=4911),
                    magic_write("/tmp/run.sh", SCRIPT, container=IN_POD, comm="curl", pid=4912),
                    magic_write("/dev/shm/x", ELF, container=IN_POD, comm="loader", pid=4913),
                    sys_openat("/tmp/notes.txt", O_WRONLY_CREAT, 3, V("0644", 0o644), container=IN_POD, comm="curl", pid=4914)],
 "trc-10-positive": [file_open("/etc/kubernetes/pki/ca.key", O_RDONLY, comm="cat", pid=5001),
                     ev("security_inode_rename", [("old_path", "const char*", "/etc/kubernetes/pki/apiserver.key"),
                                                  ("new_path", "const char*", "/tmp/k")], comm="mv", pid=5002)],
 "trc-10-negative": [file_open("/etc/kubernetes/pki/ca.key", O_RDONLY, comm="kube-apiserver", pid=5011),
                     file_open("/etc/kubernetes/pki/ca.crt", O_RDONLY, comm="kube-controller", pid=5012),
                     file_open("/etc/kubernetes/admin.conf", O_RDONLY, comm="cat", pid=5013),
                     file_open("/etc/kubernetes/pki/ca.crt", O_WRONLY_TRUNC, comm="kubeadm", pid=5014)],
 "trc-11-positive": [ev("security_sb_mount", [("dev_name", "const char*", "/dev/sda1"), ("path", "const char*", "/mnt/host"),
                                              ("type", "const char*", "ext4"), ("flags", "unsigned long", 0)],
                        container=IN_POD, comm="mount", pid=5101, vpid=57)],
 "trc-11-negative": [ev("security_sb_mount", [("dev_name", "const char*", "/dev/mqueue"), ("path", "const char*", "/dev/mqueue"),
                                              ("type", "const char*", "mqueue"), ("flags", "unsigned long", 0)],
                        container=IN_POD, comm="runc:[2:INIT]", pid=5111, vpid=1),
                     ev("security_sb_mount", [("dev_name", "const char*", "/dev/sdb1"), ("path", "const char*", "/mnt/usb"),
                                              ("type", "const char*", "vfat"), ("flags", "unsigned long", 0)], comm="mount", pid=5112),
                     ev("security_sb_mount", [("dev_name", "const char*", "proc"), ("path", "const char*", "/mnt/p"),
                                              ("type", "const char*", "proc"), ("flags", "unsigned long", 0)],
                        container=IN_POD, comm="mount", pid=5113, vpid=58)],
 "trc-12-positive": [nginx_parent(5200),
                     ev("sched_process_fork", [("parent_tid", "int", 5200), ("parent_pid", "int", 5200),
                                               ("child_tid", "int", 5201), ("child_pid", "int", 5201)],
                        pid=5200, ppid=1, ret=5201, **NGINX),
                     exec_("/usr/bin/dash", ["sh", "-c", "id"], comm="sh", pid=5201, ppid=5200),
                     bprm("/usr/bin/bash", pid=5202, ppid=5200, **NGINX)],
 "trc-12-negative": [ev("close", [("fd", "int", 12)], comm="bash", pid=5210, ppid=1, exe="/usr/bin/bash"),
                     exec_("/usr/bin/dash", ["sh", "-c", "id"], comm="sh", pid=5211, ppid=5210),
                     bprm("/usr/bin/dash", comm="bash", pid=5212, ppid=5210),
                     nginx_parent(5220),
                     exec_("/usr/bin/logger", ["logger", "x"], pid=5221, ppid=5220),
                     bprm("/usr/bin/logger", pid=5222, ppid=5220, **NGINX)],
 "trc-13-positive": [exec_("/usr/bin/python3", ["python3", "enum.py"], K8S_ENV, container=IN_POD, pid=5301, vpid=12),
                     connect(3, sockaddr("10.96.0.1", 443), container=IN_POD, comm="python3", pid=5301, vpid=12)],
 "trc-13-negative": [exec_("/usr/bin/python3", ["python3", "get.py"], K8S_ENV, container=IN_POD, pid=5311, vpid=12),
                     connect(3, sockaddr("93.184.216.34", 443), container=IN_POD, comm="python3", pid=5311, vpid=12),
                     connect(4, sockaddr("10.96.0.10", 53), container=IN_POD, comm="python3", pid=5311, vpid=12),
                     exec_("/usr/bin/kubectl", ["kubectl", "get", "pods"], ["KUBERNETES_SERVICE_HOST=10.96.0.1"], pid=5312),
                     connect(3, sockaddr("10.96.0.1", 443), comm="kubectl", pid=5312)],
 "trc-14-positive": [file_open("/sys/fs/cgroup/rdma/release_agent", O_WRONLY_TRUNC, container=IN_POD, comm="sh", pid=5401),
                     ev("security_inode_rename", [("old_path", "const char*", "/sys/fs/cgroup/rdma/x"),
                                                  ("new_path", "const char*", "/sys/fs/cgroup/rdma/release_agent")],
                        container=IN_POD, comm="mv", pid=5402)],
 "trc-14-negative": [file_open("/sys/fs/cgroup/rdma/release_agent", O_WRONLY_TRUNC, comm="sh", pid=5411),
                     file_open("/sys/fs/cgroup/rdma/release_agent", O_RDONLY, container=IN_POD, comm="cat", pid=5412),
                     file_open("/sys/fs/cgroup/rdma/notify_on_release", O_WRONLY_TRUNC, container=IN_POD, comm="sh", pid=5413)],
}


def shift(spec: dict[str, Any], off: int) -> dict[str, Any]:
    """The same event in another set of processes (pids 0 and 1 kept)."""
    spec = dict(spec)
    for k in ("pid", "ppid", "tid"):
        if k in spec and spec[k] not in (0, 1):
            spec[k] = spec[k] + off
    spec.setdefault("pid", 4242 + off)
    spec.setdefault("ppid", 900)
    args = []
    for n, t, v in spec["args"]:
        if n in ("parent_tid", "parent_pid", "child_tid", "child_pid"):
            v = v + off
        args.append((n, t, v))
    spec["args"] = args
    if spec.get("ret") and spec["name"] == "sched_process_fork":
        spec["ret"] += off
    return spec


def main() -> None:
    for name, specs in STREAMS.items():
        write(name, specs)


def write(name: str, specs: list[dict[str, Any]]) -> None:
    lines = []
    i = 0
    for shape, off in (("flat", 0), ("nested", 10000)):
        for spec in specs:
            spec = shift(spec, off)
            n, a = spec.pop("name"), spec.pop("args")
            lines.append(orjson.dumps(tracee(shape, n, a, ts=TS + i * 1000, **spec)))
            i += 1
    (OUT / f"{name}.jsonl").write_bytes(b"\n".join(lines) + b"\n")


if __name__ == "__main__":
    main()
