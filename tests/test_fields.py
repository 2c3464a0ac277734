"""The field registry: every field present and absent, Falco's rendering, argument errors."""

from __future__ import annotations

import ipaddress
import re
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .eventkit import BASE_TS, INIT, O_CLOEXEC, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, SHELL, SSHD
from .eventkit import event, exec_process, open_file, process, record
from falcoish.errors import RuleError
from falcoish.events.event import Event
from falcoish.fields import BoundField, bind, catalogue, is_field_name
from falcoish.fields.flags import flags_text, render_flags
from falcoish.fields.names import caps_text, errno_name
from falcoish.events.fieldtypes import BYTES, INT64, IP, IPNET, STRING, Kind
from falcoish.syntax.nodes import FieldRef

ROOT = Path(__file__).resolve().parent.parent

# The 90 fields the three upstream rules files use (fields.md §12).
MVP_FIELDS = """proc.name fd.name proc.cmdline proc.pname evt.type user.name proc.aname user.uid proc.tty
user.loginuid proc.exepath container.image.repository proc.args evt.arg.flags proc.pcmdline
fd.directory fd.l4proto fd.typechar fd.type evt.arg.path fd.lport fd.rport container.mount.dest
evt.arg.name evt.res proc.pexe evt.arg.oldpath proc.exe thread.cap_permitted evt.arg.uid evt.rawres
evt.arg.newpath evt.arg.mode fd.net fd.num fd.sport k8s.ns.name fd.ip evt.arg.request proc.cwd
container.id fd.sip.name evt.arg.filename evt.is_open_read fd.connected fd.filename fd.name_changed
fd.sip fd.snet proc.env thread.cap_effective container.privileged evt.arg.cmd evt.arg.target
evt.is_open_write evt.num fd.nameraw proc.vpid container.start_ts evt.args fd.cip.name group.gid
group.name proc.pexepath proc.sname user.loginname container.mounts evt.arg.domain evt.arg.fd
evt.arg.linkpath evt.buffer evt.is_open_exec fd.cip fd.cnet fd.lip.name fd.port fd.rip fd.rip.name
fd.rnet fd.sockfamily k8s.pod.name proc.aexe proc.aexepath proc.duration proc.exe_ino.ctime
proc.exe_ino.ctime_duration_proc_start proc.exe_ino.mtime proc.is_exe_from_memfd
proc.is_exe_upper_layer proc.is_vpgid_leader""".split()


def ref(text: str) -> FieldRef:
    if text.endswith("]"):
        name, _, arg = text[:-1].partition("[")
        return FieldRef(name, arg)
    return FieldRef(text)


def val(text: str, ev: Event) -> Any:
    return bind(ref(text)).extract(ev)


# -- events ---------------------------------------------------------------------------------------
CID = "3ad7b26ded6d"
RICH = process("cat", ["/etc/shadow"], env=["HOME=/root", "PATH=/usr/bin:/bin", "EMPTY="], vtid=7,
               cap_permitted=0x3, cap_effective=(1 << 21) | 1, cap_inheritable=0, exe_ino=1839204,
               exe_ino_ctime=BASE_TS - 5_000_000_000, exe_ino_mtime=BASE_TS - 6_000_000_000,
               pidns_init_start_ts=BASE_TS - 9_000_000_000, exe_writable=False,
               exe_upper_layer=True, exe_lower_layer=False, exe_from_memfd=False)
CONTAINER = {
    "id": CID, "full_id": CID + "0" * 52, "name": "nginx-1", "type": "docker", "image": "nginx:1.27",
    "image_repository": "docker.io/library/nginx", "image_tag": "1.27", "image_id": "6f7e2741b66b",
    "image_digest": "sha256:abc", "privileged": True, "k8s_ns_name": "kube-system",
    "host_pid": False, "host_network": True, "host_ipc": False,
    "mounts": [{"source": "/var/run/docker.sock", "dest": "/var/run/docker.sock", "mode": "",
                "rdwr": True, "propagation": "rprivate"},
               {"source": "/proc", "dest": "/host/proc", "mode": "ro", "rdwr": False,
                "propagation": "rprivate"}],
    "labels": {"io.kubernetes.pod.name": "calico-x", "io.kubernetes.pod.uid": "u-1", "app": "web"},
}
_open = open_file("/etc/shadow", O_RDONLY | O_CLOEXEC, thread=RICH, container=CONTAINER)
_open["args"].update(dev=0x803, ino=1572883)
_open["fd"].update(nameraw="/etc//shadow", dev=0x803, ino=1572883)
TCP = {"num": 5, "type": "ipv4", "name": "10.0.0.5:43210->93.184.216.34:443", "l4proto": "tcp",
       "cip": "10.0.0.5", "cport": 43210, "sip": "93.184.216.34", "sport": 443, "is_server": False,
       "connected": True, "name_changed": True}
SERVER = dict(TCP, num=6, cip="::ffff:192.168.1.9", cport=50000, sip="10.0.0.5", sport=22,
              is_server=True, name_changed=False)
WWW = {"uid": 33, "name": "www-data", "homedir": "/var/www", "shell": "/usr/sbin/nologin",
       "loginname": "root"}
CHAIN = [dict(SHELL, env=["HOME=/root", "X=shell"], start_ts=BASE_TS - 10**9), dict(SSHD, env=["X=sshd"]),
         INIT]

EV: dict[str, Event] = {
    "open": event(_open),
    "bare": Event.from_record({"ts": BASE_TS, "type": "frobnicate", "tid": 7, "thread": {}}, 1),
    "nometa": event(record("getpid", container={"id": CID}, res=77)),
    "failopen": event(record("openat", args={"dirfd": -100, "name": "../x//y", "mode": 0o755,
                                             "flags": O_WRONLY | O_CREAT | O_TRUNC}, res=-13)),
    "connect": event(record("connect", res=0, fd=TCP, args={
        "fd": 5, "addr": "93.184.216.34:443", "tuple": "10.0.0.5:43210->93.184.216.34:443"})),
    "accept": event(record("accept", res=6, fd=SERVER, args={"tuple": "192.168.1.9:50000->10.0.0.5:22"})),
    "send": event(record("sendto", res=8, args={"fd": 5, "data": "GET /\x00\x01\xff", "size": 8},
                         fd=dict(TCP, l4proto="udp"))),
    "exec": event(exec_process("bash", ["-c", "id"])),
    "setuid": event(record("setuid", args={"uid": 33}, user=WWW)),
    "ptrace": event(record("ptrace", args={"request": 16, "pid": 900, "addr": 0, "data": 0})),
    "chmod": event(record("chmod", args={"filename": "x.sh", "mode": 0o755})),
    "socket": event(record("socket", res=3, args={"domain": 16, "type": 3, "proto": 0, "flags": 0},
                           fd={"num": 3, "type": "netlink", "name": ""})),
    "bpf": event(record("bpf", res=4, args={"cmd": 5}, fd={"num": 4, "type": "bpf", "name": ""})),
    "symlinkat": event(record("symlinkat", args={"target": "/etc/shadow", "linkdirfd": 4, "linkpath": "s"},
                              fd={"num": 4, "type": "directory", "name": "/tmp"})),
    "renameat": event(record("renameat", args={"olddirfd": -100, "oldpath": "a", "newdirfd": 9,
                                               "newpath": "b"}, resolved={"newdirfd": "<d>/var/tmp"})),
    "chain": event(record("getpid", thread=process("python3", env=["A=1"]), ancestors=CHAIN)),
    "procexit": event(record("procexit", res=None, args={"status": 0, "ret": 0, "sig": 9})),
}

# (field, event, expected value): each field present with this value.
CASES: list[tuple[str, str, Any]] = [
    # evt
    ("evt.num", "open", 1), ("evt.type", "open", "openat"), ("syscall.type", "open", "openat"),
    ("evt.type.is.openat", "open", 1), ("evt.type.is.open", "open", 0), ("evt.dir", "open", "<"),
    ("evt.time", "open", BASE_TS), ("evt.rawtime", "open", BASE_TS),
    ("evt.rawtime.s", "open", BASE_TS // 10**9), ("evt.rawtime.ns", "open", 0),
    ("evt.time.iso8601", "open", "2024-11-24T12:06:40.000000000Z"), ("evt.latency", "open", 0),
    ("evt.time.s", "open", time.strftime("%H:%M:%S", time.localtime(BASE_TS // 10**9))),
    ("evt.datetime.s", "open", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(BASE_TS // 10**9))),
    ("evt.datetime", "open", time.strftime("%Y-%m-%d %H:%M:%S.000000000", time.localtime(BASE_TS // 10**9))),
    ("evt.hostname", "open", os.environ.get("FALCO_HOSTNAME") or socket.gethostname()),
    ("evt.source", "open", "syscall"), ("evt.is_async", "open", False),
    ("evt.res", "open", "SUCCESS"), ("evt.res", "failopen", "EACCES"), ("evt.rawres", "open", 3),
    ("evt.rawres", "failopen", -13), ("evt.failed", "failopen", True), ("evt.failed", "open", False),
    ("evt.arg.flags", "open", "O_RDONLY|O_CLOEXEC"), ("evt.arg[3]", "open", "O_RDONLY|O_CLOEXEC"),
    ("evt.arg[0]", "open", "<f>/etc/shadow"), ("evt.arg.fd", "open", "<f>/etc/shadow"),
    ("evt.arg.dirfd", "open", "AT_FDCWD"), ("evt.arg.name", "failopen", "/x/y"),
    ("evt.arg.fd", "failopen", "EACCES"), ("evt.arg.mode", "failopen", "0755"),
    ("evt.arg.mode", "chmod", "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR"),
    ("evt.arg.filename", "chmod", "/root/x.sh"), ("evt.arg.request", "ptrace", "PTRACE_ATTACH"),
    ("evt.arg.pid", "ptrace", "bash"), ("evt.arg.uid", "setuid", "www-data"),
    ("evt.arg.domain", "socket", "AF_ROUTE|AF_NETLINK"), ("evt.arg.flags", "socket", "O_NONE"),
    ("evt.arg.cmd", "bpf", "BPF_PROG_LOAD"), ("evt.arg.target", "symlinkat", "/etc/shadow"),
    ("evt.arg.linkpath", "symlinkat", "/tmp/s"), ("evt.arg.oldpath", "renameat", "/root/a"),
    ("evt.arg.newpath", "renameat", "/var/tmp/b"), ("evt.arg.flags", "exec", "0"),
    ("evt.arg.args", "exec", "-c.id"), ("evt.arg.sig", "procexit", "SIGKILL"),
    ("evt.arg.tuple", "connect", "10.0.0.5:43210->93.184.216.34:443"),
    ("evt.arg.fd", "connect", "<4t>10.0.0.5:43210->93.184.216.34:443"),
    ("evt.rawarg.flags", "open", 524288), ("evt.rawarg.name", "open", "/etc/shadow"),
    ("evt.rawarg.data", "send", b"GET /\x00\x01\xff"), ("evt.rawarg.addr", "connect", "93.184.216.34:443"),
    ("evt.args", "open", "fd=3(<f>/etc/shadow) dirfd=-100(AT_FDCWD) name=/etc/shadow "
                         "flags=524288(O_RDONLY|O_CLOEXEC) mode=0 dev=803 ino=1572883"),
    ("evt.args", "setuid", "res=0 uid=33(www-data)"),
    ("evt.args", "ptrace", "res=0 addr=0 data=0 request=16(PTRACE_ATTACH) pid=900(bash)"),
    ("evt.buffer", "send", b"GET /\x00\x01\xff"), ("evt.buflen", "send", 8),
    ("evt.is_io", "send", True), ("evt.is_io_read", "send", False), ("evt.is_io_write", "send", True),
    ("evt.io_dir", "send", "w"), ("evt.is_open_read", "open", True), ("evt.is_open_write", "open", False),
    ("evt.is_open_write", "failopen", True), ("evt.is_open_read", "failopen", False),
    ("evt.is_open_exec", "failopen", True), ("evt.is_open_exec", "open", False),
    ("evt.category", "open", "file"), ("evt.category", "send", "net"), ("evt.category", "exec", "process"),
    ("evt.abspath", "open", "/etc/shadow"), ("evt.abspath.src", "renameat", "/root/a"),
    ("evt.abspath.dst", "renameat", "/var/tmp/b"), ("evt.abspath.dst", "symlinkat", "/tmp/s"),
    ("fs.path.name", "chmod", "/root/x.sh"), ("fs.path.nameraw", "chmod", "x.sh"),
    ("fs.path.source", "symlinkat", "/etc/shadow"), ("fs.path.sourceraw", "renameat", "a"),
    ("fs.path.target", "renameat", "/var/tmp/b"), ("fs.path.targetraw", "symlinkat", "s"),
    # proc / thread
    ("proc.name", "open", "cat"), ("proc.exe", "open", "cat"), ("proc.exepath", "open", "/usr/bin/cat"),
    ("proc.cmdline", "open", "cat /etc/shadow"), ("proc.cmdline", "chain", "python3"),
    ("proc.exeline", "open", "cat /etc/shadow"), ("proc.cmdnargs", "open", 1),
    ("proc.cmdlenargs", "open", 11), ("proc.args", "open", "/etc/shadow"), ("proc.args", "chain", ""),
    ("proc.args[0]", "open", "/etc/shadow"), ("proc.args", "exec", "-c id"),
    ("proc.env", "open", "HOME=/root PATH=/usr/bin:/bin EMPTY="), ("proc.env[HOME]", "open", "/root"),
    ("proc.env[NOPE]", "open", ""), ("proc.env[1]", "open", "PATH=/usr/bin:/bin"),
    ("proc.aenv", "chain", ("HOME=/root X=shell", "X=sshd")), ("proc.aenv[X]", "chain", "shell"),
    ("proc.aenv[2]", "chain", "X=sshd"), ("proc.cwd", "open", "/root/"), ("proc.tty", "open", 34816),
    ("proc.pid", "open", 4242), ("proc.vpid", "open", 4242), ("proc.ppid", "open", 900),
    ("proc.pvpid", "open", 900), ("proc.sid", "open", 800), ("proc.pgid", "open", 4242),
    ("proc.vpgid", "open", 4242), ("proc.pname", "open", "bash"), ("proc.pexe", "open", "bash"),
    ("proc.pexepath", "open", "/usr/bin/bash"), ("proc.pcmdline", "open", "bash"),
    ("proc.aname", "open", ("bash", "sshd", "systemd")), ("proc.aname[0]", "open", "cat"),
    ("proc.aname[2]", "open", "sshd"), ("proc.aexe[3]", "open", "/sbin/init"),
    ("proc.aexe", "open", ("bash", "sshd", "/sbin/init")), ("proc.aexepath[2]", "open", "/usr/sbin/sshd"),
    ("proc.aexepath", "open", ("/usr/bin/bash", "/usr/sbin/sshd", "/usr/lib/systemd/systemd")),
    ("proc.acmdline[1]", "open", "bash"), ("proc.acmdline", "open", ("bash", "sshd", "systemd")),
    ("proc.apid", "open", (900, 800, 1)), ("proc.apid[1]", "open", 900),
    ("proc.sname", "open", "sshd"), ("proc.sid.exe", "open", "sshd"),
    ("proc.sid.exepath", "open", "/usr/sbin/sshd"), ("proc.vpgid.name", "open", "cat"),
    ("proc.vpgid.exe", "open", "cat"), ("proc.vpgid.exepath", "open", "/usr/bin/cat"),
    ("proc.is_sid_leader", "open", False), ("proc.is_vpgid_leader", "open", True),
    ("proc.loginshellid", "open", 900), ("proc.duration", "open", 1_000_000),
    ("proc.start_ts", "open", BASE_TS - 1_000_000), ("proc.pid.ts", "open", BASE_TS - 1_000_000),
    ("proc.ppid.ts", "chain", BASE_TS - 10**9), ("proc.ppid.duration", "chain", 10**9),
    ("proc.pidns_init_start_ts", "open", BASE_TS - 9_000_000_000), ("proc.exe_ino", "open", 1839204),
    ("proc.exe_ino.ctime", "open", BASE_TS - 5_000_000_000),
    ("proc.exe_ino.mtime", "open", BASE_TS - 6_000_000_000),
    ("proc.exe_ino.ctime_duration_proc_start", "open", 4_999_000_000),
    ("proc.exe_ino.ctime_duration_pidns_start", "open", 4_000_000_000),
    ("proc.is_exe_writable", "open", False), ("proc.is_exe_upper_layer", "open", True),
    ("proc.is_exe_lower_layer", "open", False), ("proc.is_exe_from_memfd", "open", False),
    ("thread.tid", "open", 4242), ("thread.vtid", "open", 7), ("thread.ismain", "open", True),
    ("thread.cap_permitted", "open", "CAP_CHOWN CAP_DAC_OVERRIDE"),
    ("thread.cap_effective", "open", "CAP_CHOWN CAP_SYS_ADMIN"), ("thread.cap_inheritable", "open", ""),
    # user / group
    ("user.uid", "open", 0), ("user.uid", "setuid", 33), ("user.name", "open", "root"),
    ("user.name", "setuid", "www-data"), ("user.homedir", "setuid", "/var/www"),
    ("user.shell", "setuid", "/usr/sbin/nologin"), ("user.loginuid", "open", 0),
    ("user.loginname", "open", "root"), ("group.gid", "open", 0), ("group.name", "open", "root"),
    # fd
    ("fd.num", "open", 3), ("fd.num", "failopen", -1), ("fd.type", "open", "file"),
    ("fd.type", "socket", "netlink"), ("fd.typechar", "open", "f"), ("fd.typechar", "failopen", "f"),
    ("fd.typechar", "connect", "4"), ("fd.typechar", "socket", "n"), ("fd.typechar", "bpf", "b"),
    ("fd.typechar", "symlinkat", "d"), ("fd.name", "open", "/etc/shadow"), ("fd.name", "failopen", "/x/y"),
    ("fd.name", "connect", "10.0.0.5:43210->93.184.216.34:443"), ("fd.nameraw", "open", "/etc//shadow"),
    ("fd.nameraw", "failopen", "../x/y"), ("fd.directory", "open", "/etc"),
    ("fd.directory", "failopen", "/x"), ("fd.directory", "symlinkat", "/tmp"),
    ("fd.filename", "open", "shadow"), ("fd.l4proto", "connect", "tcp"),
    ("fd.sockfamily", "connect", "ip"), ("fd.cip", "connect", ipaddress.ip_address("10.0.0.5")),
    ("fd.sip", "connect", ipaddress.ip_address("93.184.216.34")),
    ("fd.lip", "connect", ipaddress.ip_address("10.0.0.5")),
    ("fd.rip", "connect", ipaddress.ip_address("93.184.216.34")),
    ("fd.lip", "accept", ipaddress.ip_address("10.0.0.5")),
    ("fd.rip", "accept", ipaddress.ip_address("192.168.1.9")),
    ("fd.cport", "connect", 43210), ("fd.sport", "connect", 443), ("fd.lport", "connect", 43210),
    ("fd.rport", "connect", 443), ("fd.lport", "accept", 22), ("fd.rport", "accept", 50000),
    ("fd.ip", "connect", (ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("93.184.216.34"))),
    ("fd.port", "connect", (43210, 443)), ("fd.proto", "connect", (43210, 443)),
    ("fd.net", "connect", (ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("93.184.216.34"))),
    ("fd.cnet", "connect", ipaddress.ip_address("10.0.0.5")),
    ("fd.snet", "connect", ipaddress.ip_address("93.184.216.34")),
    ("fd.lnet", "accept", ipaddress.ip_address("10.0.0.5")),
    ("fd.rnet", "accept", ipaddress.ip_address("192.168.1.9")),
    ("fd.connected", "connect", True), ("fd.connected", "open", False),
    ("fd.name_changed", "connect", True), ("fd.is_server", "accept", True),
    ("fd.is_server", "connect", False), ("fd.dev", "open", 0x803), ("fd.dev.major", "open", 8),
    ("fd.dev.minor", "open", 3), ("fd.ino", "open", 1572883),
    ("fd.containername", "open", f"{CID}:/etc/shadow"), ("fd.containerdirectory", "open", f"{CID}:/etc"),
    ("fd.uid", "open", "42423"),
    # container / k8s
    ("container.id", "open", CID), ("container.id", "bare", "host"),
    ("container.full_id", "open", CID + "0" * 52), ("container.name", "open", "nginx-1"),
    ("container.name", "bare", "host"), ("container.type", "open", "docker"),
    ("container.image", "open", "nginx:1.27"),
    ("container.image.repository", "open", "docker.io/library/nginx"),
    ("container.image.tag", "open", "1.27"), ("container.image.id", "open", "6f7e2741b66b"),
    ("container.image.digest", "open", "sha256:abc"), ("container.privileged", "open", True),
    ("container.privileged", "bare", False),
    ("container.host_pid", "open", False), ("container.host_network", "open", True),
    ("container.host_ipc", "open", False), ("container.host_network", "bare", False),
    ("container.mounts", "open", "/var/run/docker.sock:/var/run/docker.sock::true:rprivate,"
                                 "/proc:/host/proc:ro:false:rprivate"),
    ("container.mount[1]", "open", "/proc:/host/proc:ro:false:rprivate"),
    ("container.mount[/nope]", "open", "none"),
    ("container.mount.dest[/var/run/docker.sock]", "open", "/var/run/docker.sock"),
    ("container.mount.dest[/pro*]", "open", "/host/proc"), ("container.mount.dest[0]", "open",
                                                             "/var/run/docker.sock"),
    ("container.mount.source[/host/proc]", "open", "/proc"), ("container.mount.mode[1]", "open", "ro"),
    ("container.mount.rdwr[/proc]", "open", "false"),
    ("container.mount.propagation[0]", "open", "rprivate"), ("container.label[app]", "open", "web"),
    ("container.label.app", "open", "web"), ("container.start_ts", "open", BASE_TS - 9_000_000_000),
    ("container.duration", "open", 9_000_000_000), ("k8s.ns.name", "open", "kube-system"),
    ("k8s.pod.name", "open", "calico-x"), ("k8s.pod.uid", "open", "u-1"), ("k8s.pod.id", "open", "u-1"),
]

# Where each field is absent when not the minimal unknown event.
ABSENT = {
    "container.id": None, "container.name": None, "container.privileged": "nometa",
    "container.host_pid": "nometa", "container.host_network": "nometa",
    "container.host_ipc": "nometa",
    "container.full_id": "nometa", "evt.args": "bare", "evt.arg.flags": "chmod",
    "evt.arg[3]": "chmod", "evt.arg.path": "open", "evt.rawarg.flags": "chmod",
    "evt.type.is.openat": None, "evt.type.is.open": None, "container.mount[/nope]": "nometa",
    "container.mount[1]": "nometa", "evt.abspath": "chmod", "fd.lip": "socket", "fd.filename": "failopen",
}
ALWAYS = {"evt.num", "evt.type", "evt.type.is", "evt.dir", "evt.time", "evt.rawtime", "evt.rawtime.s",
          "evt.rawtime.ns", "evt.time.iso8601", "evt.time.s", "evt.datetime", "evt.datetime.s",
          "evt.latency", "evt.hostname", "evt.source", "evt.is_async", "evt.is_io", "evt.is_io_read",
          "evt.is_io_write", "evt.is_open_read", "evt.is_open_write", "evt.is_open_exec", "thread.tid",
          "container.id", "container.name"}


# -- the rest of libsinsp's field tables (issue 13): counters, fd table, memory --------------------
FD_TABLE = [{"num": 0, "type": "file", "name": "/dev/pts/0"}, {"num": 1, "type": "pipe", "name": ""},
            {"num": 2, "type": "file", "name": "/dev/pts/0"},
            {"num": 5, "type": "ipv4", "name": "10.0.0.5:43210->93.184.216.34:443"}]
COUNTERS = dict(cpu=1, cgroups=["cpu=/user.slice", "memory=/user.slice/app"], fds=FD_TABLE, fdlimit=1024, nthreads=3, nchilds=2, vm_size=10240, vm_rss=2048,
                vm_swap=16, pgft_maj=7, pgft_min=1200)
WORKER = process("java", ["-jar", "app.jar"], tid=4250, pgid=900, **COUNTERS)
_created = open_file("/tmp/new", O_WRONLY | O_CREAT, thread=process("touch", **COUNTERS))
_created["fd"].update(created=True, upper_layer=True, lower_layer=False)
EV.update({
    "created": event(_created),
    "tmpfile": event(record("openat", res=4, args={"fd": 4, "dirfd": -100, "name": "/tmp",
                                                  "flags": 0o20200002, "mode": 0o600},
                            fd={"num": 4, "type": "file", "name": "/tmp/#123"})),
    "worker": event(record("getpid", thread=WORKER, res=4242)),
    "uring": event(record("openat", res=4, args={"fd": 4, "dirfd": -100, "name": "/etc/shadow", "flags": 0,
                                                "mode": 0}, resolved={"io_uring": "true"})),
    "tampered": event(record("openat", res=4, args={"fd": 4, "dirfd": -100, "name": "/etc/shadow", "flags": 0,
                                                   "mode": 0}, resolved={"arg_tampered": "true"})),
    "read": event(record("read", res=5, args={"fd": 0, "data": "hello", "size": 5},
                         fd={"num": 0, "type": "file", "name": "/etc/hosts"})),
    "write": event(record("write", res=3, args={"fd": 1, "data": "abc", "size": 3},
                          fd={"num": 1, "type": "file", "name": "/tmp/out"})),
    "syslog": event(record("sendto", res=10, args={"fd": 3, "data": "<13>hello", "size": 10},
                           fd={"num": 3, "type": "unix", "name": "/dev/log"})),
    "poll": event(record("poll", res=1)),
    "mmapfail": event(record("mmap", res=-12, args={})),
})
CASES += [
    ("evt.count", "open", 1), ("evt.count.error", "failopen", 1), ("evt.count.error", "open", 0),
    ("evt.count.error.file", "failopen", 1), ("evt.count.error.file", "open", 0),
    ("evt.count.error.net", "connect", 0), ("evt.count.error.memory", "mmapfail", 1),
    ("evt.count.error.other", "nometa", 0), ("evt.count.exit", "open", 1),
    ("evt.count.procinfo", "open", 0), ("evt.count.threadinfo", "open", 0),
    ("evt.buflen.in", "read", 5), ("evt.buflen.out", "send", 8), ("evt.buflen.file", "read", 5),
    ("evt.buflen.file.in", "read", 5), ("evt.buflen.file.out", "write", 3),
    ("evt.buflen.net", "send", 8), ("evt.buflen.net.out", "send", 8),
    ("evt.buflen.net.in", "recv", 6),
    ("evt.deltatime", "open", 0), ("evt.deltatime.s", "open", 0), ("evt.deltatime.ns", "open", 0),
    ("evt.latency.s", "open", 0), ("evt.latency.ns", "open", 0), ("evt.latency.quantized", "open", 0),
    ("evt.latency.human", "open", "0ns"), ("evt.wait_latency", "open", 0),
    ("evt.is_wait", "poll", True), ("evt.is_wait", "open", False),
    ("evt.is_syslog", "syslog", True), ("evt.is_syslog", "send", False),
    ("evt.is_open_create", "created", True), ("evt.is_open_create", "tmpfile", True),
    ("evt.is_open_create", "failopen", False), ("evt.is_open_create", "open", False),
    ("evt.is_io_uring", "uring", True), ("evt.is_io_uring", "open", False),
    ("evt.arg_tampered", "tampered", True), ("evt.arg_tampered", "uring", False),
    ("evt.info", "setuid", "res=0 uid=33(www-data)"),
    ("evt.outputtime", "open", time.strftime("%H:%M:%S.000000000", time.localtime(BASE_TS // 10**9))),
    ("fd.cproto", "connect", "43210"), ("fd.sproto", "connect", "443"), ("fd.lproto", "accept", "22"),
    ("fd.rproto", "accept", "50000"), ("fd.is_upper_layer", "created", True),
    ("fd.is_lower_layer", "created", False), ("fd.is_upper_layer", "open", False),
    ("fd.types", "worker", ("file", "pipe", "ipv4")), ("fd.types[1]", "worker", ("pipe",)),
    ("proc.stdin.type", "worker", "file"), ("proc.stdin.name", "worker", "/dev/pts/0"),
    ("proc.stdout.type", "worker", "pipe"), ("proc.stdout.name", "worker", ""),
    ("proc.stderr.type", "worker", "file"), ("proc.stderr.name", "worker", "/dev/pts/0"),
    ("proc.fdopencount", "worker", 4), ("proc.fdlimit", "worker", 1024),
    ("proc.fdusage", "worker", 4 * 100 / 1024),
    ("proc.pgid.name", "worker", "bash"), ("proc.pgid.exe", "worker", "bash"),
    ("proc.pgid.exepath", "worker", "/usr/bin/bash"), ("proc.pgid.name", "open", "cat"),
    ("proc.is_pgid_leader", "worker", False), ("proc.is_pgid_leader", "open", True),
    ("proc.aargs[0]", "worker", "-jar app.jar"), ("proc.aargs[3]", "exec", ""),
    ("proc.aargs", "chain", ("", "", "")),
    ("proc.nthreads", "worker", 3), ("proc.nchilds", "worker", 2),
    ("proc.vmsize", "worker", 10240), ("proc.vmrss", "worker", 2048), ("proc.vmswap", "worker", 16),
    ("thread.vmsize", "created", 10240), ("thread.vmrss", "created", 2048),
    ("thread.vmsize.b", "created", 10240 * 1024), ("thread.vmrss.b", "created", 2048 * 1024),
    ("thread.vmsize", "worker", 0), ("thread.vmrss.b", "worker", 0),
    ("thread.pfmajor", "worker", 7), ("thread.pfminor", "worker", 1200),
    ("thread.nametid", "open", "cat4242"), ("evt.cpu", "worker", 1),
    ("thread.cgroups", "worker", "cpu=/user.slice memory=/user.slice/app"),
    ("thread.cgroup.memory", "worker", "/user.slice/app"), ("thread.cgroup.cpu", "created", "/user.slice"),
]
EV["recv"] = event(record("recvfrom", res=6, args={"fd": 5, "data": "HTTP/1", "size": 64}, fd=TCP))
ALWAYS |= {"evt.count", "evt.count.procinfo", "evt.count.threadinfo", "evt.deltatime",
           "evt.deltatime.s", "evt.deltatime.ns", "evt.latency.s", "evt.latency.ns",
           "evt.latency.quantized", "evt.latency.human", "evt.wait_latency", "evt.is_wait",
           "evt.is_syslog", "evt.is_open_create", "evt.is_io_uring", "evt.arg_tampered",
           "evt.outputtime"}


@pytest.mark.parametrize("field,evname,expected", CASES, ids=[f"{c[0]}@{c[1]}" for c in CASES])
def test_field_value(field: str, evname: str, expected: Any) -> None:
    assert val(field, EV[evname]) == expected


ABSENT_CASES = sorted({c[0] for c in CASES
                       if c[0] in ABSENT and ABSENT[c[0]] is not None or c[0] not in ABSENT and
                       c[0].partition("[")[0] not in ALWAYS})


@pytest.mark.parametrize("field", ABSENT_CASES)
def test_field_absent(field: str) -> None:
    assert val(field, EV[ABSENT.get(field) or "bare"]) is None


def _base(text: str) -> str:
    names = {s.name for s in catalogue()}
    text = text.partition("[")[0]
    while text not in names:
        text = text.rpartition(".")[0]
    return text


def test_every_field_has_a_present_and_an_absent_case() -> None:
    present = {_base(c[0]) for c in CASES}
    absent = {_base(f) for f in ABSENT_CASES}
    for spec in catalogue():
        if not spec.available:
            continue
        assert spec.name in present, f"no present case for {spec.name}"
        assert spec.name in absent or spec.name in ALWAYS, f"no absent case for {spec.name}"


@pytest.mark.parametrize("name", sorted(ALWAYS - {"evt.type.is"}))
def test_always_present_fields(name: str) -> None:
    assert val(name, EV["bare"]) is not None


@pytest.mark.parametrize("spec", [s for s in catalogue() if not s.available], ids=lambda s: s.name)
def test_unavailable_fields_are_always_absent(spec: Any) -> None:
    text = f"{spec.name}[x]" if spec.arg != "none" else spec.name
    try:
        bound = bind(ref(text))
    except RuleError:          # dotted-only family: thread.cgroup.SUBSYS
        bound = bind(FieldRef(f"{spec.name}.x"))
    for ev in EV.values():
        assert bound.extract(ev) is None


def test_unavailable_set() -> None:
    unavailable = {s.name for s in catalogue() if not s.available}
    assert {"fd.cip.name", "fd.sip.name", "fd.lip.name", "fd.rip.name", "thread.cpu"} <= unavailable
    assert not {"container.image.repository", "k8s.ns.name", "container.mount.dest"} & unavailable


def test_catalogue_covers_the_rules_corpus_fields() -> None:
    assert len(MVP_FIELDS) == len(set(MVP_FIELDS)) == 90
    names = {s.name for s in catalogue()}
    for name in MVP_FIELDS:
        if name.startswith("evt.arg."):
            assert "evt.arg" in names
            bind(FieldRef(name))
        else:
            assert name in names, name
    specs = {s.name: s for s in catalogue()}
    assert specs["proc.aname"].multi == "any" and specs["proc.aname"].no_rhs
    assert specs["fd.net"].ftype == IPNET and specs["fd.net"].filter_only
    assert specs["fd.sip.name"].no_rhs and not specs["fd.sip.name"].available
    assert all(s.desc and "\n" not in s.desc for s in catalogue())


# -- binding --------------------------------------------------------------------------------------

def test_bound_field_shape() -> None:
    b = bind(FieldRef("proc.aname", "2"))
    assert isinstance(b, BoundField)
    assert (b.key, b.multi, b.ftype) == ("proc.aname[2]", None, STRING)
    assert bind(FieldRef("proc.aname")).multi == "any"
    assert bind(FieldRef("evt.arg.flags")).key == "evt.arg.flags"
    assert bind(FieldRef("proc.env", "HOME")).key == "proc.env[HOME]"
    assert bind(FieldRef("fd.net")).multi == "ends"
    assert bind(FieldRef("evt.rawarg.flags")).ftype == INT64
    assert bind(FieldRef("evt.rawarg.data")).ftype == BYTES
    assert bind(FieldRef("evt.rawarg.name")).ftype == STRING
    assert bind(FieldRef("fd.ip")).ftype == IP
    assert bind(FieldRef("evt.arg", "0")).ftype == STRING


@pytest.mark.parametrize("name,arg,message", [
    ("proc.nonsense", None, "filter_check called with nonexistent field proc.nonsense"),
    ("evt.foo", None, "filter_check called with nonexistent field evt.foo"),
    ("proc.aname", "x", "field 'proc.aname' argument must be a number"),
    ("proc.aname", "-1", "field 'proc.aname' argument must be a number"),
    ("evt.arg", "", "requires a non-empty argument"),
    ("proc.name", "1", "field 'proc.name' does not take an argument"),
    ("container.mount.dest", None, "field 'container.mount.dest' requires an argument"),
    ("container.label", None, "requires an argument"),
    ("evt.arg", None, "field 'evt.arg' requires an argument"),
    ("evt.rawarg", None, "requires an argument"),
    ("evt.arg.foo", None, "unknown event argument foo"),
    ("evt.rawarg.foo", None, "unknown event argument foo"),
    ("evt.type.is.foo", None, "unknown event type foo"),
    ("evt.arg.flags", "1", "does not take an argument"),
])
def test_bind_errors(name: str, arg: str | None, message: str) -> None:
    with pytest.raises(RuleError) as err:
        bind(FieldRef(name, arg, pos=17))
    assert message in err.value.reason
    assert err.value.offset == 17


def test_missing_argument_is_not_an_unknown_field() -> None:
    with pytest.raises(RuleError) as err:
        bind(FieldRef("container.mount.dest"))
    assert "nonexistent" not in err.value.reason


def test_event_type_constants_are_checked() -> None:
    for name in ("evt.type", "syscall.type"):
        check = bind(FieldRef(name)).spec.check_constant
        assert check is not None
        check("umount2")
        check("procexit")
        with pytest.raises(ValueError, match="unknown event type foo"):
            check("foo")
    assert bind(FieldRef("proc.name")).spec.check_constant is None


@pytest.mark.parametrize("text,expected", [
    ("proc.pname", True), ("proc.aname[2]", True), ("evt.arg.flags", True), ("fd.sip.name", True),
    ("bash", False), ("1.2.3.4", False), ("/etc/passwd", False), ("proc.pnam", False),
    ("evt.arg.foo", False), ("container.mount.dest", False), ("", False),
])
def test_is_field_name(text: str, expected: bool) -> None:
    assert is_field_name(text) is expected


# -- semantics ------------------------------------------------------------------------------------

def test_argument_absent_when_the_event_type_lacks_it_or_the_record_does() -> None:
    assert val("evt.arg.flags", EV["chmod"]) is None
    ev = event(record("openat", args={"name": "/tmp/x"}, res=3))
    assert val("evt.arg.flags", ev) is None
    assert val("evt.arg.fd", ev) == "3"          # the return value parameter falls back to res
    assert val("evt.arg[99]", ev) is None


def test_null_parameter_renders_na() -> None:
    ev = event(record("openat", args={"name": None, "dirfd": -100}, res=3))
    assert val("evt.arg.name", ev) == "<NA>"
    assert "name=<NA>" in val("evt.args", ev)


def test_absolute_paths_are_not_normalised_in_arguments() -> None:
    ev = event(record("openat", args={"name": "/etc//../etc/shadow", "dirfd": -100}, res=-2))
    assert val("evt.arg.name", ev) == "/etc//../etc/shadow"
    assert val("fd.name", ev) == "/etc/shadow"
    assert val("fd.num", ev) == -1
    assert val("evt.res", ev) == "ENOENT"


def test_uid_rendering() -> None:
    assert val("evt.arg.uid", event(record("setuid", args={"uid": -1}))) == "<NONE>"
    assert val("evt.arg.uid", event(record("setuid", args={"uid": 0}, user={}))) == "root"
    assert val("evt.arg.uid", event(record("setuid", args={"uid": 1234}, user={"uid": 0}))) == "1234"
    resolved = event(record("setuid", args={"uid": 1234}, resolved={"uid": "alice"}))
    assert val("evt.arg.uid", resolved) == "alice"
    assert val("evt.args", resolved) == "res=0 uid=1234(alice)"


def test_exec_fields_describe_the_new_program() -> None:
    ev = EV["exec"]
    assert val("proc.name", ev) == "bash" and val("proc.cmdline", ev) == "bash -c id"
    assert val("evt.arg.filename", ev) == "/usr/bin/bash"
    flagged = event(exec_process("x", [], proc={}))
    flagged.args["flags"] = 4 | 2
    assert val("evt.arg.flags", flagged) == "EXE_UPPER_LAYER|EXE_FROM_MEMFD"


def test_memfd_exe_derived_from_exepath() -> None:
    ev = event(record("execve", thread=process("x", exepath="memfd:runc_cloned:/proc/self/exe")))
    assert val("proc.is_exe_from_memfd", ev) is True


def test_loginuid_unset_is_minus_one() -> None:
    ev = event(record("getpid", thread=process("x", loginuid=4294967295)))
    assert val("user.loginuid", ev) == -1
    assert val("user.uid", event(record("getpid", user={"uid": -1}))) == 4294967295


def test_typechar_mapping() -> None:
    chars = {"file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u", "pipe": "p",
             "event": "e", "signalfd": "s", "eventpoll": "l", "inotify": "i", "timerfd": "t",
             "netlink": "n", "bpf": "b", "userfaultfd": "u", "io_uring": "r", "memfd": "m",
             "pidfd": "P", "unknown": "o"}
    for kind, char in chars.items():
        ev = event(record("close", args={"fd": 9}, fd={"num": 9, "type": kind, "name": ""}))
        assert val("fd.typechar", ev) == char
    unknown = event(record("close", args={"fd": 9}, fd={"num": 9, "type": "unknown"}))
    assert val("fd.type", unknown) is None


def test_fd_fields_absent_on_events_without_fd() -> None:
    ev = event(record("rename", args={"oldpath": "/a", "newpath": "/b"}))
    for name in ("fd.num", "fd.name", "fd.typechar", "fd.directory", "fd.nameraw"):
        assert val(name, ev) is None


def test_ipv4_mapped_addresses_are_ipv4() -> None:
    assert val("fd.cip", EV["accept"]) == ipaddress.IPv4Address("192.168.1.9")


def test_unix_socket_has_no_ip_fields() -> None:
    ev = event(record("connect", args={"fd": 3}, fd={"num": 3, "type": "unix",
                                                     "name": "ffff1->ffff2 /var/run/docker.sock"}))
    assert val("fd.sockfamily", ev) == "unix"
    assert val("fd.ip", ev) is None and val("fd.lip", ev) is None and val("fd.directory", ev) is None


# -- rendering ------------------------------------------------------------------------------------

def render(text: str, ev: Event) -> str:
    b = bind(ref(text))
    v = b.extract(ev)
    return "<NA>" if v is None else b.render(v)


def test_rendering() -> None:
    assert render("fd.num", EV["open"]) == "3"
    assert render("evt.is_open_read", EV["open"]) == "true"
    assert render("fd.connected", EV["open"]) == "false"
    assert render("fd.sip", EV["connect"]) == "93.184.216.34"
    assert render("proc.exe_ino.ctime", EV["open"]) == str(BASE_TS - 5_000_000_000)
    assert render("proc.duration", EV["open"]) == "1000000"
    assert render("evt.buffer", EV["send"]) == "GET /..."
    assert render("evt.arg.data", EV["send"]) == "GET /..."
    assert render("proc.aname", EV["open"]) == "bash sshd systemd"
    assert render("proc.apid", EV["open"]) == "900 800 1"
    assert render("fd.net", EV["connect"]) == "10.0.0.5 93.184.216.34"
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.000000000", render("evt.time", EV["open"]))
    assert re.fullmatch(r"2024-11-2\d \d\d:\d\d:\d\d\.000000000", render("evt.datetime", EV["open"]))
    assert render("user.loginuid", event(record("x", thread=process("x", loginuid=-1)))) == "-1"
    v6 = event(record("connect", fd=dict(TCP, type="ipv6", cip="2001:db8::5", sip="::1")))
    assert render("fd.cip", v6) == "2001:db8::5"


# -- flag, enum and name tables (fields.md §3.1) --------------------------------------------------

@pytest.mark.parametrize("table,value,text", [
    ("open_flags", O_CLOEXEC, "O_RDONLY|O_CLOEXEC"),
    ("open_flags", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC"),
    ("open_flags", O_RDWR, "O_RDWR"),
    ("open_flags", 0o200000, "O_DIRECTORY|O_RDONLY|O_TMPFILE"),
    ("open_flags", 0o20200000 | O_RDWR, "O_DIRECTORY|O_RDWR|O_TMPFILE"),
    ("open_flags", 0o4010000 | 0o4000 | 0o2000, "O_SYNC|O_NONBLOCK|O_DSYNC|O_APPEND|O_RDONLY"),
    ("file_flags", 0, "O_NONE"), ("file_flags", O_CLOEXEC | 0o4000, "O_NONBLOCK|O_CLOEXEC"),
    ("chmod_mode", 0o755, "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR"),
    ("chmod_mode", 0o4700, "S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"),
    ("clone_flags", 0x20000 | 0x10000000 | 17, "CLONE_NEWNS|CLONE_NEWUSER"),
    ("clone_flags", 0x100 | 0x200 | 0x400 | 0x800 | 0x10000, "CLONE_FILES|CLONE_FS|CLONE_SIGHAND|"
                                                              "CLONE_THREAD|CLONE_VM"),
    ("mount_flags", 0x1000 | 0x4000, "BIND|REC"), ("mount_flags", 0xC0ED0000 | 0x1, "RDONLY"),
    ("umount_flags", 2, "DETACH"), ("prot_flags", 0, "PROT_NONE"), ("prot_flags", 5, "PROT_READ|PROT_EXEC"),
    ("mmap_flags", 0x22, "MAP_PRIVATE|MAP_ANONYMOUS"), ("memfd_create_flags", 3, "MFD_CLOEXEC|MFD_ALLOW_SEALING"),
    ("renameat2_flags", 1, "RENAME_NOREPLACE"), ("linkat_flags", 0x1000, "AT_EMPTY_PATH"),
    ("unlinkat_flags", 0x200, "AT_REMOVEDIR"), ("unlinkat_flags", 0, ""),
    ("fchownat_flags", 0x100, "AT_SYMLINK_NOFOLLOW"), ("openat2_flags", 0x8 | 0x1, "RESOLVE_BENEATH|RESOLVE_NO_XDEV"),
    ("socket_families", 16, "AF_ROUTE|AF_NETLINK"), ("socket_families", 1, "AF_LOCAL|AF_UNIX"),
    ("socket_families", 2, "AF_INET"), ("socket_families", 10, "AF_INET6"), ("socket_families", 17, "AF_PACKET"),
    ("ptrace_requests", 16, "PTRACE_ATTACH"), ("ptrace_requests", 0, "PTRACE_TRACEME"),
    ("ptrace_requests", 4, "PTRACE_POKETEXT"), ("ptrace_requests", 0x4206, "PTRACE_SEIZE"),
    ("ptrace_requests", 12345, "PTRACE_UNKNOWN"),
    ("bpf_commands", 5, "BPF_PROG_LOAD"), ("bpf_commands", 0, "BPF_MAP_CREATE"),
    ("bpf_commands", 10, "BPF_PROG_TEST_RUN|BPF_PROG_RUN"), ("bpf_commands", 35, "BPF_PROG_BIND_MAP"),
    ("fcntl_commands", 1030, "F_DUPFD_CLOEXEC"), ("fcntl_commands", 9999, "UNKNOWN"),
    ("execve_flags", 0, ""), ("execve_flags", 4, "EXE_FROM_MEMFD"),
    ("prctl_options", 36, "PR_SET_CHILD_SUBREAPER"), ("access_flags", 0, "F_OK"),
])
def test_flag_rendering(table: str, value: int, text: str) -> None:
    assert render_flags(table, value) == text


def test_flags_text_falls_back_to_decimal() -> None:
    assert flags_text("unlinkat_flags", 0) == "0"
    assert flags_text("execve_flags", 0) == "0"
    assert flags_text("open_flags", O_CLOEXEC) == "O_RDONLY|O_CLOEXEC"


def test_errno_names() -> None:
    assert [errno_name(n) for n in (2, -2, 11, 35, 95, 115, 13, 133, 512, 516)] == [
        "ENOENT", "ENOENT", "EAGAIN", "EDEADLK", "EOPNOTSUPP", "EINPROGRESS", "EACCES", "EHWPOISON",
        "ERESTARTSYS", "ERESTART_RESTARTBLOCK"]
    assert errno_name(41) is None and errno_name(9999) is None
    assert val("evt.res", event(record("connect", res=-115))) == "EINPROGRESS"


def test_capability_names() -> None:
    assert caps_text(0) == ""
    assert caps_text(0b11) == "CAP_CHOWN CAP_DAC_OVERRIDE"
    assert caps_text(1 << 40) == "CAP_CHECKPOINT_RESTORE"
    full = caps_text((1 << 41) - 1).split()
    assert len(full) == 41 and full[21] == "CAP_SYS_ADMIN" and full[16] == "CAP_SYS_MODULE"


# -- typing ---------------------------------------------------------------------------------------

def test_value_types_match_field_types() -> None:
    py = {Kind.STRING: str, Kind.BYTES: bytes, Kind.BOOL: bool, Kind.INT: int, Kind.PORT: int,
          Kind.ABSTIME: int, Kind.RELTIME: int, Kind.DOUBLE: float,
          Kind.IP: (ipaddress.IPv4Address, ipaddress.IPv6Address),
          Kind.IPNET: (ipaddress.IPv4Address, ipaddress.IPv6Address)}
    for field, evname, _ in CASES:
        b = bind(ref(field))
        v = b.extract(EV[evname])
        values = v if b.multi in ("any", "ends", "list") else (v,)
        for item in values:
            assert isinstance(item, py[b.ftype.kind]), (field, item)
            if b.ftype.kind is Kind.INT:
                assert type(item) is int


def test_mypy_strict_clean() -> None:
    pytest.importorskip("mypy")
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "falcoish/fields",
                             "falcoish/events/table.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the new fields as a user writes them: a rule file and `falcoish run` ---------------------------
NEW_FIELD_RULES = """\
- rule: Shell with a network stdout
  desc: fd table, counters and time since the previous event
  condition: >
    evt.type = read and fd.types intersects (ipv4, ipv6) and proc.stdout.type = ipv4
    and evt.count.error = 0 and evt.buflen.file.in > 0 and proc.is_pgid_leader = false
  output: >
    stdout=%proc.stdout.name types=%fd.types fds=%proc.fdopencount usage=%proc.fdusage
    delta=%evt.deltatime grp=%proc.pgid.name rss=%thread.vmrss.b cpu=%thread.cpu
  priority: WARNING
"""


def test_new_fields_from_a_rule_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from falcoish.cli.main import main
    rules = tmp_path / "rules.yaml"
    rules.write_text(NEW_FIELD_RULES)
    table = [{"num": 0, "type": "file", "name": "/dev/null"},
             {"num": 1, "type": "ipv4", "name": "10.0.0.5:4444->10.0.0.9:9001"}]
    shell = process("sh", ["-i"], pgid=900, fds=table, fdlimit=200, vm_rss=100)
    read = dict(record("read", res=5, args={"fd": 0, "data": "hello", "size": 5}, thread=shell,
                       fd={"num": 0, "type": "file", "name": "/dev/null"}))
    records = [dict(read, num=1), dict(read, num=2, ts=BASE_TS + 1500),
               dict(read, num=3, ts=BASE_TS + 4000, res=-9),                # an error: no alert
               dict(read, num=4, ts=BASE_TS + 7000,
                    thread=dict(shell, fds=table[:1]))]                      # stdout not a socket
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["run", "--no-defaults", "--json", "-r", str(rules), "-e", str(events)]) == 0
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [a["output_fields"]["evt.deltatime"] for a in alerts] == [0, 1500]
    fields = alerts[1]["output_fields"]
    assert fields["proc.stdout.name"] == "10.0.0.5:4444->10.0.0.9:9001"
    assert fields["proc.fdopencount"] == 2 and fields["proc.fdusage"] == 1.0
    assert fields["proc.pgid.name"] == "bash" and fields["thread.vmrss.b"] == 102400
    assert fields["thread.cpu"] is None
    assert "types=(file,ipv4) fds=2 usage=1.0 delta=1500 grp=bash rss=102400 cpu=<NA>" in alerts[1]["output"]


def test_fields_listing_marks_what_cannot_be_known(capsys: pytest.CaptureFixture[str]) -> None:
    from falcoish.cli.main import main
    assert main(["fields"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for name in ("thread.cpu", "thread.exectime", "fdlist.names", "evt.reltime", "evt.pluginname"):
        assert "always <NA>" in lines[name], name
    for name in ("evt.count.error", "fd.types[N]", "proc.stdin.name", "proc.vmrss", "thread.nametid",
                 "evt.is_open_create", "fd.cproto", "proc.aargs[N]"):
        assert name in lines and "always <NA>" not in lines[name], name
