"""Hot reload: new rules without stopping capture, and never worse rules than before.

Why: operators tune rules while falcoish runs.  On SIGHUP, or when a watched rules/config
file changes, the rules are loaded again in a background thread; only a load without errors
replaces the running rules (one assignment in the engine, between two events, so no event is
skipped or checked against half a rule set).  A failed reload logs every error, keeps the old
rules and raises Falco's internal alert "Falco internal: hot restart failure".

A load without errors is still refused when it would leave fewer than half of the enabled
rules, or none, unless `rules_reload.allow_shrink`: `: > rules.yaml` (or an editor, a
deployment, an intruder that empties the file) is valid YAML with no rules, and swapping it
in would silently stop detection.  Every reload raises an internal alert either way
(internal_alerts.py), so a change to what is detected is never only a log line.
"""

from __future__ import annotations

import os
import threading
from typing import Callable, Iterable

import structlog

from .engine import Engine
from ..output.format import Alert
from .internal_alerts import reload_alert, reload_failure_alert
from ..rules.loader import LoadResult, expand_paths
from ..rules.ruleset import RuleSet

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
    """Watches `paths` (when `watch`) and reloads on change or on `request()`; `alert`
    delivers the internal alerts of each reload."""

    def __init__(self, engine: Engine, load: Callable[[], LoadResult], select: Callable[[LoadResult], RuleSet],
                 paths: list[str], watch: bool, alert: Callable[[Alert], None],
                 allow_shrink: bool = False, interval: float = 1.0,
                 swap: Callable[[RuleSet, LoadResult], None] | None = None) -> None:
        self.engine = engine
        #: puts new rules in place; the live source wraps it to update its kernel filter
        self.swap = swap or (lambda ruleset, result: engine.swap(ruleset, result.outputs))
        self.load = load
        self.select = select
        self.paths = paths
        self.watch = watch
        self.alert = alert
        self.allow_shrink = allow_shrink
        self.interval = interval
        self.reloads = 0
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        # requests counted, not only flagged: a request made between the loop's wait
        # returning on its timeout and its clear() would otherwise be lost
        self._requested = 0
        self._served = 0
        self._seen = snapshot(paths)
        self._thread = threading.Thread(target=self._loop, name="falcoish-reload", daemon=True)
        self.log = structlog.get_logger("falcoish.runtime.reload")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request(self) -> None:
        """Ask for a reload (safe from a signal handler)."""
        self._requested += 1
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            asked = self._requested != self._served
            self._served = self._requested
            now = snapshot(self.paths) if (self.watch or asked) else self._seen
            if asked or now != self._seen:
                self._seen = now
                self.reload(reason="signal" if asked else "file changed")

    def reload(self, reason: str = "request") -> bool:
        """Load the rules again; swap them in only when the load has no errors and keeps
        enough of the enabled rules.  The internal alert is emitted before the closing log
        line, so whoever waits for that line finds the alert already queued."""
        before = len(self.engine.ruleset.enabled)
        result = self.load()
        errors = result.problems.errors
        if errors:
            for problem in errors:
                self.log.error("reload rejected", problem=str(problem))
            detail = "; ".join(str(p) for p in errors[:5]) + (f"; and {len(errors) - 5} more"
                                                               if len(errors) > 5 else "")
            self._refuse(detail, reason, before, None)
            self.log.error("rules reload failed: the running rules are kept", errors=len(errors), reason=reason)
            return False
        ruleset = self.select(result)
        after = len(ruleset.enabled)
        shrinks = after * 2 < before    # fewer than half left (zero included)
        if shrinks and not self.allow_shrink:
            self._refuse(f"rules reload refused: it would leave {after} of the {before} enabled rules "
                         f"({len(result.ruleset.rules)} loaded from {len(result.files)} files); an emptied "
                         f"or truncated rules file? Set rules_reload.allow_shrink (--allow-rules-shrink) "
                         f"to allow it", reason, before, after)
            self.log.error("rules reload refused: the running rules are kept", rules_before=before,
                           rules_after=after, reason=reason)
            return False
        self.swap(ruleset, result)
        self.reloads += 1
        self.alert(reload_alert(before, after, len(result.ruleset.rules), reason, shrinks))
        self.log.info("rules reloaded", rules=len(result.ruleset.rules), enabled=after,
                      enabled_before=before, reason=reason)
        return True

    def _refuse(self, detail: str, reason: str, before: int, after: int | None) -> None:
        self.failures += 1
        self.alert(reload_failure_alert(detail, reason, before, after))
