"""What one line of an alerts file says: a Falco text alert, a JSON alert, or neither; and the
times `tail --since` accepts.  Split from tail.py so that the display (tail_view.py) and the
follower (tail.py) can both use `Entry` without importing each other.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from ..output.format import format_time
from ..rulefiles.collector import PRIORITIES, parse_priority

_TEXT = re.compile(
    r"(?P<time>\d{2}:\d{2}:\d{2}\.\d{9}|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}[+-]\d{4}): "
    r"(?P<priority>" + "|".join(PRIORITIES) + r") (?P<rest>.*)\Z", re.DOTALL)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\Z", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_RANK = {p: i for i, p in enumerate(PRIORITIES)}

@dataclass(frozen=True)
class Entry:
    """One line of input: `priority` is None when it is not an alert."""

    raw: str
    time_ns: int | None = None
    priority: str | None = None
    rule: str | None = None
    tags: tuple[str, ...] | None = None
    stamp: str = ""          # the time as shown in the line
    rest: str = ""           # what follows the priority in the text form
    obj: dict[str, Any] | None = None
    json: bool = False       # the line is JSON (alert or not)
    host: str | None = None  # a JSON alert's `hostname`


# -- parsing --------------------------------------------------------------------------------

def parse_line(line: str, now_ns: int | None = None) -> Entry:
    text = line.rstrip("\r\n")
    if text.lstrip().startswith("{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return Entry(text)
        if isinstance(obj, dict) and ("priority" in obj or "rule" in obj):
            return _json_entry(text, obj)
        return Entry(text, json=True)
    match = _TEXT.match(text)
    if match is None:
        return Entry(text)
    return Entry(text, parse_alert_time(match["time"], now_ns), match["priority"],
                 stamp=match["time"], rest=match["rest"])


def _json_entry(text: str, obj: dict[str, Any]) -> Entry:
    priority = parse_priority(str(obj.get("priority", "")))
    time_ns = parse_iso(obj["time"]) if isinstance(obj.get("time"), str) else None
    tags = obj.get("tags")
    rule = obj.get("rule")
    host = obj.get("hostname")
    output = obj.get("output")
    match = _TEXT.match(output) if isinstance(output, str) else None
    if match is not None:
        stamp, rest = match["time"], match["rest"]
    else:
        stamp = format_time(time_ns, False) if time_ns is not None else "-"
        message = obj.get("message")
        rest = message if isinstance(message, str) else ""     # the rule name is shown apart
    return Entry(text, time_ns, priority, rule if isinstance(rule, str) else None,
                 tuple(str(t) for t in tags) if isinstance(tags, list) else None,
                 stamp, rest, obj, json=True, host=host if isinstance(host, str) else None)


def parse_iso(text: str) -> int | None:
    """ISO 8601 with up to 9 fraction digits, `Z` or an offset; naive = local time."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?"
                         r"(Z|[+-]\d{2}:?\d{2})?", text.strip())
    if match is None:
        return None
    base = match[1].replace(" ", "T")
    zone = match[3] or ""
    if zone == "Z":
        zone = "+00:00"
    elif zone and ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        moment = datetime.fromisoformat(base + zone)
    except ValueError:
        return None
    frac = int((match[2] or "0").ljust(9, "0"))
    return int(moment.timestamp()) * 1_000_000_000 + frac


def parse_alert_time(stamp: str, now_ns: int | None = None) -> int | None:
    if "T" in stamp:
        return parse_iso(stamp)
    now = datetime.fromtimestamp((now_ns if now_ns is not None else time.time_ns()) / 1e9)
    hours, minutes, rest = stamp.split(":")
    seconds, frac = rest.split(".")
    moment = now.replace(hour=int(hours), minute=int(minutes), second=int(seconds), microsecond=0)
    if moment - now > timedelta(minutes=1):
        moment -= timedelta(days=1)
    return int(moment.timestamp()) * 1_000_000_000 + int(frac)


def parse_since(text: str, now_ns: int | None = None) -> int:
    """`--since`: a duration back from now (`90s`, `10m`, `2h`, `1d`, `1w`) or an ISO time."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    match = _DURATION.match(text.strip())
    if match:
        return now_ns - int(float(match[1]) * _UNITS[match[2].lower()] * 1_000_000_000)
    value = parse_iso(text)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"--since {text!r}: expected a duration (30s, 10m, 2h, 1d) or an ISO time "
            "(2024-05-01T12:00:00Z)")
    return value
