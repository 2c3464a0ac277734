"""`container.*` and `k8s.*` fields, from the event's `container` section.

Pipeline step: field binding/extraction.  Why most of these may be absent: in Falco they come
from the container plugin, which asks the container runtime asynchronously; falcoish records
what its capture knows (the cgroup-derived id; for live capture also privileged and host_pid/
host_network/host_ipc, read from /proc, see `sources/live/containers.py` and
docs/containers.md) and everything else is absent until known, exactly like Falco during a
lookup delay.  A host process has the id and name `host` and is not privileged (nor host_*:
Falco's host record has them false).  Fields whose data falcoish has no source for are
registered as unavailable (always absent) so rules using them still load.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Callable

from ..events.event import Event
from ..events.fieldtypes import ABSTIME, BOOL, RELTIME, STRING
from .registry import ArgValue, family, simple

Mount = dict[str, Any]
_MOUNT_KEYS = ("source", "dest", "mode", "rdwr", "propagation")


def _is_host(ev: Event) -> bool:
    cid = ev.container.get("id")
    return not isinstance(cid, str) or cid == "" or cid == "host"


def _key(key: str, host: Any = None) -> Callable[[Event], Any]:
    """A container-section string; `host` is the value for host processes when unrecorded."""
    def extract(ev: Event) -> Any:
        v = ev.container.get(key)
        if type(v) is str:
            return v
        return host if host is not None and _is_host(ev) else None
    return extract


def _flag(key: str) -> Callable[[Event], bool | None]:
    """A container-section boolean (privileged, host_pid...): false for host processes, as in
    Falco's host record; absent for a container whose facts are not known."""
    def extract(ev: Event) -> bool | None:
        v = ev.container.get(key)
        if type(v) is bool:
            return v
        return False if _is_host(ev) else None
    return extract


def _labels(ev: Event) -> dict[str, Any]:
    v = ev.container.get("labels")
    return v if isinstance(v, dict) else {}


def _key_or_label(key: str, label: str) -> Callable[[Event], str | None]:
    def extract(ev: Event) -> str | None:
        v = ev.container.get(key)
        if type(v) is str:
            return v
        v = _labels(ev).get(label)
        return v if type(v) is str else None
    return extract


def _mounts(ev: Event) -> list[Mount] | None:
    v = ev.container.get("mounts")
    return [m for m in v if isinstance(m, dict)] if isinstance(v, list) else None


def _part(m: Mount, key: str) -> str:
    v = m.get(key)
    if type(v) is bool:
        return "true" if v else "false"
    return "" if v is None else str(v)


def _mount_text(m: Mount) -> str:
    return ":".join(_part(m, k) for k in _MOUNT_KEYS)


def _mounts_text(ev: Event) -> str | None:
    mounts = _mounts(ev)
    return None if mounts is None else ",".join(_mount_text(m) for m in mounts)


def _mount_family(name: str, by: str, view: Callable[[Mount], str], missing: str | None,
                  what: str) -> None:
    """`container.mount...[N]` = N-th mount; `[KEY]` = first mount whose `by` matches the glob
    KEY."""
    def make(arg: ArgValue) -> Callable[[Event], str | None]:
        if isinstance(arg, int):
            i = arg

            def nth(ev: Event) -> str | None:
                mounts = _mounts(ev)
                if mounts is None:
                    return None
                return view(mounts[i]) if len(mounts) > i else missing
            return nth
        pattern = str(arg)
        if any(c in pattern for c in "*?["):
            match: Callable[[str], Any] = re.compile(fnmatch.translate(pattern), re.S).match
        else:
            match = pattern.__eq__

        def find(ev: Event) -> str | None:
            mounts = _mounts(ev)
            if mounts is None:
                return None
            for m in mounts:
                if match(_part(m, by)):
                    return view(m)
            return missing
        return find
    family(name, STRING, what, make, arg="index_or_key")


simple("container.id", STRING, "short (12 character) container id, 'host' outside containers",
       lambda ev: "host" if _is_host(ev) else ev.container["id"])
simple("container.full_id", STRING, "full container id ('host' outside containers)",
       _key("full_id", "host"))
simple("container.name", STRING, "container name ('host' outside containers)",
       _key("name", "host"))
simple("container.type", STRING, "container runtime: docker, containerd, cri-o, podman...",
       _key("type"))
simple("container.image", STRING, "container image name", _key("image"))
simple("container.image.repository", STRING, "image repository (without tag or digest)",
       _key("image_repository"))
simple("container.image.tag", STRING, "image tag", _key("image_tag"))
simple("container.image.id", STRING, "image id", _key("image_id"))
simple("container.image.digest", STRING, "image registry digest", _key("image_digest"))
simple("container.privileged", BOOL, "container runs privileged (false for host processes)",
       _flag("privileged"))
for _ns in ("pid", "network", "ipc"):
    simple(f"container.host_{_ns}", BOOL, f"container shares the host's {_ns} namespace (false "
           "for host processes)", _flag(f"host_{_ns}"))
simple("container.mounts", STRING, "all mounts as source:dest:mode:rdwr:propagation, joined by "
       "','", _mounts_text)
_mount_family("container.mount", "source", _mount_text, "none", "one mount as "
              "source:dest:mode:rdwr:propagation, [N] or [SOURCE glob]; 'none' when no match")
_mount_family("container.mount.dest", "source", lambda m: _part(m, "dest"), None,
              "destination of a mount given by [N] or [SOURCE glob]")
_mount_family("container.mount.source", "dest", lambda m: _part(m, "source"), None,
              "source of a mount given by [N] or [DEST glob]")
for _attr in ("mode", "rdwr", "propagation"):
    _mount_family(f"container.mount.{_attr}", "source",
                  (lambda a: lambda m: _part(m, a))(_attr), None,
                  f"{_attr} of a mount given by [N] or [SOURCE glob]")


def _label(arg: ArgValue) -> Callable[[Event], str | None]:
    key = str(arg)
    return lambda ev: v if type(v := _labels(ev).get(key)) is str else None


family("container.label", STRING, "one container label, container.label[KEY]", _label,
       arg="key", dotted="also")


def _start(ev: Event) -> int | None:
    v = ev.thread.get("pidns_init_start_ts")
    return v if type(v) is int else None


simple("container.start_ts", ABSTIME, "container start (ns since the epoch), from the pid "
       "namespace's init", _start)
simple("container.duration", RELTIME, "nanoseconds since container.start_ts",
       lambda ev: None if (s := _start(ev)) is None else ev.ts - s)
for _name in ("ip", "cni.json", "healthcheck", "liveness_probe", "readiness_probe"):
    simple(f"container.{_name}", STRING, f"container {_name} (needs the container runtime API)",
           lambda ev: None, available=False)

simple("k8s.ns.name", STRING, "Kubernetes namespace of the pod",
       _key_or_label("k8s_ns_name", "io.kubernetes.pod.namespace"))
simple("k8s.pod.name", STRING, "Kubernetes pod name",
       _key_or_label("k8s_pod_name", "io.kubernetes.pod.name"))
simple("k8s.pod.uid", STRING, "Kubernetes pod uid",
       _key_or_label("k8s_pod_uid", "io.kubernetes.pod.uid"))
simple("k8s.pod.id", STRING, "Kubernetes pod uid (legacy name)",
       _key_or_label("k8s_pod_uid", "io.kubernetes.pod.uid"))
for _name in ("pod.sandbox_id", "pod.labels", "pod.ip", "pod.cni.json", "ns.id", "ns.labels",
              "rc.name", "rc.id", "rc.labels", "svc.name", "svc.id", "svc.labels", "rs.name",
              "rs.id", "rs.labels", "deployment.name", "deployment.id", "deployment.labels"):
    simple(f"k8s.{_name}", STRING, f"Kubernetes {_name} (needs Kubernetes metadata)",
           lambda ev: None, available=False)
for _name in ("pod.label", "ns.label", "rc.label", "svc.label", "rs.label", "deployment.label"):
    family(f"k8s.{_name}", STRING, f"one Kubernetes {_name.split('.')[0]} label [KEY] (needs "
           "Kubernetes metadata)", lambda arg: lambda ev: None, arg="key", dotted="also",
           available=False)
