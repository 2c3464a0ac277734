"""Build event records for tests, with sensible defaults for everything not under test."""

from __future__ import annotations

import copy
from typing import Any

from falcoish.events.event import Event

BASE_TS = 1_732_450_000_000_000_000

O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2
O_CREAT, O_TRUNC, O_APPEND, O_CLOEXEC = 0o100, 0o1000, 0o2000, 0o2000000

SHELL = {"pid": 900, "tid": 900, "ppid": 800, "comm": "bash", "exe": "bash", "exepath": "/usr/bin/bash",
         "args": [], "cwd": "/root/", "tty": 34816, "sid": 800, "pgid": 900, "vpid": 900, "vpgid": 900,
         "loginuid": 0, "uid": 0, "gid": 0}
SSHD = {"pid": 800, "tid": 800, "ppid": 1, "comm": "sshd", "exe": "sshd", "exepath": "/usr/sbin/sshd",
        "args": [], "cwd": "/", "tty": 0, "sid": 800, "pgid": 800, "loginuid": -1, "uid": 0, "gid": 0}
INIT = {"pid": 1, "tid": 1, "ppid": 0, "comm": "systemd", "exe": "/sbin/init", "exepath": "/usr/lib/systemd/systemd",
        "args": [], "cwd": "/", "tty": 0, "sid": 1, "pgid": 1, "loginuid": -1, "uid": 0, "gid": 0}


def process(comm: str, args: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A thread section for a process named `comm`, child of the default shell."""
    proc = {"pid": 4242, "tid": 4242, "ppid": 900, "comm": comm, "exe": comm,
            "exepath": extra.pop("exepath", f"/usr/bin/{comm}"), "args": args or [], "cwd": "/root/",
            "tty": 34816, "sid": 800, "pgid": 4242, "vpid": 4242, "vpgid": 4242, "loginuid": 0,
            "uid": 0, "gid": 0, "start_ts": BASE_TS - 1_000_000}
    proc.update(extra)
    return proc


def record(type: str, *, thread: dict[str, Any] | None = None, args: dict[str, Any] | None = None,
           res: int | None = 0, fd: dict[str, Any] | None = None,
           ancestors: list[dict[str, Any]] | None = None, user: dict[str, Any] | None = None,
           container: dict[str, Any] | None = None, num: int = 1, ts: int = BASE_TS,
           resolved: dict[str, Any] | None = None) -> dict[str, Any]:
    """A complete event record (see docs/events.md)."""
    rec: dict[str, Any] = {
        "num": num, "ts": ts, "type": type, "tid": (thread or {}).get("tid", 4242), "res": res,
        "args": args or {}, "thread": copy.deepcopy(thread or process("cat")),
        "ancestors": copy.deepcopy(ancestors if ancestors is not None else [SHELL, SSHD, INIT]),
        "user": user or {"uid": 0, "name": "root", "homedir": "/root", "shell": "/bin/bash", "loginname": "root"},
        "group": {"gid": 0, "name": "root"},
        "container": container or {"id": "host"},
    }
    if fd is not None:
        rec["fd"] = fd
    if resolved:
        rec["resolved"] = resolved
    return rec


def open_file(path: str, flags: int = O_RDONLY, comm: str = "cat", fdnum: int = 3,
              type: str = "openat", **kw: Any) -> dict[str, Any]:
    """A successful open of a regular file."""
    args = {"fd": fdnum, "dirfd": -100, "name": path, "flags": flags, "mode": 0}
    fd = {"num": fdnum, "type": "file", "name": path, "flags": flags}
    thread = kw.pop("thread", None) or process(comm, [path])
    return record(type, thread=thread, args=args, res=fdnum, fd=fd, **kw)


def exec_process(comm: str, args: list[str] | None = None, res: int = 0, **kw: Any) -> dict[str, Any]:
    """A successful execve; the thread already shows the new program (as in libsinsp)."""
    extra = kw.pop("proc", {})
    thread = process(comm, args, **extra)
    evargs = {"res": res, "exe": thread["exe"], "args": "\0".join(args or []),
              "filename": thread["exepath"], "pid": thread["pid"], "tid": thread["tid"],
              "ptid": thread["ppid"], "cwd": thread["cwd"], "uid": 0, "gid": 0, "flags": 0}
    return record("execve", thread=thread, args=evargs, res=res, **kw)


def event(rec: dict[str, Any], num: int = 1) -> Event:
    return Event.from_record(rec, num)
