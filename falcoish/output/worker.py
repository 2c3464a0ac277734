"""One channel's queue, journal, spool and delivery thread (used by output/dispatcher.py).

Part of step 9 of the pipeline (delivered).  Why a thread per channel: formatting, writing,
HTTP and retries with backoff may block, and must delay only that channel, never detection
(`put` costs a lock, a queue append and, for journaled channels, one `write(2)`).

Where an alert is at any moment, and so what a crash can cost:
* journaled channels (`Channel.journaled`: http, program, syslog -- endpoints outside this
  process that can be slow, blocked or away): in the journal (output/journal.py) *before* it
  is queued, until it is resolved -- it survives `kill -9`, and the next start delivers it;
* stdout and file (local writes that keep up): in memory while queued; `kill -9` loses what
  their queue holds at that moment (the `queued` counter; normally zero or a few);
* any channel: in the spool (output/spool.py) once it overflowed the queue, failed all its
  attempts on an endpoint that comes and goes, or was left undelivered at close.

Order: while the spool holds anything, new alerts go to the spool too (never around it); the
worker empties the queue before the spool, and the spool front to back.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import structlog

from .channels import Channel, DeliveryError
from .durable import Syncer
from .format import Alert
from .journal import Journal
from .spool import Spool

#: a queued alert and where its journal record ends (-1: not in the journal)
Item = tuple[Alert, int]


class RetryPolicy:
    def __init__(self, attempts: int, backoff: float, max_backoff: float) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff


class ChannelStats:
    """The counters of one channel (written by its worker and, for overflow, by `put`)."""

    FIELDS = ("sent", "retried", "spooled", "failed")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter({name: 0 for name in self.FIELDS})

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] += n

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {name: self.counts[name] for name in self.FIELDS}


class ChannelWorker:
    """See the module docstring.  `interrupts()` tells `close` how often the user asked to
    stop while it runs: 1 = stop draining (spool the rest now), 2 = stop waiting for the send
    in flight too."""

    def __init__(self, channel: Channel, capacity: int, retry: RetryPolicy, spool_dir: Path,
                 syncer: Syncer | None = None) -> None:
        self.channel = channel
        self.name = channel.name
        self.retry = retry
        self.spool_dir = spool_dir
        self.stats = ChannelStats()
        self.log = structlog.get_logger("falcoish.output").bind(channel=self.name)
        self._capacity = capacity
        self._syncer = syncer
        self._queue: queue.Queue[Item | None] = queue.Queue()    # bounded by `put`, see there
        self._lock = threading.Lock()
        self._spool: Spool | None = None
        self._spooling = False
        self._closed = False
        self._down = False
        self._in_flight: Item | None = None
        self._abandoned = False
        self._journal_broken = False
        self._closing = threading.Event()
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"falcoish-output-{self.name}", daemon=True)
        if Spool.exists(spool_dir, self.name):
            self._open_spool()
            self._spooling = True
        self._journal = Journal(spool_dir, self.name, syncer) if channel.journaled else None
        #: alerts an earlier run had queued and not finished (the first may have been delivered)
        self.recovered = 0
        if self._journal is not None and Journal.has_pending(spool_dir, self.name):
            self._recover(self._journal)

    def _recover(self, journal: Journal) -> None:
        try:
            items = journal.recover()
        except OSError as exc:
            self.log.error("cannot read the journal of the last run", error=str(exc))
            return
        for item in items:
            self._queue.put_nowait(item)       # ahead of everything new, and of the spool
        self.recovered = len(items)
        if items:
            self.log.warning("delivering alerts queued by a run that did not finish; the first "
                             "may have been delivered already", alerts=len(items))

    def start(self) -> None:
        self._thread.start()

    # -- the detection side ---------------------------------------------------------------

    def put(self, alert: Alert) -> None:
        with self._lock:
            if not self._spooling:
                if not self._capacity or self._queue.qsize() < self._capacity:
                    self._queue.put_nowait((alert, self._journal_append(alert)))
                    return
                self._spooling = True
                self.log.warning("queue full; spooling alerts to disk until it drains")
            self._to_spool(alert)

    def _journal_append(self, alert: Alert) -> int:
        """Caller holds _lock.  A journal that cannot be written leaves the alert queued in
        memory only (delivered as usual, but not across a crash) -- said once per outage."""
        if self._journal is None:
            return -1
        try:
            end = self._journal.append(alert)
        except OSError as exc:
            if not self._journal_broken:
                self._journal_broken = True
                self.log.error("cannot write the journal; queued alerts are in memory only "
                               "until it works again", error=str(exc))
            return -1
        if self._journal_broken:
            self._journal_broken = False
            self.log.info("journal writable again")
        return end

    def _to_spool(self, alert: Alert) -> None:
        """Append to the spool (caller holds _lock); count `failed` if the disk says no."""
        try:
            self._open_spool().append(alert)
            self.stats.add("spooled")
        except OSError as exc:
            self.stats.add("failed")
            self.log.error("cannot spool alert; it is lost", rule=alert.rule, error=str(exc))

    def _open_spool(self) -> Spool:
        if self._spool is None:
            self._spool = Spool(self.spool_dir, self.name, self._syncer)
        return self._spool

    def _resolved(self, end: int) -> None:
        """The journal record ending at `end` needs no keeping any more."""
        if self._journal is None or end < 0:
            return
        try:
            self._journal.commit(end)
        except OSError as exc:
            self.log.error("cannot update the journal offset; alerts may be sent twice after "
                           "a crash", error=str(exc))

    # -- the worker thread ----------------------------------------------------------------

    def _run(self) -> None:
        probe_delay = self.retry.backoff
        try:
            while not self._abort.is_set():
                if self._deliver_queued(block=False):
                    continue
                if self._spool_pending():
                    if self._deliver_spooled():
                        probe_delay = self.retry.backoff
                    else:
                        self._abort.wait(probe_delay)
                        probe_delay = min(probe_delay * 2, self.retry.max_backoff)
                    continue
                self._leave_spooling()
                if self._closing.is_set() and self._queue.empty() and not self._spool_pending():
                    break
                self._deliver_queued(block=True)
        finally:
            self.channel.close()

    def _deliver_queued(self, block: bool) -> bool:
        try:
            item = self._queue.get(timeout=0.2) if block else self._queue.get_nowait()
        except queue.Empty:
            return False
        if item is None:
            self._queue.task_done()
            return False
        self._in_flight = item
        try:
            self._deliver_fresh(item[0])
            self._resolved(item[1])
        finally:
            self._in_flight = None
            self._queue.task_done()
        return True

    def _spool_pending(self) -> bool:
        return self._spool is not None and self._spool.pending() > 0

    def _leave_spooling(self) -> None:
        with self._lock:
            if self._spooling and not self._closed and not self._spool_pending() and self._queue.empty():
                self._spooling = False

    def _deliver_fresh(self, alert: Alert) -> None:
        delay = self.retry.backoff
        for attempt in range(1, self.retry.attempts + 1):
            try:
                self.channel.send(alert)
                with self._lock:
                    if self._abandoned:      # close() has spooled it and printed the counts
                        return
                    self._in_flight = None
                    self.stats.add("sent")
                self._mark_up()
                return
            except DeliveryError as exc:
                error = exc
            except Exception as exc:     # a bug must not kill the worker and strand the queue
                self.log.exception("channel error", rule=alert.rule)
                error = DeliveryError(f"internal error: {exc!r}", permanent=True)
            if error.permanent or attempt == self.retry.attempts or self._abort.is_set():
                break
            self.stats.add("retried")
            if self._abort.wait(delay):
                break
            delay = min(delay * 2, self.retry.max_backoff)
        self._give_up(alert, error)

    def _give_up(self, alert: Alert, error: DeliveryError) -> None:
        with self._lock:
            if self._abandoned:
                return
            self._in_flight = None
            if error.permanent or not self.channel.spool_on_failure:
                self.stats.add("failed")
            else:
                self.stats.add("retried")                 # it will be tried again, from the spool
                self._to_spool(alert)
                self._resolved(self._move_queue_to_spool())
                self._spooling = True
        if error.permanent and self.channel.spool_on_failure:
            self._reject(alert, error.reason)
        elif error.permanent or not self.channel.spool_on_failure:
            self.log.error("alert not delivered", rule=alert.rule, error=error.reason)
        elif not self._down:
            self.log.warning("endpoint unavailable; spooling alerts until it is back", error=error.reason)
            self._down = True

    def _move_queue_to_spool(self) -> int:
        """Caller holds _lock.  Returns the journal position of the last alert moved (-1: none)."""
        last = -1
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return last
            if item is not None:
                self._to_spool(item[0])
                last = max(last, item[1])
            self._queue.task_done()

    def _deliver_spooled(self) -> bool:
        """Send the spool's oldest alert; False when the endpoint is still failing."""
        assert self._spool is not None
        alert = self._spool.peek()
        if alert is None:
            return True
        try:
            self.channel.send(alert)
        except Exception as caught:
            exc = caught if isinstance(caught, DeliveryError) else DeliveryError(
                f"internal error: {caught!r}", permanent=True)
            if exc.permanent:
                self.stats.add("failed")
                self._reject(alert, exc.reason)
                self._spool.commit()
                return True
            self.stats.add("retried")
            return False
        self._spool.commit()
        with self._lock:
            if not self._abandoned:
                self.stats.add("sent")
        self._mark_up()
        return True

    def _reject(self, alert: Alert, reason: str) -> None:
        self.log.error("endpoint refused alert; kept in the dead-letter file", rule=alert.rule, error=reason)
        try:
            self._open_spool().reject(alert, reason)
        except OSError as exc:
            self.log.error("cannot write dead-letter file; alert lost", rule=alert.rule, error=str(exc))

    def _mark_up(self) -> None:
        if self._down:
            self._down = False
            self.log.info("endpoint is back; delivering spooled alerts")

    # -- control ----------------------------------------------------------------------------

    def drain(self, timeout: float) -> bool:
        """Wait until queue and spool are empty and nothing is in flight (True), or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self._queue.unfinished_tasks == 0 and not self._spool_pending():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def begin_close(self) -> None:
        """Deliver what is left, then stop (without waiting: see `close`)."""
        self._closing.set()
        self._queue.put_nowait(None)

    def _join(self, until: float, interrupts: Callable[[], int], level: int) -> None:
        """Wait for the thread until `until` (monotonic) or until `interrupts()` reaches `level`."""
        while self._thread.is_alive() and interrupts() < level:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._thread.join(min(left, 0.05))

    def close(self, deadline: float, interrupts: Callable[[], int] = lambda: 0) -> None:
        """Finish the queue and the spool by `deadline` (monotonic); then spool the rest.
        Alerts put after close go straight to the spool (for the next start)."""
        self.begin_close()
        self._join(deadline, interrupts, 1)
        if self._thread.is_alive():
            self._abort.set()
        with self._lock:
            self._spooling = self._closed = True
            self._resolved(self._move_queue_to_spool())
        self._join(time.monotonic() + self.channel.max_send_seconds, interrupts, 2)
        if self._thread.is_alive():
            self._abandon()
        elif self._journal is not None:
            try:
                self._journal.close()
            except OSError as exc:
                self.log.error("cannot close the journal", error=str(exc))
        if self._spool is not None and self._spool.pending():
            self.log.warning("undelivered alerts left in the spool for the next start",
                             pending=self._spool.pending(), spool=str(self._spool.path))

    def _abandon(self) -> None:
        """The worker is still sending at exit: stop counting its work, and spool the alert
        it holds (it may then arrive twice) so that the counts printed now are final."""
        with self._lock:
            self._abandoned = True
            item, self._in_flight = self._in_flight, None
            if item is not None:
                self._to_spool(item[0])
                self._resolved(item[1])
        self.log.warning("channel still busy at exit; the alert being sent is spooled and may "
                         "arrive twice", timeout_s=self.channel.max_send_seconds)

    def snapshot(self) -> dict[str, int]:
        out = self.stats.snapshot()
        out["queued"] = self._queue.qsize()
        out["spool_pending"] = self._spool.pending() if self._spool is not None else 0
        return out
