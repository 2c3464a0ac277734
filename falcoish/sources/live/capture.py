"""Live capture: syscall records from the kernel probe -> rule-ready `Event`s.

    cap = LiveCapture({"openat", "execve", "connect"}, rules=ruleset)
    for ev in cap.events():          # blocks; stop() from another thread ends it
        ...

The probe (kernel.py, probe.c) judges each event in the kernel with a filter derived from
the enabled rules (kcontrol.py) and sends what passes through two lanes; records are decoded
into events by decoder.py.  `stats` holds what a health report needs: events per type,
records read, bad records, the probe's own per-type counters (seen, filtered in kernel, sent
and dropped per lane), and the age of events when they were handed on for evaluation.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator

from ...events.event import Event
from ...runtime.latency import AgeHistogram
from ...rules.ruleset import RuleSet
from . import kernel, procscan, snaplen, spec
from .decoder import FloodNotice, RecordDecoder
from .tamper import TamperNotice
from .kcontrol import FilterControl, FloodSettings
from .setup import LiveUnavailable, check_live_support
from .state import StateTable
from .users import UserDirectory

__all__ = ["LiveCapture", "check_live_support", "LiveUnavailable", "FloodNotice", "FloodSettings"]

COUNTERS_EVERY_S = 0.5


class LiveCapture:
    """Events from the running machine (see the module docstring).

    `rules`: the rule set whose kernel filter the probe applies (None, or
    kernel_filter=False: every event of the attached types is sent, as before filtering).
    """

    def __init__(self, event_types: set[str] | None = None, *, rules: RuleSet | None = None,
                 kernel_filter: bool = True, flood: FloodSettings | None = None,
                 lane_pages: tuple[int, int] = (2048, 2048), scan_proc: bool = True,
                 max_threads: int = 131072, poll_interval_ms: int = 100) -> None:
        unknown = set(event_types or ()) - spec.SUPPORTED
        self.unsupported = sorted(unknown)
        self.wanted = frozenset(spec.IMPLICIT if event_types is None else set(event_types) & spec.SUPPORTED)
        self.attach = spec.capture_set(self.wanted)
        self.stats: dict[str, Any] = {"captured": {}, "state_only": 0, "kernel_drops": 0,
                                      "user_drops": 0, "records": 0, "kernel": {}}
        self.ages = AgeHistogram()
        self.ready = threading.Event()
        self.rules = rules
        self.flood = flood if flood is not None else FloodSettings()
        self.filter = FilterControl(self.attach, self.wanted, kernel_filter and rules is not None)
        self._lane_pages = lane_pages
        self._scan = scan_proc
        self._poll_ms = poll_interval_ms
        self._stop = threading.Event()
        self._probe: kernel.KernelProbe | None = None
        self._lock = threading.Lock()
        self.decoder = RecordDecoder(StateTable(max_threads=max_threads), UserDirectory(), self.wanted, self.stats)
        self._counters_at = 0.0

    @property
    def state(self) -> StateTable:
        """The process/descriptor table (the decoder's)."""
        return self.decoder.state

    @state.setter
    def state(self, table: StateTable) -> None:
        self.decoder.state = table

    @property
    def users(self) -> UserDirectory:
        return self.decoder.users

    @users.setter
    def users(self, users: UserDirectory) -> None:
        self.decoder.users = users

    @property
    def on_flood(self) -> Callable[[FloodNotice], None]:
        return self.decoder.on_flood

    @on_flood.setter
    def on_flood(self, callback: Callable[[FloodNotice], None]) -> None:
        self.decoder.on_flood = callback

    @property
    def on_tamper(self) -> Callable[[TamperNotice], None]:
        return self.decoder.on_tamper

    @on_tamper.setter
    def on_tamper(self, callback: Callable[[TamperNotice], None]) -> None:
        self.decoder.on_tamper = callback

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Compile and attach the probe, install the kernel filter, read /proc.  Idempotent;
        blocks (a few seconds: BCC compiles the probe)."""
        with self._lock:
            if self._probe is not None:
                return
            reason = check_live_support()
            if reason is not None:
                raise LiveUnavailable(reason)
            probe = kernel.KernelProbe(self.attach, self._lane_pages,
                                       snaplen.payload_types(self.rules, self.attach))
            self._probe = probe
            self.stats["missing_tracepoints"] = sorted(probe.missing)
            self.stats["compile_s"] = round(probe.compile_s, 2)
            if probe.judge_error is not None:
                self.filter.enabled = False
                self.stats["kernel_filter_unavailable"] = probe.judge_error
            if probe.io_uring_error is not None:
                self.stats["io_uring_unavailable"] = probe.io_uring_error
            if probe.kcopy_error is not None:
                self.stats["kernel_copies_unavailable"] = probe.kcopy_error
            self.filter.start(probe.tables, self.rules, self.flood)
            self._set_payloads(probe, self.rules)
            if self._scan:
                self.state.load_scan(procscan.scan())
                self.filter.seed(probe.tables, self.state)
            self.ready.set()

    def set_rules(self, ruleset: RuleSet, apply_rules: Callable[[], None]) -> None:
        """New rules (hot reload): the kernel filter follows without a gap (see kcontrol)."""
        old, self.rules = self.rules, ruleset
        probe = self._probe
        if probe is not None:          # widen first, as the filter does: both sets' payloads
            self._set_payloads(probe, old, ruleset)
        self.filter.swap(ruleset, apply_rules)
        if probe is not None:
            self._set_payloads(probe, ruleset)

    def _set_payloads(self, probe: kernel.KernelProbe, *rulesets: RuleSet | None) -> None:
        """Copy the I/O payloads (`evt.buffer`) of the types whose rules read them, only."""
        types = frozenset().union(*(snaplen.payload_types(r, self.attach) for r in rulesets))
        snaplen.install(probe.tables, types)
        self.stats["payload_types"] = sorted(types)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Detach the probe, then read its counters (final: nothing can change them any
        more), then free it."""
        self._stop.set()
        with self._lock:
            probe, self._probe = self._probe, None
            if probe is not None:
                probe.detach()
                for rec in probe.held_notices():
                    self.decoder.process(rec)
                self._read_counters(probe)
                probe.close()

    def events(self) -> Iterator[Event]:
        """Yield events (num 1, 2, ...) until stop(); closes the capture when done."""
        self.start()
        probe = self._probe
        assert probe is not None
        process, record_age, stopping = self.decoder.process, self.ages.record, self._stop.is_set
        try:
            while not stopping():
                self.users.refresh()
                for rec in probe.poll(self._poll_ms):
                    ev = process(rec)
                    if ev is not None:
                        record_age(time.time_ns() - ev.ts)
                        yield ev
                now = time.monotonic()
                if now - self._counters_at >= COUNTERS_EVERY_S:
                    self._counters_at = now
                    self._read_counters(probe)
                    for rec in probe.held_notices():
                        process(rec)
        finally:
            self.close()

    def refresh_counters(self) -> None:
        """Read the probe's counters now (they are otherwise read every half second), so a
        report shows the counts at the moment it is printed."""
        probe = self._probe
        if probe is None:
            return
        try:
            self._read_counters(probe)
        except Exception:  # noqa: BLE001 - the probe is being closed: close() reads them last
            pass

    def _read_counters(self, probe: kernel.KernelProbe) -> None:
        counts = probe.counters()
        self.stats["kernel"] = counts
        self.stats["kernel_drops"] = sum(c["dropped_reserved"] + c["dropped_bulk"] for c in counts.values())


def run_for(seconds: float, event_types: set[str] | None = None) -> tuple[int, dict[str, Any]]:
    """Capture for `seconds`; return (events seen, stats).  Handy for measuring throughput."""
    cap = LiveCapture(event_types)
    cap.start()
    timer = threading.Timer(seconds, cap.stop)
    n = 0
    t0 = time.monotonic()
    timer.start()
    for _ev in cap.events():
        n += 1
    cap.stats["elapsed_s"] = time.monotonic() - t0
    return n, cap.stats


__all__ += ["run_for"]
