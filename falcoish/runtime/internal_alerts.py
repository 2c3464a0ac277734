"""Alerts falcoish raises about itself (not from a rule): a syscall flood, a rules reload.

Why an alert and not only a log line: a process that floods the kernel with syscalls may be
trying to blind the detector (fill its buffers, then act); the people who read alerts must
see it, through the same channels, with the drop counts that say whether it worked.  The
same holds for the rules: a reload changes what is detected, and an emptied rules file is
as good a way to blind falcoish as a flood, so every reload, done or refused, is an alert.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..output.format import HOSTNAME, Alert

FLOOD_RULE = "Falco internal: syscall flood"
FLOOD_TAGS = ("falcoish", "evasion", "internal")
#: at most this many flood alerts per second whatever the number of flooding processes
GLOBAL_RATE = 5.0


def _printable(text: str) -> str:
    """A process name as alert text: control characters cannot end the line or move the cursor."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def flood_alert(notice: Any, drops: dict[str, dict[str, int]], hostname: str = HOSTNAME) -> Alert:
    """The alert for one FloodNotice (sources/live/decoder.py); `drops` = per-lane counts."""
    comm = _printable(notice.comm)
    text = (f"Syscall flood from pid {notice.pid} ({comm}) at {notice.rate:,.0f}/s for "
            f"{notice.windows} s: possible evasion attempt (dropped in kernel: reserved lane "
            f"{drops['reserved']['dropped']}, bulk lane {drops['bulk']['dropped']})")
    fields = {"proc.pid": notice.pid, "proc.name": comm, "evt.rate": round(notice.rate),
              "kernel.drops.reserved": drops["reserved"]["dropped"],
              "kernel.drops.bulk": drops["bulk"]["dropped"]}
    return Alert(notice.ts, FLOOD_RULE, "Critical", "internal", FLOOD_TAGS,
                 f"{FLOOD_RULE}: {text}", fields, hostname)


def flood_alerts(emit: Callable[[Alert], None], drops: Callable[[], dict[str, dict[str, int]]],
                 counted: Callable[[], None]) -> Callable[[Any], None]:
    """A FloodNotice callback that emits alerts, at most GLOBAL_RATE per second (the probe
    already sends at most one notice per process per rate-limit period)."""
    allowance = [GLOBAL_RATE, time.monotonic()]

    def on_flood(notice: Any) -> None:
        now = time.monotonic()
        allowance[0] = min(GLOBAL_RATE, allowance[0] + (now - allowance[1]) * GLOBAL_RATE)
        allowance[1] = now
        if allowance[0] < 1:
            return
        allowance[0] -= 1
        counted()
        emit(flood_alert(notice, drops()))
    return on_flood


TAMPER_RULE = "Falco internal: syscall argument changed during the call"
_TAMPER_VERBS = {"open": "opened", "openat": "opened", "openat2": "opened", "creat": "created",
                 "connect": "connected to", "execve": "executed"}


def tamper_alert(notice: Any, priority: str, suppressed: int, hostname: str = HOSTNAME) -> Alert:
    """The alert for one TamperNotice (sources/live/tamper.py): what the kernel used, and what
    the process's memory said afterwards; `suppressed` = notices not alerted since the last one."""
    comm = _printable(notice.comm)
    verb = _TAMPER_VERBS.get(notice.evt_type, f"called {notice.evt_type} with {notice.param}")
    said = _printable(notice.claimed) if notice.claimed is not None else "(not kept)"
    text = (f"pid {notice.pid} ({comm}) {verb} "
            f"{_printable(notice.kernel)}, memory said {said}")
    if suppressed:
        text += f" ({suppressed} more since the last such alert)"
    fields: dict[str, Any] = {"proc.pid": notice.pid, "thread.tid": notice.tid, "proc.name": comm,
                              "evt.type": notice.evt_type, "evt.arg_tampered": True,
                              "arg.name": notice.param, "arg.kernel": notice.kernel,
                              "arg.memory": notice.claimed, "tamper.suppressed": suppressed}
    return Alert(notice.ts, TAMPER_RULE, priority, "internal", FLOOD_TAGS, f"{TAMPER_RULE}: {text}",
                 fields, hostname)


def tamper_alerts(emit: Callable[[Alert], None], priority: str,
                  counted: Callable[[], None]) -> Callable[[Any], None]:
    """A TamperNotice callback that emits alerts, at most GLOBAL_RATE per second; the ones held
    back are counted in the next alert (every tampered event still reaches the rules, with
    evt.arg_tampered true)."""
    allowance = [GLOBAL_RATE, time.monotonic()]
    held = [0]

    def on_tamper(notice: Any) -> None:
        now = time.monotonic()
        allowance[0] = min(GLOBAL_RATE, allowance[0] + (now - allowance[1]) * GLOBAL_RATE)
        allowance[1] = now
        if allowance[0] < 1:
            held[0] += 1
            return
        allowance[0] -= 1
        counted()
        emit(tamper_alert(notice, priority, held[0]))
        held[0] = 0
    return on_tamper


RELOADED_RULE = "Falco internal: rules reloaded"
RELOAD_FAILURE_RULE = "Falco internal: hot restart failure"
RELOAD_TAGS: tuple[str, ...] = ()  # internal alerts carry no tags (docs/outputs.md)


def reload_alert(before: int, after: int, loaded: int, reason: str, shrunk: bool,
                 hostname: str = HOSTNAME) -> Alert:
    """A reload that replaced the rules: Informational, or Warning when `rules_reload.
    allow_shrink` let it drop more than half of the enabled rules."""
    text = (f"reload ({reason}) done: {after} rules enabled, {before} before "
            f"({loaded} loaded)" + ("; allowed to drop more than half by rules_reload.allow_shrink"
                                    if shrunk else ""))
    fields = {"rules.before": before, "rules.after": after, "rules.loaded": loaded, "reload.reason": reason}
    return Alert(time.time_ns(), RELOADED_RULE, "Warning" if shrunk else "Informational", "internal",
                 RELOAD_TAGS, f"{RELOADED_RULE}: {text}", fields, hostname)


def reload_failure_alert(detail: str, reason: str, before: int, after: int | None,
                         hostname: str = HOSTNAME) -> Alert:
    """A reload refused (errors in the rules, or too few rules left): the running rules stay."""
    fields: dict[str, Any] = {"rules.before": before, "reload.reason": reason}
    if after is not None:
        fields["rules.after"] = after
    return Alert(time.time_ns(), RELOAD_FAILURE_RULE, "Critical", "internal", RELOAD_TAGS,
                 f"{RELOAD_FAILURE_RULE}: {detail}; the running rules ({before} enabled) are kept",
                 fields, hostname)
