"""Alerts in tracee-rules' `*** Detection ***` block shape (`falcoish run --output tracee`).

Step 8 of the pipeline (formatted), as an alternative to Falco's alert line.  Why: people who
replace `tracee-rules` with falcoish (`tracee-ebpf --output json | falcoish run --input tracee
--output tracee -e -`) keep whatever reads its stdout.  tracee-rules' default template prints
an empty line and seven lines per detection; this module prints the same lines:

    *** Detection ***
    Time: <wall clock at printing, UTC, 2006-01-02T15:04:05Z layout>
    Signature ID: <the rule's TRC-N tag, else the rule name>
    Signature: <the rule name>
    Data: <the alert's output fields, as Go prints a map: map[key:value ...], keys sorted>
    Command: <processName of the triggering event>
    Hostname: <hostName of the triggering event>

For events read from Tracee JSON, Command and Hostname are the record's own `processName` and
`hostName`; for other events they are `proc.name` and the alert's host name.  Absent output
fields are left out of Data, as a signature's finding carries only what it found.

Data, Command and Hostname come from the event, so an attacker chooses them: their text is
escaped as every alert value is (format.escape_value), so each stays on its one line.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

from ..events.event import Event
from .format import Alert, escape_controls, escape_value

__all__ = ["format_detection", "signature_id", "go_value"]

_TRC = re.compile(r"TRC-(\d+)\Z", re.IGNORECASE)


def signature_id(alert: Alert) -> str:
    """The rule's Tracee signature id (its `TRC-N` tag, the lowest when several), else the
    rule name."""
    numbers = sorted(int(m[1]) for tag in alert.tags if (m := _TRC.match(tag)))
    return f"TRC-{numbers[0]}" if numbers else alert.rule


def go_value(value: Any) -> str:
    """A value as Go's `%v` prints it inside a finding's data map (text escaped: one line)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{escape_value(str(k))}:{go_value(value[k])}"
                                 for k in sorted(value, key=str)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    return escape_value(str(value))


def _data(alert: Alert) -> str:
    return go_value({k: v for k, v in alert.output_fields.items() if v is not None})


def _time(now_ns: int | None) -> str:
    ns = time.time_ns() if now_ns is None else now_ns
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_detection(alert: Alert, event: Event, *, now_ns: int | None = None) -> str:
    """The detection block for one alert: an empty line, then the seven lines (no trailing
    newline).  `now_ns` overrides the wall clock (tests)."""
    command = getattr(event, "process_name", None)
    if not isinstance(command, str):
        comm = event.thread.get("comm")
        command = comm if isinstance(comm, str) else ""
    hostname = getattr(event, "host_name", None)
    if not isinstance(hostname, str):
        hostname = alert.hostname
    return "\n".join((
        "",
        "*** Detection ***",
        f"Time: {_time(now_ns)}",
        f"Signature ID: {escape_controls(signature_id(alert))}",
        f"Signature: {escape_controls(alert.rule)}",
        f"Data: {_data(alert)}",
        f"Command: {escape_value(command)}",
        f"Hostname: {escape_value(hostname)}",
    ))
