"""User and group names from passwd/group files, re-read when the files change.

Host processes use /etc/passwd and /etc/group; a process in a container uses its own
root's files (/proc/PID/root/etc/passwd), cached per container id.  uid/gid 0 without an
entry is `root`, as in Falco; other unknown ids have no name (the field is absent).
Sections are cached and shared between events: never mutate them.
"""

from __future__ import annotations

import os
import time
from typing import Any

Section = dict[str, Any]
UNSET_LOGINUID = 0xFFFFFFFF
_CHECK_INTERVAL_S = 1.0


class _Table:
    """passwd + group of one root directory, reloaded when either file's stat changes."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.users: dict[int, tuple[str, str, str]] = {}
        self.groups: dict[int, str] = {}
        self._stamp: tuple[Any, ...] | None = None
        self._checked = 0.0
        self.generation = 0

    def _stat(self) -> tuple[Any, ...]:
        out: list[Any] = []
        for name in ("passwd", "group"):
            try:
                st = os.stat(f"{self.root}/etc/{name}")
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def refresh(self, now: float) -> None:
        if now - self._checked < _CHECK_INTERVAL_S and self._stamp is not None:
            return
        self._checked = now
        stamp = self._stat()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        self.users = _parse_passwd(f"{self.root}/etc/passwd")
        self.groups = _parse_group(f"{self.root}/etc/group")
        self.generation += 1


def _parse_passwd(path: str) -> dict[int, tuple[str, str, str]]:
    out: dict[int, tuple[str, str, str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 7 and parts[2].isdigit():
                    out.setdefault(int(parts[2]), (parts[0], parts[5], parts[6]))
    except OSError:
        pass
    return out


def _parse_group(path: str) -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 3 and parts[2].isdigit():
                    out.setdefault(int(parts[2]), parts[0])
    except OSError:
        pass
    return out


class UserDirectory:
    """Name lookups and cached user/group sections, per container."""

    def __init__(self, host_root: str = "") -> None:
        self._host = _Table(host_root)
        self._containers: dict[str, _Table] = {}
        self._user_cache: dict[tuple[str, int, int, int], Section] = {}
        self._group_cache: dict[tuple[str, int, int], Section] = {}

    def refresh(self) -> None:
        """Re-read changed passwd/group files (checks at most once a second per table)."""
        now = time.monotonic()
        self._host.refresh(now)
        for table in self._containers.values():
            table.refresh(now)

    def _table(self, container_id: str, pid: int) -> _Table:
        if container_id == "host":
            table = self._host
            if table._stamp is None:
                table.refresh(time.monotonic())
            return table
        found = self._containers.get(container_id)
        if found is None:
            if len(self._containers) > 1024:
                self._containers.clear()
            found = self._containers[container_id] = _Table(f"/proc/{pid}/root")
            found.refresh(time.monotonic())
        table = found
        if not table.users and self._host.users:
            return self._host
        return table

    def user_name(self, uid: int, container_id: str = "host", pid: int = 0) -> str | None:
        entry = self._table(container_id, pid).users.get(uid)
        if entry is not None:
            return entry[0]
        return "root" if uid == 0 else None

    def group_name(self, gid: int, container_id: str = "host", pid: int = 0) -> str | None:
        name = self._table(container_id, pid).groups.get(gid)
        if name is not None:
            return name
        return "root" if gid == 0 else None

    def user_section(self, uid: int, loginuid: int, container_id: str = "host", pid: int = 0) -> Section:
        table = self._table(container_id, pid)
        key = (container_id, table.generation, uid, loginuid)
        sec = self._user_cache.get(key)
        if sec is not None:
            return sec
        sec = {"uid": uid}
        entry = table.users.get(uid)
        if entry is not None:
            sec["name"], sec["homedir"], sec["shell"] = entry
        elif uid == 0:
            sec["name"] = "root"
        if loginuid not in (-1, UNSET_LOGINUID):
            login = table.users.get(loginuid)
            if login is not None:
                sec["loginname"] = login[0]
            elif loginuid == 0:
                sec["loginname"] = "root"
        if len(self._user_cache) > 8192:
            self._user_cache.clear()
        self._user_cache[key] = sec
        return sec

    def group_section(self, gid: int, container_id: str = "host", pid: int = 0) -> Section:
        table = self._table(container_id, pid)
        key = (container_id, table.generation, gid)
        sec = self._group_cache.get(key)
        if sec is not None:
            return sec
        sec = {"gid": gid}
        name = table.groups.get(gid)
        if name is not None:
            sec["name"] = name
        elif gid == 0:
            sec["name"] = "root"
        if len(self._group_cache) > 8192:
            self._group_cache.clear()
        self._group_cache[key] = sec
        return sec
