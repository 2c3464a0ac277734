"""Container of a process, from its cgroup paths (what Falco's container plugin derives).

Why so strict: a false "container" is worse than a missed one.  Every host process of a machine
whose cgroups merely *look* like ids (a Firecracker VM puts everything in
`/process_api/<32 hex>`) would become a container: rules requiring `container` would fire on
every build, and rules requiring `not container` would go blind.  So only the cgroup layouts
container runtimes really create are recognised, and anything else is the host:

* docker: `/docker/<64 hex>` (cgroupfs) and `docker-<64 hex>.scope` (systemd, rootless too);
* Kubernetes: `/kubepods/<qos>/pod<uid>/<64 hex>`, `cri-containerd-<64 hex>.scope`,
  `<pod slice>:cri-containerd:<64 hex>`, `crio-<64 hex>.scope`, `/crio-<64 hex>` (CRI-O);
* podman: `libpod-<64 hex>[.scope[/container]]`, `libpod-payload-<64 hex>` (`--cgroups=split`);
* containerd and nerdctl: `/<namespace>/<64 hex>`, `nerdctl-<64 hex>.scope`;
* LXC: `/lxc/<name>`, `/lxc.payload/<name>`, `/lxc.payload.<name>` (the id is the name);
* libvirt LXC: `machine-lxc\\x2d<id>.scope`, `/<name>.libvirt-lxc`, `/libvirt/lxc/<name>`.

Unlike Falco's plugin, a containerd namespace with an id that is not 64 hex characters (which
`ctr run` allows) is NOT taken for a container: `/<word>/<hex>` is exactly the shape of
non-container cgroups.  A path component is matched whole, innermost first, so nested layouts
(systemd inside a container, kind nodes) give the innermost container.  The short id is the
first 12 characters of the 64.

Without a runtime API a few container facts can still be read from the first process seen in
it (see `_traits`): privileged, host_pid, host_network, host_ipc.  Everything else (name, image,
labels, mounts) stays absent, as in Falco while its runtime lookup is pending.
"""

from __future__ import annotations

import os
import re
import stat
from functools import lru_cache
from typing import Any

HOST: dict[str, Any] = {"id": "host", "name": "host"}

_ID = r"([0-9a-f]{64})"
# (whole path component, runtime type); "" = decided by the parent components.
_COMPONENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"docker-{_ID}\.scope"), "docker"),
    (re.compile(rf"crio-{_ID}(?:\.scope)?"), "cri-o"),
    (re.compile(rf"cri-containerd-{_ID}\.scope"), "containerd"),
    (re.compile(rf"[^:]+\.slice:cri-containerd:{_ID}"), "containerd"),
    (re.compile(rf"nerdctl-{_ID}\.scope"), "containerd"),
    (re.compile(rf"libpod-(?:payload-)?{_ID}(?:\.scope)?"), "podman"),
    (re.compile(_ID), ""),
)
_LIBVIRT_SCOPE = re.compile(r"machine-lxc\\x2d(.+)\.scope")
_LIBVIRT_PLAIN = re.compile(r"(.+)\.libvirt-lxc")


def _plain_kind(parents: list[str]) -> str:
    """`<parents>/<64 hex>` (cgroupfs driver): who made it, by its parents."""
    if "docker" in parents or "moby" in parents:
        return "docker"
    if "libpod_parent" in parents:
        return "podman"
    return "containerd"         # /kubepods/.../pod<uid>/<id> (CRI) or /<namespace>/<id>


def _runc_like(parts: list[str]) -> tuple[str, str] | None:
    for i in range(len(parts) - 1, 0, -1):
        for pattern, kind in _COMPONENTS:
            m = pattern.fullmatch(parts[i])
            if m is not None:
                return m.group(1), kind or _plain_kind(parts[1:i])
    return None


def _lxc(parts: list[str]) -> tuple[str, str] | None:
    """LXC names its cgroups after the container; `lxc.monitor.*` is the host-side monitor."""
    for i, part in enumerate(parts):
        if part in ("lxc", "lxc.payload") and i + 1 < len(parts) and parts[i + 1]:
            return parts[i + 1], "lxc"
        if part.startswith("lxc.payload.") and len(part) > len("lxc.payload."):
            return part[len("lxc.payload."):], "lxc"
    return None


def _libvirt_lxc(parts: list[str]) -> tuple[str, str] | None:
    """libvirt's LXC driver (systemd scope, plain and legacy layouts); qemu machines and
    systemd-nspawn (`machine-<name>.scope`) are virtual machines or unknown: the host."""
    for i, part in enumerate(parts):
        m = _LIBVIRT_SCOPE.fullmatch(part) or _LIBVIRT_PLAIN.fullmatch(part)
        if m is not None:
            return m.group(1), "libvirt-lxc"
        if part == "libvirt" and parts[i + 1:i + 2] == ["lxc"] and i + 2 < len(parts):
            return parts[i + 2], "libvirt-lxc"
    return None


@lru_cache(maxsize=4096)
def container_from_path(path: str) -> tuple[str, str, str] | None:
    """(short id, full id, type) for one cgroup path, or None for the host.  Pure: the parse
    of a path string, so a capture that reads cgroup paths from the kernel can call it too."""
    parts = path.strip().split("/")
    if len(parts) < 2 or parts[0] != "":
        return None
    found = _runc_like(parts)
    if found is not None:
        return found[0][:12], found[0], found[1]
    found = _libvirt_lxc(parts) or _lxc(parts)
    if found is not None:
        return found[0], found[0], found[1]
    return None


def container_from_cgroup_text(text: str) -> tuple[str, str, str] | None:
    """Parse /proc/PID/cgroup text (`hierarchy:controllers:path` lines); first match wins."""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        found = container_from_path(parts[2].strip())
        if found is not None:
            return found
    return None


# ---- facts about a container that /proc can tell without asking its runtime --------------

# The devices an OCI runtime gives every unprivileged container (plus the usual links/dirs).
_OCI_DEVICES = frozenset({"null", "zero", "full", "random", "urandom", "tty", "console", "ptmx",
                          "pts", "shm", "mqueue", "fd", "stdin", "stdout", "stderr", "core",
                          "termination-log"})
_TRAITS: dict[str, dict[str, bool]] = {}
# A runtime's own init is in the container's cgroup *before* it pivots into the container's
# root and drops capabilities: read then, every container would look privileged.  (A
# container process naming itself so only delays the reading to another of its processes.)
_RUNTIME_INIT = ("runc", "crun", "youki", "conmon", "containerd-shim")


def _status(pid: int | str) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


def _host_devices(pid: int) -> bool:
    """A device node in the process' /dev beyond the OCI default set: the host's devices are
    visible (what `--privileged` does; an unprivileged container has only the defaults)."""
    with os.scandir(f"/proc/{pid}/root/dev") as it:
        for entry in it:
            if entry.name in _OCI_DEVICES:
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                return True
    return False


def _same_ns(pid: int, ns: str) -> bool:
    return os.stat(f"/proc/{pid}/ns/{ns}").st_ino == os.stat(f"/proc/self/ns/{ns}").st_ino


def _traits(pid: int) -> dict[str, bool] | None:
    """privileged = the bounding set holds every capability falcoish itself has, no seccomp
    filter, and host devices visible (all three are what `--privileged` / a privileged pod
    does; `--cap-add ALL` alone is not privileged, as for Docker).  host_* = the process
    shares that namespace with falcoish.  Falcoish is the reference, not pid 1, because live
    capture runs in the host's namespaces anyway and pid 1's ns links may be unreadable even
    to root (as on this Firecracker VM).  None when the process is already gone."""
    try:
        mine, host = _status(pid), _status("self")
        if mine.get("Name", "").startswith(_RUNTIME_INIT):
            return None
        bnd, host_bnd = int(mine["CapBnd"], 16), int(host["CapBnd"], 16)
        privileged = (bnd & host_bnd == host_bnd and mine.get("Seccomp", "0").strip() == "0"
                      and _host_devices(pid))
        return {"privileged": privileged, "host_pid": _same_ns(pid, "pid"),
                "host_network": _same_ns(pid, "net"), "host_ipc": _same_ns(pid, "ipc")}
    except (OSError, KeyError, ValueError):
        return None


def note_traits(full_id: str, pid: int) -> None:
    """Record the container's facts from one of its processes, once per container."""
    if full_id in _TRAITS:
        return
    found = _traits(pid)
    if found is not None:
        if len(_TRAITS) > 4096:
            _TRAITS.clear()
        _TRAITS[full_id] = found


_SECTIONS: dict[str, dict[str, Any]] = {}


def container_section(found: tuple[str, str, str] | None) -> dict[str, Any]:
    """The (shared, never mutated) event section for a container id; rebuilt once when the
    container's facts become known after the section was first made."""
    if found is None:
        return HOST
    short, full, kind = found
    sec = _SECTIONS.get(full)
    traits = _TRAITS.get(full)
    if sec is None or (traits is not None and "privileged" not in sec):
        sec = {"id": short, "full_id": full, "type": kind, **(traits or {})}
        if len(_SECTIONS) > 4096:
            _SECTIONS.clear()
        _SECTIONS[full] = sec
    return sec


def read_container(pid: int) -> tuple[str, str, str] | None | bool:
    """Container of a live process (noting its facts); False if its /proc entry is gone."""
    try:
        with open(f"/proc/{pid}/cgroup") as fh:
            found = container_from_cgroup_text(fh.read())
    except OSError:
        return False
    if found is not None:
        note_traits(found[1], pid)
    return found
