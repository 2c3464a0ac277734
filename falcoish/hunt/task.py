"""One hunt task: one recording file through the rules, on a Dask worker.

Why a task is a whole file: a recording's events are ordered and stateful (a process table
is built from earlier events), so a file cannot be split.  Why a per-process cache of the
compiled rules: compiling a large rule set takes about as long as hunting a small file, so
each worker compiles once and reuses it for every task it runs.  The rules are identified
by their files' paths and contents (`RuleSpec.digest`): a worker whose rule files differ
from the client's refuses the task instead of hunting with other rules.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Sequence

from ..config.append import AppendOutput
from ..output.format import Alert, OutputFormat, escape_controls
from ..rules.loader import load_rules
from ..rules.ruleset import RuleSet
from ..runtime.engine import Engine
from ..sources.replay import ReplayLimits, read_events


@dataclass(frozen=True)
class HuntAlert(Alert):
    """An alert plus where it came from: the recording file and the event's `evt.num`.

    Falco's JSON keys stay as `run` writes them and the object gains `recording` and
    `event_number`.  A text line, which has no room for them, ends with them in parentheses
    when `origin_in_text` is set (text output only: JSON's `output` stays Falco's line)."""

    recording: str = ""
    event_number: int = 0
    origin_in_text: bool = False

    def text_line(self, iso8601: bool = False) -> str:
        line = super().text_line(iso8601)
        if not self.origin_in_text:
            return line
        # a file name is whatever the fleet's storage holds: nothing raw for a terminal
        return (f"{line} (host={escape_controls(self.hostname)} recording={escape_controls(self.recording)} "
                f"evt.num={self.event_number})")

    def to_dict(self, iso8601: bool = False) -> dict[str, Any]:
        return super().to_dict(iso8601) | {"recording": self.recording, "event_number": self.event_number}


@dataclass(frozen=True)
class RuleSpec:
    """What a worker needs to compile the client's rules: files, their digest, the enabled
    rule names the client's selection left, and how alerts are built."""

    paths: tuple[str, ...]
    digest: str
    enabled: frozenset[str]
    append_output: tuple[AppendOutput, ...] = ()
    allow_insecure: bool = False
    rule_matching: str = "first"
    limits: ReplayLimits = field(default_factory=ReplayLimits)


@dataclass
class FileResult:
    """What one task sends back (small: alerts are rare, events are only counted)."""

    path: str
    host: str
    events: int = 0
    alerts: list[HuntAlert] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unreadable: bool = False
    seconds: float = 0.0          # time spent in the worker, compiling included
    compiled: bool = False        # this task compiled the rules (first task on its worker)


def files_digest(files: Sequence[str]) -> str:
    """Digest of rule files' names and contents, in load order."""
    digest = hashlib.blake2b(digest_size=16)
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        digest.update(b"%d:%s\0%d:" % (len(path), path.encode(), len(data)))
        digest.update(data)
    return digest.hexdigest()


_CACHE: dict[RuleSpec, tuple[RuleSet, dict[str, OutputFormat]]] = {}
_LOCK = threading.Lock()


class RulesMismatch(Exception):
    """The rule files on this worker are not those the client loaded."""


def compiled(spec: RuleSpec) -> tuple[RuleSet, dict[str, OutputFormat], bool]:
    """The spec's rules, compiled on first use in this process; True when compiled now."""
    with _LOCK:
        hit = _CACHE.get(spec)
        if hit is not None:
            return hit[0], hit[1], False
        result = load_rules(list(spec.paths), allow_insecure=spec.allow_insecure,
                            append_output=spec.append_output)
        if result.problems.errors or files_digest(result.files) != spec.digest:
            raise RulesMismatch("the rules files on this worker differ from those the hunt loaded "
                                f"({', '.join(spec.paths)})")
        ruleset = result.ruleset.select(only_rules=spec.enabled,
                                        disable_substrings=() if spec.enabled else ("",))
        _CACHE[spec] = (ruleset, result.outputs)
        return ruleset, result.outputs, True


def hunt_file(path: str, host: str, spec: RuleSpec, since: int | None = None,
              until: int | None = None) -> FileResult:
    """Replay one recording through the rules; a bad record or an unreadable file is noted in
    the result, never raised (one file must not stop the hunt).  Every event is evaluated
    (earlier events build the state later ones are judged by); only alerts of events within
    `since`..`until` (ns, inclusive) are kept."""
    low = since if since is not None else -(1 << 63)
    high = until if until is not None else 1 << 63
    started = perf_counter()
    ruleset, outputs, fresh = compiled(spec)
    result = FileResult(path, host, compiled=fresh)
    engine = Engine(ruleset, outputs, spec.rule_matching, hostname=host)

    def on_bad(number: int, reason: str) -> None:
        result.problems.append(f"{path}:{number}: skipped: {reason}")

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):   # a FIFO or device would block the worker
            raise OSError(errno.EINVAL, "not a regular file")
        for event in read_events(path, on_bad, spec.limits):
            for alert in engine.process(event):
                if low <= alert.time_ns <= high:
                    result.alerts.append(HuntAlert(**vars(alert), recording=path,
                                                   event_number=event.num))
    except OSError as exc:
        result.unreadable = True
        result.problems.append(f"{path}: cannot read: {exc.strerror or exc}")
    result.events = engine.events
    result.seconds = perf_counter() - started
    return result
