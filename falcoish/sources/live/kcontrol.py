"""The live source's side of kernel filtering: plan from rules, install, swap on reload.

Why here and not in the capture loop: a reload happens on another thread, must widen the
filter before the new rules take effect and narrow it only after (so no event either rule
set needs is dropped in between), and the probe's tables must also learn what /proc showed
at start (thread names, open descriptors), or the first events of old processes would be
judged on missing state.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Any, Callable

from ...kernel_filter.plan import TypeFilter, plan_filters, union
from ...rules.ruleset import RuleSet
from . import spec
from .kfields import ProbeFields
from .kfilter_maps import FilterTables, encode, policies
from .setup import import_bcc
from .state import StateTable

BPF_NOEXIST = 1


@dataclass(frozen=True)
class FloodSettings:
    """A process sending more than `threshold` captured events per second for `sustain`
    seconds in a row is reported, at most once per `quiet_s` per process."""

    threshold: int = 50000
    sustain: int = 2
    quiet_s: float = 10.0


def plan_for(ruleset: RuleSet, types: frozenset[str]) -> dict[str, TypeFilter]:
    """The kernel filter of each of `types` for the enabled rules of `ruleset`."""
    return plan_filters({t: ruleset.rules_for(t) for t in sorted(types)}, ProbeFields())


class FilterControl:
    """Owns the probe's filter tables for one capture."""

    def __init__(self, attach: frozenset[str], wanted: frozenset[str], enabled: bool) -> None:
        self.attach = attach
        self.wanted = wanted
        self.enabled = enabled
        self.filters: dict[str, TypeFilter] | None = None
        self._tables: FilterTables | None = None
        self._lock = threading.Lock()

    def start(self, bpf: Any, ruleset: RuleSet | None, flood: FloodSettings | None) -> None:
        self._tables = FilterTables(bpf)
        if self.enabled and ruleset is not None:
            self.filters = plan_for(ruleset, self.wanted & (self.attach | {spec.PROCEXIT}))
        self._install(self.filters)
        if flood is not None and flood.threshold > 0:
            self._tables.configure_flood(flood.threshold, 1_000_000_000, max(1, flood.sustain),
                                         int(flood.quiet_s * 1e9))

    def swap(self, ruleset: RuleSet, apply_rules: Callable[[], None]) -> None:
        """Put new rules in place: widen to old-or-new, apply the rules, narrow to new."""
        with self._lock:
            if self._tables is None or not self.enabled:
                apply_rules()
                return
            new = plan_for(ruleset, self.wanted & (self.attach | {spec.PROCEXIT}))
            old = self.filters or {}
            both = {t: union(old[t], f) if t in old else f for t, f in new.items()}
            self._install(both)
            apply_rules()
            self._install(new)
            self.filters = new

    def _install(self, filters: dict[str, TypeFilter] | None) -> None:
        assert self._tables is not None
        rules = policies(self.attach, self.wanted, filters)
        self._tables.install({name: encode((filters or {}).get(name), policy) for name, policy in rules.items()})

    def seed(self, bpf: Any, state: StateTable) -> int:
        """Tell the probe what /proc showed: each thread's name (the probe keeps exec-time
        names from here on) and each open descriptor (so that its close goes up).  Entries the
        probe made itself since it started win (they are newer)."""
        lib = import_bcc().libbcc.lib
        names, tracked = bpf[b"exec_comm"], bpf[b"tracked"]
        done = 0
        for tid, thread in list(state.threads.items()):
            if thread.comm is None or thread.proc.placeholder:
                continue
            key, leaf = names.Key(tid), names.Leaf()
            leaf.comm = thread.comm.encode("utf-8", "replace")[:15]
            lib.bpf_update_elem(names.map_fd, ctypes.byref(key), ctypes.byref(leaf), BPF_NOEXIST)
            done += 1
        for pid, proc in list(state.procs.items()):
            for fd in list(proc.fds):
                if fd < 0:
                    continue
                key, leaf = tracked.Key((pid << 32) | fd), tracked.Leaf(1)
                lib.bpf_update_elem(tracked.map_fd, ctypes.byref(key), ctypes.byref(leaf), BPF_NOEXIST)
        return done

    def describe(self) -> list[str]:
        """One line per filtered type: how it is filtered (for the start-up log)."""
        if not self.enabled or self.filters is None:
            return ["kernel filter off: every event of the attached types is sent"]
        out = []
        for name, tf in sorted(self.filters.items()):
            if not tf.rules:
                continue
            out.append(f"{name}: " + ("wide open (" + ", ".join(r for r, _ in tf.open_because()[:3]) + ")"
                                      if tf.open else f"{len(tf.dnf)} terms, {len(tf.tests)} tests"))
        return out
