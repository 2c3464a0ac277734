"""Which I/O payloads the probe copies: only those of event types an enabled rule reads.

Copying a payload costs a user-memory read and up to `SNAPLEN` more bytes per record, on
syscalls (read, recvfrom, recvmsg, sendto, sendmsg, and the write family) that a busy server
makes by the million.  The kernel filter can test a payload's first bytes (kpayload.py), so
a write rule such as `evt.buffer bstartswith 7f454c46` lets only matching writes up.  So the probe reads the `data` of a type only while `snaplen_of[type]` is non-zero,
and that is set here from the rules: a rule of that type whose condition or output reads the
payload (`evt.buffer`, `evt.arg.data`, `evt.rawarg.data`, an argument by index, `evt.args`).
A rule for every type (no `evt.type` test) counts for every type.  Falco's default snapshot
length is 80 bytes.
"""

from __future__ import annotations

import ctypes
import re
from typing import Any, Iterable

from ...rules.ruleset import RuleSet
from . import spec

SNAPLEN = 80
#: fields that read the payload (the whole argument list or an argument by position included)
_PAYLOAD_FIELD = re.compile(r"\bevt\.(?:buffer\b|args\b(?!\.)|(?:raw)?arg\.data\b|(?:raw)?arg\[)")


def reads_payload(text: str) -> bool:
    """Does this condition or output text use a field that shows the I/O payload?"""
    return _PAYLOAD_FIELD.search(text) is not None


def payload_types(ruleset: RuleSet | None, types: Iterable[str]) -> frozenset[str]:
    """The payload-carrying types among `types` whose payload an enabled rule reads.  Without
    rules (no filter: every event goes up) all of them."""
    candidates = frozenset(types) & spec.DATA_TYPES
    if ruleset is None:
        return candidates
    out = set()
    for name in candidates:
        for rule in ruleset.rules_for(name):
            if reads_payload(rule.condition.render()) or reads_payload(rule.output):
                out.add(name)
                break
    return frozenset(out)


def install(bpf: Any, wanted: Iterable[str]) -> None:
    """Set the probe's per-type snapshot length: SNAPLEN for `wanted`, 0 for the others."""
    table = bpf[b"snaplen_of"]
    keep = frozenset(wanted)
    for name in spec.DATA_TYPES:
        table[ctypes.c_int(spec.TYPE_NUMBERS[name])] = ctypes.c_uint(SNAPLEN if name in keep else 0)
