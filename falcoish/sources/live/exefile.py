"""What the table knows of a program's file: may its user write it, which overlay layer holds it.

Split from state.py: these look at the file system (mode bits, mountinfo), not at events.
"""

from __future__ import annotations

import os
from typing import Any

from .procscan import ProcData

CAP_DAC_OVERRIDE_BIT = 1 << 1


def exe_writable(data: ProcData) -> bool:
    """Best effort: the exe's mode bits against the effective ids (root with DAC override: yes)."""
    if not data.exe_mode:
        return False
    if data.uid == 0 and data.caps[2] & CAP_DAC_OVERRIDE_BIT:
        return True
    if data.uid == data.exe_uid:
        return bool(data.exe_mode & 0o200)
    if data.gid == data.exe_gid:
        return bool(data.exe_mode & 0o020)
    return bool(data.exe_mode & 0o002)


def overlay_layer(pid: int, exepath: str, container: dict[str, Any]) -> tuple[bool, bool]:
    """(upper, lower): is the exe in the writable overlay layer of the process' root fs?"""
    if container.get("id", "host") == "host" or not exepath.startswith("/"):
        return False, False
    try:
        with open(f"/proc/{pid}/mountinfo") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return False, False
    best: tuple[int, str, str] | None = None
    for line in lines:
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) < 5 or len(rparts) < 3:
            continue
        mnt = parts[4]
        if exepath == mnt or exepath.startswith(mnt.rstrip("/") + "/"):
            if best is None or len(mnt) > best[0]:
                best = (len(mnt), mnt, line)
    if best is None:
        return False, False
    _, mnt, line = best
    fields = line.partition(" - ")[2].split()
    if fields[0] != "overlay":
        return False, False
    upper = ""
    for opt in fields[2].split(","):
        if opt.startswith("upperdir="):
            upper = opt[len("upperdir="):]
    if not upper:
        return False, True
    inside = exepath[len(mnt.rstrip("/")):]
    return (True, False) if os.path.lexists(upper + inside) else (False, True)
