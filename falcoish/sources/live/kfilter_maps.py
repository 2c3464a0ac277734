"""The kernel filter and per-type policy, encoded into the probe's tables (see kfilter.c).

Why its own module: the formulas of falcoish/kernel_filter are about tests and terms; the
probe wants bit numbers, trie entries with accumulated prefix bits, needle and integer-test
arrays, and the policy that says what the state table needs of each type.  Two banks of
every table let a reload swap filters atomically: the new one is written into the bank no
event reads, then one word (`kf_config.bank`) flips, then the old bank is cleared.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Iterable

from ...kernel_filter.ir import IntTest, StrTest, Test, atoms, testable, value_bytes
from ...kernel_filter.plan import TypeFilter
from . import spec

KF_TERMS, KF_INTS, KF_NEEDLE, KF_KEY, KF_STR = 48, 32, 32, 256, 253
K_FWD, K_REV, K_CONT = 0, 3, 7
ST_NONE, ST_ALWAYS, ST_OPEN, ST_CLOSE = 0, 1, 2, 3
#: view kind -> requirement level (need index within a slot): whole, absolute, normal, no //
LEVELS = {"raw": 0, "abs": 1, "path": 2, "rawc": 3, "dir": 2, "base": 2, "pay": 0}
DECODE = {"i64": 0, "fd": 1, "i32": 1, "u32": 2, "u64": 3}


@dataclass
class Policy:
    """What the probe does with one event type besides judging it (see probe.c `decide`)."""

    lifecycle: bool = False
    filter: bool = False
    match_all: bool = False
    state: int = ST_NONE
    creates_fd: int = 0
    pipe_slot: int = 0
    flags_arg: int = 0
    track_all: bool = False
    lane1_only: bool = False
    track_writers: bool = False
    flood_sent: bool = False


@dataclass
class Encoded:
    """One type's tables, ready to write."""

    policy: Policy
    terms: list[tuple[int, int]] = field(default_factory=list)
    ints: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)  # operand bit mask flip lo span
    decode: list[int] = field(default_factory=lambda: [0] * 8)
    cont: list[int] = field(default_factory=lambda: [0] * 3)       # contains tests per slot
    cont_dots: list[int] = field(default_factory=lambda: [0] * 3)  # ... needing ".." (see kfilter.c)
    cont_slashdot: list[int] = field(default_factory=lambda: [0] * 3)
    bigrams: list[int] = field(default_factory=lambda: [0] * 1024)  # first two bytes of needles
    fwd_pairs: list[int] = field(default_factory=lambda: [0] * 1024)  # see kfilter.c kf_bigrams
    rev_pairs: list[int] = field(default_factory=lambda: [0] * 1024)
    shorts: set[tuple[int, bytes]] = field(default_factory=set)    # entries without a byte pair
    names: dict[bytes, int] = field(default_factory=dict)          # proc.name = value -> bits
    name_prefixes: list[tuple[bytes, int]] = field(default_factory=list)
    strings: dict[tuple[int, bytes], list[int]] = field(default_factory=dict)   # -> [prefix, exact, comp]
    need: list[int] = field(default_factory=lambda: [0] * 13)
    lookups: int = 0
    slots: int = 0
    always_unknown: int = 0
    raw_slots: int = 0                                             # payload slots (kfilter.c)
    paymin: list[int] = field(default_factory=lambda: [0] * 3)     # longest payload prefix per slot


def policies(attached: Iterable[str], wanted: frozenset[str], filters: dict[str, TypeFilter] | None,
             ) -> dict[str, Policy]:
    """The policy of every attached type.  `filters` None: no kernel filtering (every event
    of an attached type is sent; every new descriptor is tracked)."""
    out: dict[str, Policy] = {}
    # a write's fd.name is known only when the open of its descriptor reached user space
    writers = bool(frozenset(wanted) & frozenset(attached) & spec.WRITE_TYPES)
    for name in sorted(set(attached) | {spec.PROCEXIT, "sched_fork", spec.FLOOD}):
        p = Policy(lifecycle=name in spec.LIFECYCLE, flood_sent=name in spec.EXPLICIT_ONLY)
        sc = spec.SYSCALLS.get(name)
        if name in spec.FD_CREATORS:
            p.creates_fd = 1
        elif name in spec.PIPES and sc is not None:
            p.creates_fd, p.pipe_slot = 2, sc.positions["_fds"][1]
        if filters is None:
            p.match_all = name in wanted
            p.state = ST_ALWAYS
            p.track_all = True
        else:
            tf = filters.get(name)
            if name in wanted and tf is not None and tf.rules:
                p.filter = not tf.open
                p.match_all = tf.open
                p.lane1_only = tf.open
            if name in spec.OPEN_TYPES:
                p.state = ST_OPEN
                p.track_writers = writers
                # creat has no flags argument: it opens for writing (6 = no flags to look at)
                p.flags_arg = sc.positions["flags"][1] if sc is not None and "flags" in sc.positions else 6
            elif name == "close":
                p.state = ST_CLOSE
            elif name in spec.FD_STATE:
                p.state = ST_ALWAYS
        out[name] = p
    return out


def encode(tf: TypeFilter | None, policy: Policy) -> Encoded:
    """The tables of one type (its filter is only encoded when the policy judges it)."""
    enc = Encoded(policy)
    if tf is None or not policy.filter:
        return enc
    tests = atoms(tf.dnf)
    bits = {t: i for i, t in enumerate(tests[:64])}
    for test, bit in bits.items():
        _encode_test(enc, test, 1 << bit)
    for term in sorted(tf.dnf, key=len):
        pos = neg = 0
        for lit in testable(term):
            bit = 1 << bits[lit.atom]  # type: ignore[index]
            if lit.positive:
                pos |= bit
            else:
                neg |= bit
        enc.terms.append((pos, neg))
    if len(enc.terms) > KF_TERMS:
        raise ValueError(f"{tf.event_type}: {len(enc.terms)} terms, the probe takes {KF_TERMS}")
    return enc


def _encode_test(enc: Encoded, test: Test, bit: int) -> None:
    if isinstance(test, IntTest):
        _encode_int(enc, test, bit)
        return
    view = test.view
    if view == "comm":
        enc.need[12] |= bit
        if test.suffix or test.contains:
            enc.always_unknown |= bit
        for v in test.eq:
            name = v.encode()
            if len(name) <= 15:              # a longer name never equals a thread's name
                enc.names[name] = enc.names.get(name, 0) | bit
        for v in test.prefix:
            start = v.encode()
            if len(start) > 15:
                continue                     # no thread name is that long
            if len(enc.name_prefixes) >= 4:
                enc.always_unknown |= bit
            else:
                enc.name_prefixes.append((start, bit))
        return
    kind, slot = view.rstrip("0123456789"), int(view[len(view.rstrip("0123456789")):])
    enc.need[slot * 4 + LEVELS[kind]] |= bit
    enc.slots |= 1 << slot
    if kind == "pay":                    # raw bytes: prefix tests only (see kfields.py)
        if test.eq or test.suffix or test.contains:
            enc.always_unknown |= bit
        enc.raw_slots |= 1 << slot
        for v in test.prefix:
            value = value_bytes(view, v)
            enc.paymin[slot] = max(enc.paymin[slot], len(value))
            _string(enc, K_FWD + slot, value, bit, PREFIX)
        return
    if kind in ("dir", "base"):
        if test.prefix or test.suffix or test.contains:
            enc.always_unknown |= bit
        for v in test.eq:
            value = v.encode()
            if kind == "dir":           # "D/" forward; fd.directory "/" is the entry "/"
                _string(enc, K_FWD + slot, value if value == b"/" else value + b"/", bit, COMP)
            else:                        # "B/" reversed
                _string(enc, K_REV + slot, value[::-1] + b"/", bit, COMP)
        return
    for v in test.eq:
        _string(enc, K_FWD + slot, v.encode(), bit, EXACT)
    for v in test.prefix:
        _string(enc, K_FWD + slot, v.encode(), bit, PREFIX)
    for v in test.suffix:
        _string(enc, K_REV + slot, v.encode()[::-1], bit, PREFIX)
    only_contains = not (test.eq or test.prefix or test.suffix)
    if only_contains and test.contains and all(b".." in v.encode() for v in test.contains):
        enc.cont_dots[slot] |= bit
    if only_contains and test.contains and all(b"/." in v.encode() for v in test.contains):
        enc.cont_slashdot[slot] |= bit
    for v in test.contains:
        needle = v.encode()
        if not needle or len(needle) > KF_NEEDLE:
            enc.always_unknown |= bit       # "" is in every string; too long: not held
            continue
        _string(enc, K_CONT + slot, needle, bit, PREFIX)
        enc.cont[slot] |= bit
        seconds = range(256) if len(needle) == 1 else (needle[1],)
        for second in seconds:
            pair = needle[0] << 8 | second
            enc.bigrams[pair >> 6] |= 1 << (pair & 63)


PREFIX, EXACT, COMP = 0, 1, 2


def _string(enc: Encoded, kind: int, value: bytes, bit: int, role: int) -> None:
    """A trie entry: its bit holds when the looked-up string starts with `value` (PREFIX),
    equals it (EXACT), or has it as its whole "component" (COMP: "D/" or reversed "B/")."""
    if len(value) > KF_STR:
        enc.always_unknown |= bit
        return
    entry = enc.strings.setdefault((kind, value), [0, 0, 0])
    entry[role] |= bit
    if kind < K_CONT:                    # needles are looked up by the contains stage
        enc.lookups |= 1 << kind
    if K_FWD <= kind < K_REV:
        pair = value[1:3] if value.startswith(b"/") else value[:2]
        if len(pair) < 2:
            enc.shorts.add((kind, value))
        else:
            _set_pair(enc.fwd_pairs, pair)
    elif K_REV <= kind < K_CONT:
        if len(value) < 2:
            enc.shorts.add((kind, value))
        else:
            _set_pair(enc.rev_pairs, value[:2])


def _set_pair(words: list[int], pair: bytes) -> None:
    code = pair[0] << 8 | pair[1]
    words[code >> 6] |= 1 << (code & 63)


def _encode_int(enc: Encoded, test: IntTest, bit: int) -> None:
    """Integer tests as the probe evaluates them: ranges of ((operand & mask) ^ flip), unsigned
    (see kfilter.c).  flip is the sign bit for signed operands.  A negative constant against
    an unsigned operand is decided here: such an operand is never negative."""
    operand, decode = _operand(test.operand)
    index = bit.bit_length() - 1
    if operand < 6:
        enc.decode[operand] = (0, 1, 2, 0)[decode]      # u64: as read, compared unsigned
    unsigned = decode >= 2
    flip = 0 if unsigned else 1 << 63
    rows: list[tuple[int, int, int, int, int, int]] = []

    def add(lo: int, hi: int, mask: int = -1, row_flip: int = flip) -> None:
        if lo <= hi:
            rows.append((operand, index, mask & _U64, row_flip, lo, hi - lo))

    if test.op == "any":
        add(1, _U64, test.mask, 0)
    elif test.op == "in":
        for value in test.values:
            if not (unsigned and value < 0):    # else: never equal
                add((value & _U64) ^ flip, (value & _U64) ^ flip, test.mask)
    else:
        c = test.values[0]
        if unsigned and c < 0:
            if test.op in ("gt", "ge"):        # always true
                add(0, _U64, -1, 0)
        else:
            cf = (c & _U64) ^ flip
            bounds = {"lt": (0, cf - 1), "le": (0, cf), "gt": (cf + 1, _U64), "ge": (cf, _U64)}[test.op]
            add(*bounds, test.mask)
    if len(enc.ints) + len(rows) > KF_INTS:
        enc.always_unknown |= bit
        return
    enc.ints.extend(rows)


def _operand(name: str) -> tuple[int, int]:
    if name == "res":
        return 6, 0
    if name == "fdnum":
        return 7, 0
    index, _, kind = name[1:].partition(":")
    return int(index), DECODE[kind]


_U64 = (1 << 64) - 1


def trie_entries(enc: Encoded) -> list[tuple[int, bytes, int, int, int, int]]:
    """(kind, value, prefix bits, exact bits, component bits, component length): an entry's
    prefix bits include those of every shorter entry it extends, and its component bits are
    those of the longest component entry it extends (the trie returns only the longest match,
    and at most one component can end where the looked-up string's does)."""
    by_kind: dict[int, list[tuple[bytes, list[int]]]] = {}
    for (kind, value), bits in enc.strings.items():
        by_kind.setdefault(kind, []).append((value, bits))
    out = []
    for kind, entries in by_kind.items():
        for value, (prefix, exact, comp) in entries:
            acc = prefix
            comp_bits, comp_len = (comp, len(value)) if comp else (0, 0)
            for other, (oprefix, _, ocomp) in entries:
                if len(other) < len(value) and value.startswith(other):
                    acc |= oprefix
                    if ocomp and len(other) > comp_len:
                        comp_bits, comp_len = ocomp, len(other)
            out.append((kind, value, acc, exact, comp_bits, comp_len))
    return out


class FilterTables:
    """Writes encoded types into the probe's maps, one bank at a time."""

    def __init__(self, bpf: Any) -> None:
        self.bpf = bpf
        self._written: dict[int, list[Any]] = {0: [], 1: []}
        self._names: dict[int, list[Any]] = {0: [], 1: []}
        self.bank = 0
        self._installed = False

    def install(self, encoded: dict[str, Encoded]) -> None:
        """Write `encoded` into the idle bank (or bank 0 the first time) and make it live."""
        bank = 0 if not self._installed else 1 - self.bank
        self._clear(bank)
        types, terms, ints = self.bpf[b"kf_types"], self.bpf[b"kf_terms"], self.bpf[b"kf_ints"]
        strings = self.bpf[b"kf_strings"]
        for name, enc in encoded.items():
            num = spec.TYPE_NUMBERS[name]
            base = bank * spec.NTYPES + num
            termrow = terms.Leaf()
            for i, (pos, neg) in enumerate(enc.terms):
                termrow.pos[i], termrow.neg[i] = pos, neg
            terms[ctypes.c_int(base)] = termrow
            introw = ints.Leaf()
            for i, how in enumerate(enc.decode):
                introw.decode[i] = how
            for i, (operand, bit, mask, flip, lo, span) in enumerate(enc.ints):
                t = introw.t[i]
                t.operand, t.bit, t.mask, t.flip, t.lo, t.span = operand, bit, mask, flip, lo, span
            ints[ctypes.c_int(base)] = introw
            bigrams = self.bpf[b"kf_bigram_map"]
            for which, words in enumerate((enc.fwd_pairs, enc.rev_pairs, enc.bigrams)):
                pairs = bigrams.Leaf()
                for i, word in enumerate(words):
                    if word:
                        pairs.w[i] = word
                bigrams[ctypes.c_int(base * 3 + which)] = pairs
            names = self.bpf[b"kf_names"]
            for thread_name, bits in enc.names.items():
                key = names.Key()
                key.bank, key.type, key.comm = bank, num, thread_name
                names[key] = ctypes.c_uint64(bits)
                self._names[bank].append(key)
            for kind, text, prefix, exact, comp, comp_len in trie_entries(enc):
                key = strings.Key()
                key.prefixlen = 8 * (3 + len(text))
                head = bytes((bank, num, kind)) + text
                ctypes.memmove(ctypes.addressof(key.data), head, len(head))
                leaf = strings.Leaf()
                leaf.prefix, leaf.exact, leaf.len = prefix, exact, len(text)
                leaf.comp, leaf.comp_len = comp, comp_len
                strings[key] = leaf
                self._written[bank].append(key)
            types[ctypes.c_int(base)] = self._type_row(types, enc, bank)
        config = self.bpf[b"kf_config"]
        conf = config[ctypes.c_int(0)]
        conf.bank = bank
        config[ctypes.c_int(0)] = conf
        # The old bank is cleared at the next install, not now: an event judged while the
        # bank flipped may still be reading it.
        self.bank, self._installed = bank, True

    @staticmethod
    def _type_row(types: Any, enc: Encoded, bank: int) -> Any:
        p = enc.policy
        row = types.Leaf()
        row.valid = 1
        row.lifecycle, row.filter, row.match_all, row.state = p.lifecycle, p.filter, p.match_all, p.state
        row.creates_fd, row.pipe_slot, row.flags_arg = p.creates_fd, p.pipe_slot, p.flags_arg
        row.track_all, row.lane1_only, row.track_writers = p.track_all, p.lane1_only, p.track_writers
        row.raw_slots, row.flood_sent = enc.raw_slots, p.flood_sent
        for i, least in enumerate(enc.paymin):
            row.paymin[i] = least
        row.nterms, row.nints, row.slots = len(enc.terms), len(enc.ints), enc.slots
        row.bank, row.lookups, row.always_unknown = bank, enc.lookups, enc.always_unknown
        shorts = sorted(enc.shorts)
        if len(shorts) > len(row.shorts):     # too many: no prefilter for those kinds
            row.nopre = (1 if any(k < K_REV for k, _ in shorts) else 0) | (2 if any(k >= K_REV for k, _ in shorts) else 0)
            shorts = []
        entries = {(k, v): (p, x, c, cl) for k, v, p, x, c, cl in trie_entries(enc)}
        for j, (kind, value) in enumerate(shorts):
            prefix, exact, comp, comp_len = entries[(kind, value)]
            sh = row.shorts[j]
            sh.kind, sh.len, sh.comp_len = kind, len(value), comp_len
            for k, byte in enumerate(value):
                sh.b[k] = byte
            sh.prefix, sh.exact, sh.comp = prefix, exact, comp
        row.nshort = len(shorts)
        for j, (start, bits) in enumerate(enc.name_prefixes):
            row.nameprefix[j].len, row.nameprefix[j].s, row.nameprefix[j].bits = len(start), start, bits
        row.nnameprefix = len(enc.name_prefixes)
        for i, mask in enumerate(enc.need):
            row.need[i] = mask
        for i, mask in enumerate(enc.cont):
            row.cont[i] = mask
            row.cont_dots[i] = enc.cont_dots[i]
            row.cont_slashdot[i] = enc.cont_slashdot[i]
        return row

    def _clear(self, bank: int) -> None:
        strings = self.bpf[b"kf_strings"]
        for key in self._written[bank]:
            try:
                del strings[key]
            except KeyError:
                pass
        self._written[bank] = []
        names = self.bpf[b"kf_names"]
        for key in self._names[bank]:
            try:
                del names[key]
            except KeyError:
                pass
        self._names[bank] = []
        types = self.bpf[b"kf_types"]
        for num in range(spec.NTYPES):
            types[ctypes.c_int(bank * spec.NTYPES + num)] = types.Leaf()

    def configure_flood(self, threshold: int, window_ns: int, sustain: int, quiet_ns: int) -> None:
        config = self.bpf[b"kf_config"]
        conf = config[ctypes.c_int(0)]
        conf.flood_threshold, conf.window_ns, conf.sustain, conf.quiet_ns = threshold, window_ns, sustain, quiet_ns
        config[ctypes.c_int(0)] = conf


__all__ = ["Policy", "Encoded", "policies", "encode", "trie_entries", "FilterTables", "StrTest"]
