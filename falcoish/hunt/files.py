"""Which recordings a hunt reads, decided without opening them.

Why here and not in the task: a skipped file must cost nothing, not even an open (a fleet's
archive can sit on slow shared storage, and a file outside the time range may be huge or
still being written).  The sidecar index (`sources/fleet.py`) gives host, time range and
event types; a recording without one is always read, its host taken from its `HOST/`
directory.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass

from ..sources.fleet import read_index

SUFFIXES = (".jsonl", ".jsonl.gz")


@dataclass(frozen=True)
class Recording:
    """One recording file and the host it came from."""

    path: str
    host: str


@dataclass(frozen=True)
class Filters:
    """The hunt's limits: times in ns since the epoch (inclusive), host glob, event types the
    rules need (None: every type)."""

    since: int | None = None
    until: int | None = None
    host: str | None = None
    types: frozenset[str] | None = None


def expand(paths: list[str]) -> tuple[list[str], list[str]]:
    """PATHS (files, directories searched recursively, globs) -> recording files in a stable
    order, and the PATHS that named nothing."""
    found: list[str] = []
    missing: list[str] = []
    for given in paths:
        matches = [given] if os.path.exists(given) else sorted(glob.glob(given, recursive=True))
        if not matches:
            missing.append(given)
        for match in matches:
            if os.path.isdir(match):
                found.extend(_walk(match))
            else:
                found.append(match)
    return list(dict.fromkeys(found)), missing


def _walk(top: str) -> list[str]:
    out: list[str] = []
    for root, dirs, names in os.walk(top):
        dirs.sort()
        out.extend(os.path.join(root, n) for n in sorted(names) if n.endswith(SUFFIXES))
    return out


def host_of(path: str) -> str:
    """The fleet layout's host: the name of the recording's directory."""
    return os.path.basename(os.path.dirname(os.path.abspath(path)))


def choose(path: str, filters: Filters) -> Recording | None:
    """The recording to hunt, or None when its index (or its directory name) shows it cannot
    matter: another host, outside the time range, none of the needed event types."""
    index = read_index(path)
    host = index.host if index is not None else host_of(path)
    if filters.host is not None and not fnmatch.fnmatchcase(host, filters.host):
        return None
    if index is not None:
        if filters.since is not None and index.last_ts < filters.since:
            return None
        if filters.until is not None and index.first_ts > filters.until:
            return None
        if filters.types is not None and not any(index.types.get(t) for t in filters.types):
            return None
    return Recording(path, host)
