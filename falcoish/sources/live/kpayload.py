"""What the probe can test of an I/O payload: the byte-prefix operators rules use on it.

Why only prefixes: the probe holds the first `SNAPLEN` bytes of a payload (snaplen.py), and
rules look for file magic at the start of a write (`evt.buffer bstartswith 7f454c46`), so a
prefix test is what narrows the write family in the kernel.  The payload view `pay{i}` is
the raw bytes of string slot i; a test on it is *exact* when known (the probe read at least
as many bytes as the prefix: user space compares the same snapshot), so both polarities are
testable.  `evt.arg.data` is the payload rendered as text, which is not its bytes: untested.
"""

from __future__ import annotations

from typing import Sequence

from ...condition.constants import to_bytes
from ...kernel_filter.ir import DNF, StrTest, literal

#: fields whose value is the payload's bytes
PAYLOAD_FIELDS = ("evt.buffer", "evt.rawarg.data")
#: longest prefix worth a trie entry (longer ones can never be known within the snapshot)
PREFIX_MAX = 80


def payload_test(view: str, label: str, op: str, values: Sequence[str], positive: bool) -> DNF | None:
    """`<payload> bstartswith HEX` / `startswith TEXT` as a prefix test on `view`; None for
    anything else (untestable: the rule term then always passes)."""
    prefixes: set[str] = set()
    for value in values:
        if op == "bstartswith":
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                return None
        elif op == "startswith":
            raw = to_bytes(value)
        else:
            return None
        if not raw or len(raw) > PREFIX_MAX:
            return None              # "" starts everything; a longer one is never known
        prefixes.add(raw.decode("latin-1"))
    if len(prefixes) != 1:
        return None
    return literal(StrTest(view, prefix=frozenset(prefixes), label=label), positive)


__all__ = ["PAYLOAD_FIELDS", "payload_test"]
