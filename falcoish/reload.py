"""Hot reload: new rules without stopping capture, and never worse rules than before.

Why: operators tune rules while falcoish runs.  On SIGHUP, or when a watched rules/config
file changes, the rules are loaded again in a background thread; only a load without errors
replaces the running rules (one assignment in the engine, between two events, so no event is
skipped or checked against half a rule set).  A failed reload logs every error, keeps the old
rules and raises Falco's internal alert "Falco internal: hot restart failure".
"""

from __future__ import annotations

import os
import threading
from typing import Callable, Iterable

import structlog

from .engine import Engine
from .errors import Problem
from .loader import LoadResult, expand_paths
from .ruleset import RuleSet

Snapshot = dict[str, tuple[int, int]]


def snapshot(paths: Iterable[str]) -> Snapshot:
    """(mtime, size) of every file the paths stand for, and of the folders themselves (a
    file added to a rules folder changes the folder's mtime)."""
    out: Snapshot = {}
    for path in paths:
        for name in [path, *expand_paths([path])]:
            try:
                st = os.stat(name)
            except OSError:
                out[name] = (-1, -1)
                continue
            out[name] = (st.st_mtime_ns, st.st_size)
    return out


class Reloader:
    """Watches `paths` (when `watch`) and reloads on change or on `request()`."""

    def __init__(self, engine: Engine, load: Callable[[], LoadResult], select: Callable[[LoadResult], RuleSet],
                 paths: list[str], watch: bool, on_failure: Callable[[list[Problem]], None],
                 interval: float = 1.0,
                 swap: Callable[[RuleSet, LoadResult], None] | None = None) -> None:
        self.engine = engine
        #: puts new rules in place; the live source wraps it to update its kernel filter
        self.swap = swap or (lambda ruleset, result: engine.swap(ruleset, result.outputs))
        self.load = load
        self.select = select
        self.paths = paths
        self.watch = watch
        self.on_failure = on_failure
        self.interval = interval
        self.reloads = 0
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seen = snapshot(paths)
        self._thread = threading.Thread(target=self._loop, name="falcoish-reload", daemon=True)
        self.log = structlog.get_logger("falcoish.reload")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request(self) -> None:
        """Ask for a reload (safe from a signal handler)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            asked = self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            now = snapshot(self.paths) if (self.watch or asked) else self._seen
            if asked or now != self._seen:
                self._seen = now
                self.reload(reason="signal" if asked else "file changed")

    def reload(self, reason: str = "request") -> bool:
        """Load the rules again; swap them in only when the load has no errors."""
        result = self.load()
        errors = result.problems.errors
        if errors:
            self.failures += 1
            for problem in errors:
                self.log.error("reload rejected", problem=str(problem))
            self.log.error("rules reload failed: the running rules are kept", errors=len(errors), reason=reason)
            self.on_failure(errors)
            return False
        self.swap(self.select(result), result)
        self.reloads += 1
        self.log.info("rules reloaded", rules=len(result.ruleset.rules), reason=reason)
        return True
