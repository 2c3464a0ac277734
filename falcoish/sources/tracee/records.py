"""Tracee records -> one normalised `_Rec`, whatever the record's shape.

Why: Tracee's JSON changed shape three times (flat v0.4-v0.12, nested v0.13+, protobuf-shaped
on main after v0.24.1); the handlers see only `_Rec`, so a shape is handled in one place.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping

from ...events.event import Section
from ...events.table import SYSCALL_NAMES
from .values import _num, _put, _str


class _BadRecord(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Rec:
    """One Tracee record, independent of its shape.  `pid`/`tid`/`ppid` are host ids,
    `vpid`/`vtid`/`vppid` the ids in the task's pid namespace; None when absent."""

    __slots__ = ("name", "ts", "ret", "args", "syscall", "pid", "vpid", "tid", "vtid", "ppid",
                 "vppid", "uid", "comm", "exepath", "hostname", "container", "ancestors",
                 "identity")

    def __init__(self, name: str, ts: int) -> None:
        self.name = name
        self.ts = ts
        self.ret: int | None = None
        self.args: dict[str, Any] = {}
        self.syscall: str | None = None
        self.pid: int | None = None
        self.vpid: int | None = None
        self.tid: int | None = None
        self.vtid: int | None = None
        self.ppid: int | None = None
        self.vppid: int | None = None
        self.uid: int | None = None
        self.comm: str | None = None
        self.exepath: str | None = None
        self.hostname: str | None = None
        self.container: Section = {}
        self.ancestors: list[Section] | None = None
        self.identity: Any = None

    @property
    def key(self) -> int | None:
        """The process-table key: the host pid, else the namespaced one (oldest records)."""
        return self.pid if self.pid is not None else self.vpid


def _int_key(obj: Mapping[str, Any], key: str) -> int | None:
    v = obj.get(key)
    return v if type(v) is int else _num(v) if isinstance(v, str) else None


def _obj(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    v = obj.get(key)
    return v if isinstance(v, dict) else {}


def _parse_record(obj: Any) -> _Rec:
    if not isinstance(obj, dict):
        raise _BadRecord(f"record is a {type(obj).__name__}, expected a JSON object")
    if "eventName" in obj:
        return _parse_classic(obj)
    if isinstance(obj.get("name"), str) and ("workload" in obj or "data" in obj):
        return _parse_proto(obj)
    raise _BadRecord("not a Tracee event: no 'eventName' (nor 'name' with 'workload'/'data')")


def _classic_ts(value: Any) -> int:
    if type(value) is int:
        return value                          # v0.6+: nanoseconds
    if isinstance(value, float):
        return round(value * 1_000_000)       # v0.4-v0.5: milliseconds, as a float
    raise _BadRecord("'timestamp' must be a number")


def _parse_classic(obj: dict[str, Any]) -> _Rec:
    """The flat (v0.4-v0.12) and nested (v0.13+) shapes: same keys but for the container."""
    name = obj["eventName"]
    if not isinstance(name, str) or not name:
        raise _BadRecord("'eventName' must be a non-empty string")
    if "timestamp" not in obj:
        raise _BadRecord("missing required key 'timestamp'")
    rec = _Rec(name, _classic_ts(obj["timestamp"]))
    rec.pid, rec.vpid = _int_key(obj, "hostProcessId"), _int_key(obj, "processId")
    rec.tid, rec.vtid = _int_key(obj, "hostThreadId"), _int_key(obj, "threadId")
    rec.ppid, rec.vppid = _int_key(obj, "hostParentProcessId"), _int_key(obj, "parentProcessId")
    if rec.tid is None and rec.vtid is None:
        raise _BadRecord("missing thread id: neither 'hostThreadId' nor 'threadId' is an integer")
    rec.uid = _int_key(obj, "userId")
    rec.comm = _str(obj.get("processName"))
    rec.exepath = _str(_obj(obj, "executable").get("path")) or None
    rec.hostname = _str(obj.get("hostName"))
    ret = obj.get("returnValue")
    rec.ret = ret if type(ret) is int else None
    rec.syscall = _str(obj.get("syscall")) or None
    rec.args = _classic_args(obj.get("args"))
    rec.container = _classic_container(obj)
    entity = obj.get("processEntityId")
    if type(entity) is int and entity:
        rec.identity = entity
    elif type(obj.get("threadStartTime")) is int and rec.tid is not None and rec.tid == rec.pid:
        rec.identity = ("start", obj["threadStartTime"])
    return rec


def _classic_args(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise _BadRecord("'args' must be a list of {name, value} objects")
    args: dict[str, Any] = {}
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            args[item["name"]] = item.get("value")
    return args


def _image_parts(image: str, into: Section) -> None:
    """`repo[:tag][@digest]` -> container.image(.repository/.tag/.digest)."""
    into["image"] = image
    ref, _, digest = image.partition("@")
    if digest:
        into.setdefault("image_digest", digest)
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        into["image_repository"], into["image_tag"] = ref[:colon], ref[colon + 1:]
    else:
        into["image_repository"] = ref


def _container_section(cid: str | None, name: str | None, image: str | None,
                       digest: str | None, pod: str | None, namespace: str | None,
                       pod_uid: str | None, said: bool) -> Section:
    """falcoish's container section; `said`: the record states the container (an empty id
    then means the host)."""
    out: Section = {}
    if cid:
        out["id"], out["full_id"] = cid[:12], cid
    elif said:
        return {"id": "host"}
    else:
        return {}
    _put(out, "name", name or None)
    if digest:
        out["image_digest"] = digest
    if image:
        _image_parts(image, out)
    _put(out, "k8s_pod_name", pod or None)
    _put(out, "k8s_ns_name", namespace or None)
    _put(out, "k8s_pod_uid", pod_uid or None)
    return out


def _classic_container(obj: dict[str, Any]) -> Section:
    nested = _obj(obj, "container")
    kube = _obj(obj, "kubernetes")
    said = any(k in obj for k in ("containerId", "ContainerID", "container"))
    cid = _str(nested.get("id")) or _str(obj.get("containerId")) or _str(obj.get("ContainerID"))
    return _container_section(
        cid, _str(nested.get("name")) or _str(obj.get("containerName")),
        _str(nested.get("image")) or _str(obj.get("containerImage")),
        _str(nested.get("imageDigest")),
        _str(kube.get("podName")) or _str(obj.get("podName")),
        _str(kube.get("podNamespace")) or _str(obj.get("podNamespace")),
        _str(kube.get("podUID")) or _str(obj.get("podUID")), said)


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?\d*(Z|[+-]\d\d:\d\d)\Z")


def _proto_ts(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, dict):
        secs, nanos = _num(value.get("seconds")), _num(value.get("nanos", 0))
        if secs is not None and nanos is not None:
            return secs * 1_000_000_000 + nanos
    if isinstance(value, str):
        m = _RFC3339.match(value.strip())
        if m:
            zone = "+00:00" if m[3] == "Z" else m[3]
            secs = int(datetime.fromisoformat(m[1] + zone).timestamp())
            return secs * 1_000_000_000 + int((m[2] or "0").ljust(9, "0"))
    raise _BadRecord("'timestamp' must be an RFC 3339 time, {seconds, nanos} or nanoseconds")


def _proto_value(entry: Mapping[str, Any]) -> Any:
    """The value of one `data` entry: `{"name", "value"}` or `{"name", "<type>": value}`."""
    if "value" in entry:
        return entry["value"]
    for key, value in entry.items():
        if key != "name":
            if isinstance(value, dict) and set(value) == {"value"}:
                return value["value"]
            return value
    return None


def _proto_process(proc: Mapping[str, Any]) -> Section:
    """A `workload.process` (or one of its `ancestors`) -> falcoish thread keys."""
    out: Section = {}
    thread = _obj(proc, "thread")
    _put(out, "pid", _int_key(proc, "host_pid"))
    _put(out, "vpid", _int_key(proc, "pid"))
    _put(out, "comm", _str(thread.get("name")) or None)
    _put(out, "exepath", _str(_obj(proc, "executable").get("path")) or None)
    _put(out, "uid", _int_key(_obj(proc, "real_user"), "id"))
    return out


def _parse_proto(obj: dict[str, Any]) -> _Rec:
    """Tracee main's protobuf-shaped JSON (`v1beta1.Event`)."""
    if "timestamp" not in obj:
        raise _BadRecord("missing required key 'timestamp'")
    rec = _Rec(obj["name"], _proto_ts(obj["timestamp"]))
    workload = _obj(obj, "workload")
    proc = _obj(workload, "process")
    thread = _obj(proc, "thread")
    rec.pid, rec.vpid = _int_key(proc, "host_pid"), _int_key(proc, "pid")
    rec.tid, rec.vtid = _int_key(thread, "host_tid"), _int_key(thread, "tid")
    if rec.tid is None and rec.vtid is None:
        raise _BadRecord("missing thread id: 'workload.process.thread' has no 'host_tid'/'tid'")
    rec.uid = _int_key(_obj(proc, "real_user"), "id")
    rec.comm = _str(thread.get("name")) or None
    rec.exepath = _str(_obj(proc, "executable").get("path")) or None
    rec.syscall = _str(thread.get("syscall")) or None
    unique = _int_key(proc, "unique_id")
    rec.identity = unique or None
    data = obj.get("data")
    if data is not None and not isinstance(data, list):
        raise _BadRecord("'data' must be a list of {name, value} objects")
    for entry in data or ():
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            rec.args[entry["name"]] = _proto_value(entry)
    ret = obj.get("returnValue", rec.args.pop("returnValue", None))
    if ret is not None:
        rec.ret = _num(ret)
    elif rec.name not in SYSCALL_NAMES:
        rec.ret = 0     # as older shapes always report for Tracee's own (non-syscall) events
    ancestors = proc.get("ancestors")
    if isinstance(ancestors, list) and ancestors:
        rec.ancestors = [_proto_process(a) for a in ancestors if isinstance(a, dict)]
        parent = rec.ancestors[0] if rec.ancestors else {}
        rec.ppid, rec.vppid = parent.get("pid"), parent.get("vpid")
    cont, k8s = _obj(workload, "container"), _obj(workload, "k8s")
    image = _obj(cont, "image")
    digests = image.get("repo_digests")
    digest = digests[0] if isinstance(digests, list) and digests and isinstance(digests[0], str) else None
    if digest and "@" in digest:
        digest = digest.split("@", 1)[1]
    rec.container = _container_section(
        _str(cont.get("id")), _str(cont.get("name")), _str(image.get("name")), digest,
        _str(_obj(k8s, "pod").get("name")), _str(_obj(k8s, "namespace").get("name")),
        _str(_obj(k8s, "pod").get("uid")), "container" in workload)
    return rec
