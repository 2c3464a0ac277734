"""What `falcoish run` says on stderr while it works: the start banner and periodic progress.

Why: Falco users expect to see, at start, which version runs with which configuration and
which capture, and operators of long replays and live runs need to know it is alive and
keeping up (events, events/s, alerts, drops) without waiting for the end-of-run summary or
sending SIGUSR1.  Both go to stderr (stdout carries alerts) and both are off with `-q`.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable, TextIO

from .. import __version__
from ..runtime.health import Health


def banner_head(config_path: str | None, stream: TextIO | None = None) -> None:
    """Falco-like first start lines, before the rules files are loaded: version, configuration."""
    out = stream or sys.stderr
    print(f"falcoish version: {__version__} (Falco rules language)", file=out)
    print(f"Configuration: {config_path or 'built-in defaults'}", file=out, flush=True)


def banner_tail(source: str, rules_total: int, rules_enabled: int, stream: TextIO | None = None) -> None:
    """The start lines after loading: how many rules are on, where events come from."""
    out = stream or sys.stderr
    print(f"Rules: {rules_enabled} enabled of {rules_total} loaded", file=out)
    print(f"Events: {source}", file=out, flush=True)


def progress_line(health: Health, previous: tuple[float, int] | None, now: float) -> tuple[str, tuple[float, int]]:
    """One progress line and the (time, events) it was computed at (for the next rate)."""
    s = health.summary()
    events = int(s["events"])
    rate = ""
    if previous is not None and now > previous[0]:
        rate = f" ({(events - previous[1]) / (now - previous[0]):,.0f}/s)"
    drops = int(s.get("kernel_drops", 0)) + int(s.get("user_drops", 0))
    line = (f"progress: events {events:,}{rate}, alerts {int(s['alerts']):,}, "
            f"bad records {int(s['bad_records']):,}, drops {drops:,}")
    return line, (now, events)


class Progress:
    """Prints progress_line every `interval` seconds from a daemon thread until stopped."""

    def __init__(self, health: Health, interval: float, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.health = health
        self.interval = interval
        self.stream = stream or sys.stderr
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def start(self) -> "Progress":
        if self.interval > 0:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        previous: tuple[float, int] | None = (self.clock(), 0)
        while not self._stop.wait(self.interval):
            try:
                line, previous = progress_line(self.health, previous, self.clock())
            except Exception:  # noqa: BLE001 - a counter read racing the end of the run
                continue
            print(line, file=self.stream, flush=True)
