"""What falcoish has done so far: events per type, drops, bad records, alerts per rule.

Why: a detection engine that silently drops events misses attacks.  The summary is printed
on exit and on SIGUSR1 so an operator can see, at any time, whether falcoish keeps up.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from .engine import Engine


class _StderrLogger:
    """Writes to whatever sys.stderr is at the time of the call (not at configuration)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def configure_logging(level: int = logging.INFO) -> None:
    """structlog to stderr (stdout carries the alerts)."""
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"),
                    structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *args: _StderrLogger(),
    )


class Health:
    """Counters of one run; `capture` is the live source when there is one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.bad_records = 0
        self.capture: Any = None
        self.log = structlog.get_logger("falcoish")

    def summary(self) -> dict[str, Any]:
        engine = self.engine
        out: dict[str, Any] = {
            "events": engine.events,
            "events_by_type": dict(engine.events_by_type.most_common()),
            "bad_records": self.bad_records,
            "alerts": sum(engine.alerts_by_rule.values()),
            "alerts_by_rule": dict(engine.alerts_by_rule.most_common()),
        }
        if self.capture is not None:
            stats = self.capture.stats
            out["captured_by_type"] = dict(sorted(stats.get("captured", {}).items(), key=lambda kv: -kv[1]))
            out["kernel_drops"] = stats.get("kernel_drops", 0)
            out["user_drops"] = stats.get("user_drops", 0)
            out["state_only_records"] = stats.get("state_only", 0)
        return out

    def report(self) -> None:
        """Print the summary to stderr (human-readable)."""
        s = self.summary()
        lines = [f"Events processed: {s['events']}"]
        if s["events_by_type"]:
            lines.append("  by type: " + ", ".join(f"{t}={n}" for t, n in s["events_by_type"].items()))
        if "kernel_drops" in s:
            lines.append(f"Dropped in kernel: {s['kernel_drops']}")
            lines.append(f"Dropped in user space: {s['user_drops']}")
        lines.append(f"Bad records skipped: {s['bad_records']}")
        lines.append(f"Alerts: {s['alerts']}")
        lines += [f"  {name}: {count}" for name, count in s["alerts_by_rule"].items()]
        print("\n".join(lines), file=sys.stderr, flush=True)
