"""The kernel filter as the kernel evaluates it: the probe's own programs on generated records.

The real probe is compiled and loaded, its tracepoints detached (no real event interferes),
the filter of the upstream corpus and our defaults installed, and then each generated record
is put where a syscall's exit program leaves it and the probe's judge program is run on it
with BPF_PROG_TEST_RUN.  The record reaches a ring buffer exactly when the kernel passed it.
Every verdict must equal the Python evaluation (test_kernel_filter.py checks that one is
implied by every rule), and every record some rule matches must have passed.
"""

from __future__ import annotations

import ctypes
import os
import random
from pathlib import Path
from typing import Any, Iterator

import pytest

from falcoish import load_rules
from falcoish.cli.common import default_rules_paths
from falcoish.kernel_filter.evaluate import passes
from falcoish.sources.live import spec
from falcoish.sources.live.kcontrol import plan_for
from falcoish.sources.live.kernel import HEADER, HEADER_SIZE, NSTR, STR_SZ, KernelProbe
from falcoish.sources.live.kfilter_maps import FilterTables, Policy, encode
from falcoish.sources.live.kview import RecordValues

from .kfilter_records import records, vocabulary
from .test_kernel_filter import decoder, user_event

pytestmark = pytest.mark.live

RECORD_SIZE = HEADER_SIZE + NSTR * STR_SZ          # struct evt
SYS_BPF, BPF_PROG_TEST_RUN, BPF_F_TEST_RUN_ON_CPU = 321, 10, 1
TYPES = ("openat", "open", "openat2", "creat", "unlinkat", "renameat2", "symlinkat", "linkat", "mkdirat",
         "chmod", "fchmodat", "setuid", "ptrace", "mmap", "dup2", "sendto", "mount")


class _TestRun(ctypes.Structure):
    _fields_ = [("prog_fd", ctypes.c_uint32), ("retval", ctypes.c_uint32),
                ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
                ("data_in", ctypes.c_uint64), ("data_out", ctypes.c_uint64),
                ("repeat", ctypes.c_uint32), ("duration", ctypes.c_uint32),
                ("ctx_size_in", ctypes.c_uint32), ("ctx_size_out", ctypes.c_uint32),
                ("ctx_in", ctypes.c_uint64), ("ctx_out", ctypes.c_uint64),
                ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32), ("batch_size", ctypes.c_uint32),
                ("pad", ctypes.c_uint32)]


class Judge:
    """The probe's filter programs, run on demand."""

    def __init__(self, types: tuple[str, ...]) -> None:
        from falcoish.sources.live.setup import import_bcc
        bcc = import_bcc()
        self.probe = KernelProbe(set(types) | spec.ALWAYS | spec.PROC_STATE)
        bpf = self.probe.tables
        for tp in list(bpf.tracepoint_fds):
            bpf.detach_tracepoint(tp)
        for tp in list(bpf.raw_tracepoint_fds):
            bpf.detach_raw_tracepoint(tp)
        self.bpf = bpf
        self.prog_fd = bpf.load_func(b"kf_judge", bcc.BPF.RAW_TRACEPOINT).fd
        self.ncpus = len(bcc.utils.get_possible_cpus())
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.args = (ctypes.c_uint64 * 2)(0, 0)
        self.lib = bcc.libbcc.lib
        self.scratch_fd = self.lib.bpf_table_fd(bpf.module, b"scratch")
        self.tables: FilterTables | None = None

    def install(self, plans: dict[str, Any]) -> None:
        """Make `plans` the live filter (a later install goes to the other bank, which holds
        nothing of the earlier one, as a reload does)."""
        if self.tables is None:
            self.tables = FilterTables(self.bpf)
        self.tables.install({t: encode(plans[t], Policy(filter=True)) for t in plans})

    def passes(self, rec: bytes, comm: bytes | None) -> bool:
        bpf = self.bpf
        value = rec[:RECORD_SIZE].ljust(RECORD_SIZE, b"\0")      # per-CPU values, 8-aligned
        buf = ctypes.create_string_buffer(value * self.ncpus)
        key = ctypes.c_uint32(0)
        assert self.lib.bpf_update_elem(self.scratch_fd, ctypes.byref(key), buf, 0) == 0
        names = bpf[b"exec_comm"]
        tid = HEADER.unpack_from(rec)[1]
        if comm is None:
            names.pop(names.Key(tid), None)
        else:
            leaf = names.Leaf()
            leaf.comm = comm
            names[names.Key(tid)] = leaf
        attr = _TestRun(prog_fd=self.prog_fd, ctx_size_in=ctypes.sizeof(self.args),
                        ctx_in=ctypes.addressof(self.args), flags=BPF_F_TEST_RUN_ON_CPU, cpu=0)
        if self.libc.syscall(SYS_BPF, BPF_PROG_TEST_RUN, ctypes.byref(attr), ctypes.sizeof(attr)) != 0:
            raise OSError(ctypes.get_errno(), "BPF_PROG_TEST_RUN failed")
        got = [r for r in self.probe.poll(0) if HEADER.unpack_from(r)[1] == tid]
        return bool(got)

    def close(self) -> None:
        self.probe.close()


@pytest.fixture(scope="module")
def judge() -> Iterator[Judge]:
    from falcoish.sources.live.setup import ensure_live_support
    reason = ensure_live_support(install=True)
    if reason is not None:
        print(f"live capture unavailable: {reason}")
        pytest.skip(f"live capture unavailable: {reason}")
    j = Judge(TYPES)
    yield j
    j.close()


def test_kernel_verdicts_equal_python_and_rule_matches_pass(judge: Judge, corpus_files: list[str]) -> None:
    result = load_rules(default_rules_paths() + corpus_files)
    ruleset = result.ruleset
    plans = plan_for(ruleset, frozenset(TYPES))
    filtered = {t: p for t, p in plans.items() if p.rules and not p.open}
    judge.install(filtered)
    voc = vocabulary(ruleset)
    checked = matched = dropped = 0
    for t, plan in filtered.items():
        rng = random.Random(sum(map(ord, t)) + 1)
        dec = decoder()
        count = 400 if t in ("openat", "open", "openat2", "creat") else 120
        for rec, comm in records(t, voc, rng, count):
            ev = user_event(dec, rec, rng.choice((None, "/etc", "/")))
            expected = passes(plan.dnf, RecordValues(rec, comm))
            got = judge.passes(rec, comm)
            assert got == expected, (t, HEADER.unpack_from(rec), rec[152:152 + 80], comm, expected)
            checked += 1
            dropped += not got
            if ev is not None and any(r.matches(ev) for r in ruleset.rules_for(t)):
                matched += 1
                assert got, (t, ev.fd, ev.args)
    assert checked > 2000 and matched > 200 and dropped > 500, (checked, matched, dropped)


def test_kernel_payload_prefix_verdicts(judge: Judge) -> None:
    """Byte-prefix tests on write payloads (NULs, bytes >= 0x80, short and unread payloads,
    negations): the kernel's verdict equals Python's, and every record a rule matches passes."""
    from .test_kernel_filter import PAYLOAD_RULES, payload_records
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8") as fh:
        fh.write(PAYLOAD_RULES)
    ruleset = load_rules([fh.name]).ruleset
    types = ("write", "pwrite64", "writev", "pwritev", "sendto")      # (sendto: the payload in slot 1)
    plans = plan_for(ruleset, frozenset(types))
    judge.install(plans)
    checked = matched = dropped = 0
    for t in types:
        rng = random.Random(sum(map(ord, t)) + 7)
        dec = decoder()
        for rec, comm in payload_records(t, rng, 300):
            ev = user_event(dec, rec, None)
            expected = passes(plans[t].dnf, RecordValues(rec, comm))
            got = judge.passes(rec, comm)
            assert got == expected, (t, rec[HEADER_SIZE:HEADER_SIZE + 80], comm, expected)
            checked += 1
            dropped += not got
            if ev is not None and any(r.matches(ev) for r in ruleset.rules_for(t)):
                matched += 1
                assert got, (t, ev.args)
    assert checked == 1500 and matched > 200 and dropped > 200, (checked, matched, dropped)


def test_kernel_copies_decide_in_the_kernel_too(judge: Judge, corpus_files: list[str]) -> None:
    """kcopy.c's marks as the kernel filter reads them: a name slot holding only the caller's
    copy is unknown (the kernel's verdict equals Python's, and a record some rule matches on
    the kernel's copy passes with a benign claim instead); a record marked as rewritten is
    always sent, whatever the filter says."""
    from .test_kernel_filter import alias_of, tampered, user_copy_only
    ruleset = load_rules(default_rules_paths() + corpus_files).ruleset
    types = ("unlinkat", "symlinkat", "renameat2", "linkat", "mkdirat", "fchmodat", "openat")
    plans = {t: p for t, p in plan_for(ruleset, frozenset(types)).items() if p.rules and not p.open}
    judge.install(plans)
    voc = vocabulary(ruleset)
    claim = alias_of(voc)
    checked = matched = forced = 0
    for t, plan in plans.items():
        rng = random.Random(sum(map(ord, t)) + 3)
        dec = decoder()
        names = spec.kernel_copied_slots(t)
        for rec, comm in records(t, voc, rng, 150):
            ev = user_event(dec, rec, None)
            lost = user_copy_only(rec, names, claim(rng))
            expected = passes(plan.dnf, RecordValues(lost, comm))
            got = judge.passes(lost, comm)
            assert got == expected, (t, HEADER.unpack_from(lost), comm, expected)
            checked += 1
            if ev is not None and any(r.matches(ev) for r in ruleset.rules_for(t)):
                matched += 1
                assert got, (t, ev.args)
            raced = tampered(rec, (names & -names).bit_length() - 1, claim(rng))
            if not passes(plan.dnf, RecordValues(raced, comm)):
                forced += 1
                assert judge.passes(raced, comm), (t, HEADER.unpack_from(raced))
    assert checked > 800 and matched > 50 and forced > 100, (checked, matched, forced)
