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
            out.update(capture_summary(self.capture))
        return out

    def report(self) -> None:
        """Print the summary to stderr (human-readable)."""
        s = self.summary()
        lines = [f"Events processed: {s['events']}"]
        if s["events_by_type"]:
            lines.append("  by type: " + ", ".join(f"{t}={n}" for t, n in s["events_by_type"].items()))
        if "kernel_drops" in s:
            lines += capture_lines(s)
        lines.append(f"Bad records skipped: {s['bad_records']}")
        lines.append(f"Alerts: {s['alerts']}")
        lines += [f"  {name}: {count}" for name, count in s["alerts_by_rule"].items()]
        print("\n".join(lines), file=sys.stderr, flush=True)


def capture_summary(capture: Any) -> dict[str, Any]:
    """What the live probe and its reader counted (the probe's counters are read at most every
    half second while running, and once more when the capture closes)."""
    capture.refresh_counters()
    stats = capture.stats
    kernel: dict[str, dict[str, int]] = stats.get("kernel", {})
    lanes = {"reserved": {"sent": 0, "dropped": 0}, "bulk": {"sent": 0, "dropped": 0}}
    filtered: dict[str, int] = {}
    dropped: dict[str, int] = {}
    seen = 0
    for name, c in kernel.items():
        seen += c["seen"]
        for lane in lanes:
            lanes[lane]["sent"] += c[f"sent_{lane}"]
            lanes[lane]["dropped"] += c[f"dropped_{lane}"]
        if c["filtered"]:
            filtered[name] = c["filtered"]
        if c["dropped_reserved"] + c["dropped_bulk"]:
            dropped[name] = c["dropped_reserved"] + c["dropped_bulk"]
    sent = lanes["reserved"]["sent"] + lanes["bulk"]["sent"]
    return {
        "captured_by_type": dict(sorted(stats.get("captured", {}).items(), key=lambda kv: -kv[1])),
        "kernel_seen": seen,
        "kernel_filtered": sum(filtered.values()),
        "filtered_by_type": dict(sorted(filtered.items(), key=lambda kv: -kv[1])),
        "lanes": lanes,
        "kernel_drops": lanes["reserved"]["dropped"] + lanes["bulk"]["dropped"],
        "dropped_by_type": dict(sorted(dropped.items(), key=lambda kv: -kv[1])),
        "records_read": stats.get("records", 0),
        "unread_records": max(0, sent - stats.get("records", 0)),
        "user_drops": stats.get("user_drops", 0),
        "state_only_records": stats.get("state_only", 0),
        "event_age": capture.ages.summary(),
        "flood_alerts": stats.get("flood_alerts", 0),
        "tampered_events": stats.get("tampered", 0),
        "tamper_alerts": stats.get("tamper_alerts", 0),
    }


def capture_lines(s: dict[str, Any]) -> list[str]:
    lanes = s["lanes"]
    lines = [f"Kernel: {s['kernel_seen']} events seen, {s['kernel_filtered']} filtered in kernel, "
             f"sent {lanes['reserved']['sent']} (reserved lane) + {lanes['bulk']['sent']} (bulk lane)"]
    if s["filtered_by_type"]:
        lines.append("  filtered in kernel by type: " + _pairs(s["filtered_by_type"]))
    lines.append(f"Dropped in kernel: {s['kernel_drops']} (reserved lane {lanes['reserved']['dropped']}, "
                 f"bulk lane {lanes['bulk']['dropped']})")
    if s["dropped_by_type"]:
        lines.append("  dropped by type: " + _pairs(s["dropped_by_type"]))
    lines.append(f"Dropped in user space: {s['user_drops']}")
    if s["unread_records"]:
        lines.append(f"Sent but not processed before exit: {s['unread_records']}")
    age = s["event_age"]
    if age["events"]:
        lines.append(f"Event age at evaluation: p50 {_dur(age['p50_s'])}, p99 {_dur(age['p99_s'])}, "
                     f"max {_dur(age['max_s'])}")
    if s["flood_alerts"]:
        lines.append(f"Syscall flood alerts: {s['flood_alerts']}")
    if s["tampered_events"]:
        lines.append(f"Arguments changed during the call: {s['tampered_events']} events, "
                     f"{s['tamper_alerts']} alerts")
    return lines


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in counts.items())


def _dur(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
