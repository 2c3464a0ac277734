"""Container id from a process' cgroup paths (what Falco's container plugin derives).

Every line of /proc/PID/cgroup is tried in order; the first path that matches one of the
runtime layouts gives the id.  Docker, containerd (CRI and plain namespaces), CRI-O, podman
(libpod) and nerdctl put a 64-hex id between a known prefix and suffix; the short id is its
first 12 characters.  No match means the host.  Only the id and the runtime type are known
without asking a runtime: every other container field stays absent.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

HOST: dict[str, Any] = {"id": "host", "name": "host"}

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SHORT_HEX = re.compile(r"[0-9a-f]{1,64}")

# (prefix, suffix, runtime type); tried in this order, the id follows the LAST prefix.
_LAYOUTS: tuple[tuple[str, str, str], ...] = (
    ("/docker-", ".scope", "docker"),
    ("/crio-", ".scope", "cri-o"),
    ("/crio-", "", "cri-o"),
    ("/cri-containerd-", ".scope", "containerd"),
    (":cri-containerd:", "", "containerd"),
    ("/nerdctl-", ".scope", "containerd"),
    ("/libpod-payload-", ".scope/container", "podman"),
    ("/libpod-payload-", ".scope", "podman"),
    ("/libpod-payload-", "", "podman"),
    ("/libpod-", ".scope/container", "podman"),
    ("/libpod-", ".scope", "podman"),
    ("/libpod-", "", "podman"),
    ("/", "", "docker"),
)


def _match(path: str) -> tuple[str, str] | None:
    for prefix, suffix, kind in _LAYOUTS:
        pos = path.rfind(prefix)
        if pos < 0 or not path.endswith(suffix):
            continue
        end = len(path) - len(suffix) if suffix else len(path)
        candidate = path[pos + len(prefix):end]
        if _HEX64.fullmatch(candidate):
            if prefix == "/":
                kind = _guess_plain_kind(path[:pos])
            return candidate, kind
    return None


def _guess_plain_kind(parent: str) -> str:
    """`<parent>/<64 hex>` (cgroupfs driver): /docker/<id>, /kubepods/.../pod<uid>/<id>."""
    if "docker" in parent:
        return "docker"
    if "kubepods" in parent:
        return "containerd"
    return "docker"


def _containerd_namespace(path: str) -> tuple[str, str] | None:
    """containerd without CRI: `/<namespace>/<id>` with ids of any length up to 64."""
    parts = path.split("/")
    if len(parts) != 3 or parts[0] != "":
        return None
    ns, ident = parts[1], parts[2]
    if not ns or ns.endswith((".service", ".slice", ".scope")) or ident.endswith((".service", ".slice", ".scope")):
        return None
    if _SHORT_HEX.fullmatch(ident) and len(ident) >= 12:
        return ident, "containerd"
    return None


def _lxc(path: str) -> tuple[str, str] | None:
    for prefix in ("/lxc.payload.", "/lxc.payload/", "/lxc/"):
        pos = path.find(prefix)
        if pos >= 0:
            rest = path[pos + len(prefix):]
            name = rest.split("/", 1)[0]
            if name:
                return name, "lxc"
    return None


@lru_cache(maxsize=4096)
def container_from_path(path: str) -> tuple[str, str, str] | None:
    """(short id, full id, type) for one cgroup path, or None for a host path."""
    found = _match(path) or _containerd_namespace(path) or _lxc(path)
    if found is None:
        return None
    full, kind = found
    return (full[:12] if kind != "lxc" else full), full, kind


def container_from_cgroup_text(text: str) -> tuple[str, str, str] | None:
    """Parse /proc/PID/cgroup text (`hierarchy:controllers:path` lines)."""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        found = container_from_path(parts[2].strip())
        if found is not None:
            return found
    return None


_SECTIONS: dict[str, dict[str, Any]] = {}


def container_section(found: tuple[str, str, str] | None) -> dict[str, Any]:
    """The (shared, never mutated) event section for a container id."""
    if found is None:
        return HOST
    short, full, kind = found
    sec = _SECTIONS.get(full)
    if sec is None:
        sec = {"id": short, "full_id": full, "type": kind}
        if len(_SECTIONS) > 4096:
            _SECTIONS.clear()
        _SECTIONS[full] = sec
    return sec


def read_container(pid: int) -> tuple[str, str, str] | None | bool:
    """Container of a live process; False if its /proc entry is gone."""
    try:
        with open(f"/proc/{pid}/cgroup") as fh:
            return container_from_cgroup_text(fh.read())
    except OSError:
        return False
