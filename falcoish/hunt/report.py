"""What a hunt tells its user on stderr: a progress line while it runs (only on a terminal)
and a summary at the end -- files hunted, skipped and bad, events, alerts per rule and host.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from time import monotonic
from typing import TextIO

from ..output.format import escape_controls
from .cluster import Failed
from .task import FileResult


@dataclass
class Tally:
    """Counts of the whole hunt, fed one task result at a time."""

    total: int
    skipped: int = 0
    done: int = 0
    bad: int = 0
    events: int = 0
    alerts: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    by_host: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=monotonic)
    compiled: int = 0

    def add(self, result: FileResult | Failed, err: TextIO) -> None:
        self.done += 1
        if isinstance(result, Failed):
            self.bad += 1
            print(escape_controls(f"falcoish: {result.recording.path}: not hunted: {result.reason}"), file=err)
            return
        for line in result.problems:      # paths are the storage's: nothing raw for a terminal
            print(escape_controls(line), file=err)
        self.bad += bool(result.problems)
        self.compiled += result.compiled
        self.events += result.events
        self.alerts += len(result.alerts)
        self.by_rule.update(a.rule for a in result.alerts)
        self.by_host[result.host] += len(result.alerts)

    def progress(self) -> str:
        rate = self.events / max(monotonic() - self.started, 1e-9)
        return (f"hunt: {self.done}/{self.total} files, {rate:,.0f} events/s, "
                f"{self.alerts} alerts, {self.bad} bad")

    def summary(self) -> list[str]:
        seconds = monotonic() - self.started
        lines = [f"Hunt: {self.done - self.bad} files hunted, {self.skipped} skipped (index), "
                 f"{self.bad} bad; {self.events} events in {seconds:.1f}s "
                 f"({self.events / max(seconds, 1e-9):,.0f}/s); {self.alerts} alerts; "
                 f"rules compiled {self.compiled} time(s) (once per worker)"]
        lines += [f"  rule {name}: {count}" for name, count in sorted(self.by_rule.items())]
        lines += [f"  host {escape_controls(name)}: {count}" for name, count in sorted(self.by_host.items())]
        return lines


class ProgressLine:
    """A `\\r` line rewritten at most every `interval` seconds, only when `err` is a terminal
    (a log file or a pipe must not fill with progress)."""

    def __init__(self, err: TextIO | None = None, interval: float = 0.5) -> None:
        self.err = err or sys.stderr
        self.on = self.err.isatty()
        self.interval = interval
        self._last = 0.0

    def show(self, tally: Tally, force: bool = False) -> None:
        now = monotonic()
        if self.on and (force or now - self._last >= self.interval):
            self._last = now
            self.err.write("\r\033[K" + tally.progress())
            self.err.flush()

    def clear(self) -> None:
        if self.on:
            self.err.write("\r\033[K")
            self.err.flush()
