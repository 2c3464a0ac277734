"""Tracee records for the tests: Tracee's JSON event shapes, built from a few keywords.

Shared by tests/test_tracee*.py and by tests/data/tracee/make_streams.py (which wrote the
stream files there).  Two shapes: Tracee's old flat one (v0.8: top-level `containerId`,
`containerImage`, `podName`..., arguments parsed to text) and its nested one (v0.18+:
`container`/`kubernetes`/`executable` objects, raw integer arguments).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import orjson

import falcoish
from falcoish.runtime.engine import Engine
from falcoish.events.event import Event
from falcoish.rules.loader import LoadResult
from falcoish.output.format import Alert
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


@lru_cache(maxsize=1)
def load_default_rules() -> LoadResult:
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

def alerts_for(loaded: LoadResult, events: list[Event]) -> Iterator[tuple[Alert, Event]]:
    engine = Engine.from_load(loaded, rule_matching="all")
    for event in events:
        for alert in engine.process(event):
            yield alert, event


# ------------------------------------------------------------------------------------------
# Event specs: (name, args, tracee() keywords), written out by records()
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

def records(shape: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, spec in enumerate(events):
        spec = dict(spec)
        name, args = spec.pop("name"), spec.pop("args")
        out.append(tracee(shape, name, args, ts=TS + i * 1000, **spec))
    return out

def one(tmp_path: Path, record: Any) -> TraceeEvent:
    evs, bad = read(write_jsonl(tmp_path / "one.jsonl", [record]))
    assert bad == [] and len(evs) == 1
    event = evs[0]
    assert isinstance(event, TraceeEvent)
    return event
