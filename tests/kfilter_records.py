"""Raw probe records aimed at the rules: what the kernel-filter property tests feed.

Random records would almost never match a rule, and a soundness test that never sees a match
proves nothing.  So strings, names and numbers come from the rules themselves (every constant
their conditions compare with), combined the way attackers and ordinary programs write paths:
as given, below a directory, relative, with `//`, `/./` or `/../`, cut at the probe's read
limit, unreadable; plus a few values that match nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator

from falcoish.syntax.nodes import Compare, ListOperand, StrConst, walk
from falcoish.rules.ruleset import RuleSet
from falcoish.sources.live import spec
from falcoish.sources.live.kernel import RF_TRACKED, STR_SZ
from falcoish.sources.live.kview import pack_record

ERRNOS = (0, 3, 7, -1, -2, -13, -17, -115)
COMMON_BITS = (0, 1, 2, 0o100, 0o200, 0o1000, 0o2000, 0o4000, 0o200000, 0o2000000, 0o20200000,
               0o111, 0o644, 0o755, 0o4755, 0o600, 4, 2, 1, 0x20, 0x22, 7, 5)


@dataclass(frozen=True)
class Vocabulary:
    strings: tuple[str, ...]
    names: tuple[str, ...]
    ints: tuple[int, ...]
    paths: tuple[str, ...] = ()


def vocabulary(ruleset: RuleSet) -> Vocabulary:
    """Every constant the enabled rules compare with, split into path-like strings and names."""
    strings: set[str] = set()
    ints: set[int] = set(COMMON_BITS)
    for rule in ruleset.enabled:
        for node in walk(rule.condition):
            if not isinstance(node, Compare):
                continue
            rhs = node.rhs
            values = [rhs.value] if isinstance(rhs, StrConst) else \
                [i.value for i in rhs.items if isinstance(i, StrConst)] if isinstance(rhs, ListOperand) else []
            for v in values:
                if v.lstrip("-").isdigit():
                    ints.add(int(v))
                elif v.startswith("0") and len(v) > 1 and v[1:].isdigit():
                    ints.add(int(v, 8))
                strings.add(v)
    names = tuple(sorted(v for v in strings if "/" not in v and 0 < len(v) <= 15))
    paths = tuple(sorted(v for v in strings if v.startswith("/")))
    return Vocabulary(tuple(sorted(strings)), names, tuple(sorted(ints)), paths)


def _path(rng: random.Random, voc: Vocabulary) -> bytes | None:
    pool = voc.paths if voc.paths and rng.random() < 0.6 else voc.strings
    pick = rng.choice(pool) if pool else "x"
    base = pick.replace("*", rng.choice(["", "a", "x/y", "root"])).replace("?", "a")
    form = 0 if rng.random() < 0.3 else rng.randrange(1, 16)
    if form == 0:
        text = base
    elif form == 1:
        text = base.rstrip("/") + "/" + rng.choice(voc.names or ("x",))
    elif form == 2:
        text = "/" + base.lstrip("/")
    elif form == 3:
        text = base.lstrip("/")                                   # relative
    elif form == 4:
        text = base.replace("/", "//", 1)
    elif form == 5:
        text = base.replace("/", "/./", 1)
    elif form == 6:
        text = "/tmp/../" + base.lstrip("/")
    elif form == 7:
        text = rng.choice(("/tmp/flood.tmp", "/home/dev/src/app.py", "/usr/lib/libc.so.6",
                           "/proc/self/status", "/", "/etc", "/var/log", "/dev/null"))
    elif form == 8:
        text = "/" + "a" * rng.randrange(240, 600) + base           # long: cut or past the key
    elif form == 9:
        return None                                                # unreadable
    elif form == 10:
        text = base + rng.choice(("/", "/.", "/.."))
    elif form == 11:
        text = rng.choice(voc.strings or ("x",)) + rng.choice(voc.strings or ("y",))
    elif form == 12:
        text = "/home/" + rng.choice(("u", "dev")) + "/" + base.lstrip("/")
    elif form == 13:
        text = "../../" + base.lstrip("/")
    elif form == 14:
        text = base + ".pub"
    else:
        text = "".join(rng.choice("/.abe_-") for _ in range(rng.randrange(1, 12)))
    return text.encode("utf-8", "replace")


def records(event_type: str, voc: Vocabulary, rng: random.Random, count: int) -> Iterator[tuple[bytes, bytes | None]]:
    """(record, exec-time thread name or None) pairs for `event_type`."""
    sc = spec.SYSCALLS[event_type]
    nslots = 1 + max((idx for where, idx in sc.positions.values() if where == "s"), default=-1)
    for n in range(count):
        strings = tuple(_path(rng, voc) for _ in range(nslots))
        a = tuple(rng.choice(voc.ints) if rng.random() < 0.7 else rng.getrandbits(rng.choice((8, 32, 64)))
                  for _ in range(6))
        if rng.random() < 0.5 and "flags" in sc.positions and sc.positions["flags"][0] == "a":
            flags = 0
            for _ in range(rng.randrange(1, 4)):
                flags |= rng.choice(COMMON_BITS)
            a = tuple(flags if i == sc.positions["flags"][1] else v for i, v in enumerate(a))
        res = rng.choice(ERRNOS)
        comm = rng.choice(voc.names or ("sh",)) if rng.random() < 0.4 else \
            rng.choice(("bash", "python3", "cat", "cat", "vi", "sshd", "nginx", "x" * 15))
        known = rng.random() < 0.9
        raw_comm = comm.encode()[:15]
        tid = 6_000_000 + n
        rec = pack_record(event_type, tid=tid, res=res, a=a, strings=strings, comm=raw_comm,
                          uid=rng.choice((0, 1000, 33)), rflags=RF_TRACKED)
        yield rec, (raw_comm if known else None)


__all__ = ["Vocabulary", "vocabulary", "records", "STR_SZ"]
