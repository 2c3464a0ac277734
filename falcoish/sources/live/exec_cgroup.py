"""The container an exec'd program runs in, from the cgroup paths the probe read at exec.

Why not /proc: a container runtime forks, moves the child into the container's cgroup, and
the child execs the entrypoint; when that program is gone before user space reads
/proc/PID/cgroup, all the table holds is the cgroup at fork, the runtime's.  The probe
(probe.c, `exec_cgroups`) puts the unified hierarchy's path in string slot 1 and one v1
controller's in slot 2, innermost component first, and how deep each walk went in `xptr`.
"""

from __future__ import annotations

from . import containers, kernel

CG_NAME = 128          # probe.c CG_NAME: bytes per path component
UNKNOWN = False


def cgroup_paths(rec: bytes, xptr: int) -> list[str]:
    """The complete cgroup paths of an exec record (a walk cut short by depth is left out:
    a partial path could look like another layout)."""
    if not xptr >> 32:
        return []
    out = []
    for slot, info in ((1, xptr & 0xFFFF), (2, (xptr >> 16) & 0xFFFF)):
        depth, whole = info & 0xFF, info >> 8
        if not whole:
            continue
        base = kernel.HEADER_SIZE + slot * kernel.STR_SZ
        names = []
        for d in range(min(depth, kernel.STR_SZ // CG_NAME)):
            raw = rec[base + d * CG_NAME: base + (d + 1) * CG_NAME]
            names.append(raw.split(b"\0", 1)[0].decode("utf-8", "replace"))
        out.append("/" + "/".join(reversed(names)))
    return out


def container_at_exec(rec: bytes, xptr: int) -> tuple[str, str, str] | None | bool:
    """(short id, id, type) of the container the kernel had the program in at exec; None:
    in none (every path read whole, no container layout); False: not known from the record."""
    paths = cgroup_paths(rec, xptr)
    for path in paths:
        found = containers.container_from_path(path)
        if found is not None:
            return found
    return None if paths else UNKNOWN
