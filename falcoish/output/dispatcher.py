"""Alerts from detection to every enabled channel, without ever holding detection up.

Step 9 of the pipeline (delivered).  `Outputs.emit(alert)` is what the run loop calls for
each alert; it costs a token-bucket check and, per channel, a lock and a queue put (or, when
that channel is backed up, a line appended to its spool file).  Everything slow -- formatting,
writing, HTTP, retries with backoff -- happens in one worker thread per channel, so a slow or
dead webhook delays only the webhook.

What "loses nothing" means here, channel by channel:
* queue full -> the alert is appended to the channel's spool (output/spool.py) and delivered,
  in order, once the queue has drained;
* delivery fails -> retried `outputs.retry_attempts` times with exponential backoff; then,
  for http and program, spooled and re-sent (head first, backoff capped at
  `outputs.retry_max_backoff`) until the endpoint is back.  stdout, file and syslog are local:
  an alert they still cannot write is counted `failed` and logged;
* the endpoint refuses an alert for good (HTTP 4xx) -> dead-letter file, counted `failed`;
* `close(timeout)` (SIGTERM) drains every queue; whatever is not delivered by the deadline is
  moved to the spool and sent at the next start.
* rate limit (`outputs.rate`/`outputs.max_burst`, Falco's token bucket): alerts over the limit
  are not sent to the channels -- protecting the receivers is the point of a limit -- but
  they are counted per rule, summarised by an internal alert ("N alerts suppressed by rate
  limit: rule X: n, ...") every `outputs.summary_interval` seconds and at close, reported in
  `suppressed()`, and written in full to `outputs.suppressed_file` when that is set.

Counters per channel (`stats()`): sent, retried (failed attempts that were tried again),
spooled (alerts written to the spool), failed (given up: local write errors, dead letters),
plus the current queue depth and spool backlog.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

import structlog

from ..config import Config
from .channels import Channel, DeliveryError, Renderer
from .channels.file import FileChannel
from .channels.http import HttpChannel
from .channels.program import ProgramChannel
from .channels.stdout import StdoutChannel
from .channels.syslog import SyslogChannel
from .format import HOSTNAME, Alert
from .spool import Spool, default_spool_dir

#: put in a worker's queue to wake it at close (it would otherwise sleep out its poll)
_WAKE: Any = object()

SUMMARY_RULE = "Falcoish internal: alerts suppressed by rate limit"


class TokenBucket:
    """Falco's outputs.rate/max_burst: starts full, refills `rate` tokens/s up to `burst`,
    one token per alert."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.last = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RetryPolicy:
    def __init__(self, attempts: int, backoff: float, max_backoff: float) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff


class ChannelStats:
    """The counters of one channel (written by its worker and, for overflow, by `emit`)."""

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
    """One channel's bounded queue, spool and delivery thread.

    Order: while the spool holds anything, new alerts go to the spool too (never around
    it); the worker empties the queue before the spool, and the spool front to back."""

    def __init__(self, channel: Channel, capacity: int, retry: RetryPolicy, spool_dir: Path) -> None:
        self.channel = channel
        self.name = channel.name
        self.retry = retry
        self.spool_dir = spool_dir
        self.stats = ChannelStats()
        self.log = structlog.get_logger("falcoish.output").bind(channel=self.name)
        self._queue: queue.Queue[Alert] = queue.Queue(capacity)
        self._lock = threading.Lock()
        self._spool: Spool | None = None
        self._spooling = False
        self._closed = False
        self._down = False
        self._closing = threading.Event()
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"falcoish-output-{self.name}", daemon=True)
        if Spool.exists(spool_dir, self.name):
            self._open_spool()
            self._spooling = True

    def start(self) -> None:
        self._thread.start()

    # -- the detection side ---------------------------------------------------------------

    def put(self, alert: Alert) -> None:
        with self._lock:
            if not self._spooling:
                try:
                    self._queue.put_nowait(alert)
                    return
                except queue.Full:
                    self._spooling = True
                    self.log.warning("queue full; spooling alerts to disk until it drains")
            self._to_spool(alert)

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
            self._spool = Spool(self.spool_dir, self.name)
        return self._spool

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
            alert = self._queue.get(timeout=0.2) if block else self._queue.get_nowait()
        except queue.Empty:
            return False
        if alert is _WAKE:
            self._queue.task_done()
            return False
        try:
            self._deliver_fresh(alert)
        finally:
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
        if error.permanent:
            self.stats.add("failed")
            if self.channel.spool_on_failure:
                self._reject(alert, error.reason)
            else:
                self.log.error("alert not delivered", rule=alert.rule, error=error.reason)
            return
        if not self.channel.spool_on_failure:
            self.stats.add("failed")
            self.log.error("alert not delivered", rule=alert.rule, error=error.reason)
            return
        self.stats.add("retried")                 # it will be tried again, from the spool
        if not self._down:
            self.log.warning("endpoint unavailable; spooling alerts until it is back", error=error.reason)
            self._down = True
        with self._lock:
            self._to_spool(alert)
            self._move_queue_to_spool()
            self._spooling = True

    def _move_queue_to_spool(self) -> None:
        """Caller holds _lock."""
        while True:
            try:
                alert = self._queue.get_nowait()
            except queue.Empty:
                return
            if alert is not _WAKE:
                self._to_spool(alert)
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
        self._wake()

    def _wake(self) -> None:
        try:
            self._queue.put_nowait(_WAKE)
        except queue.Full:
            pass    # then the worker is busy and sees `_closing` after this alert

    def close(self, deadline: float) -> None:
        """Finish the queue and the spool by `deadline` (monotonic); then spool the rest.
        Alerts put after close go straight to the spool (for the next start)."""
        self._closing.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._abort.set()
        with self._lock:
            self._spooling = self._closed = True
            self._move_queue_to_spool()
        if self._thread.is_alive():
            self._thread.join(self.channel.max_send_seconds)
            if self._thread.is_alive():
                self.log.warning("channel still busy at close", timeout_s=self.channel.max_send_seconds)
        if self._spool is not None and self._spool.pending():
            self.log.warning("undelivered alerts left in the spool for the next start",
                             pending=self._spool.pending(), spool=str(self._spool.path))

    def snapshot(self) -> dict[str, int]:
        out = self.stats.snapshot()
        out["queued"] = self._queue.qsize()
        out["spool_pending"] = self._spool.pending() if self._spool is not None else 0
        return out


class Outputs:
    """Every enabled channel, the rate limit and its summaries.  Thread-safe `emit`."""

    def __init__(self, channels: Iterable[Channel], *, capacity: int = 10000,
                 retry: RetryPolicy | None = None, spool_dir: Path | None = None,
                 rate: float = 0.0, max_burst: int = 1000, summary_interval: float = 60.0,
                 suppressed: Channel | None = None, hostname: str = HOSTNAME) -> None:
        retry = retry or RetryPolicy(3, 0.5, 30.0)
        folder = spool_dir or default_spool_dir()
        self.workers = [ChannelWorker(ch, capacity, retry, folder) for ch in channels]
        # asked once per event by the run loop, so looked up here once
        self._stdout_channels = tuple(w.channel for w in self.workers if isinstance(w.channel, StdoutChannel))
        names = [w.name for w in self.workers]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique: {names}")
        self.hostname = hostname
        self.log = structlog.get_logger("falcoish.output")
        self._bucket = TokenBucket(rate, max_burst) if rate > 0 else None
        self._bucket_lock = threading.Lock()
        self._suppressed_total = 0
        self._suppressed_by_rule: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._suppressed_worker = (ChannelWorker(suppressed, capacity, retry, folder)
                                   if suppressed is not None else None)
        self._closed = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        for worker in self._all_workers():
            worker.start()
        if self._bucket is not None:
            self._ticker = threading.Thread(target=self._tick, args=(summary_interval,),
                                            name="falcoish-output-summary", daemon=True)
            self._ticker.start()

    def _all_workers(self) -> list[ChannelWorker]:
        return self.workers + ([self._suppressed_worker] if self._suppressed_worker else [])

    def emit(self, alert: Alert) -> None:
        """Hand an alert to every channel.  Never waits for a channel."""
        if self._bucket is not None:
            with self._bucket_lock:
                allowed = self._bucket.take()
                if not allowed:
                    self._suppressed_total += 1
                    self._suppressed_by_rule[alert.rule] += 1
                    self._unreported[alert.rule] += 1
            if not allowed:
                if self._suppressed_worker is not None:
                    self._suppressed_worker.put(alert)
                return
        for worker in self.workers:
            worker.put(alert)

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.flush_summary()

    def flush_summary(self) -> None:
        """Emit the rate-limit summary alert if alerts were suppressed since the last one."""
        with self._bucket_lock:
            counts, self._unreported = self._unreported, Counter()
        if not counts:
            return
        total = sum(counts.values())
        detail = ", ".join(f"rule {rule}: {n}" for rule, n in counts.most_common())
        summary = Alert(time.time_ns(), SUMMARY_RULE, "Warning", "internal", (),
                        f"{total} alerts suppressed by rate limit: {detail}",
                        {"suppressed": total, "suppressed_by_rule": dict(counts.most_common())},
                        self.hostname)
        self.log.warning("alerts suppressed by rate limit", suppressed=total)
        for worker in self.workers:
            worker.put(summary)

    def reopen(self) -> None:
        """Reopen files and keep-alive programs (SIGUSR1, log rotation)."""
        for worker in self._all_workers():
            worker.channel.reopen()

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queue and spool is empty (for tests and orderly hand-overs)."""
        deadline = time.monotonic() + timeout
        return all(w.drain(max(0.0, deadline - time.monotonic())) for w in self._all_workers())

    def close(self, timeout: float = 5.0) -> dict[str, dict[str, int]]:
        """Flush: deliver what is queued (and spooled) within `timeout` seconds, spool the rest.
        Returns `stats()`.  A send in flight at the deadline may add up to its own timeout."""
        if self._closed:
            return self.stats()
        self._closed = True
        self._stop.set()
        if self._bucket is not None:
            self.flush_summary()
        deadline = time.monotonic() + timeout
        for worker in self._all_workers():
            worker.begin_close()
        for worker in self._all_workers():
            worker.close(deadline)
        return self.stats()

    def stats(self) -> dict[str, dict[str, int]]:
        """Per channel: sent, retried, spooled, failed, queued, spool_pending."""
        return {w.name: w.snapshot() for w in self._all_workers()}

    def suppressed(self) -> dict[str, Any]:
        with self._bucket_lock:
            return {"total": self._suppressed_total, "by_rule": dict(self._suppressed_by_rule.most_common())}

    @property
    def stdout_closed(self) -> bool:
        """True once standard output's reader went away (the run loop may stop)."""
        for channel in self._stdout_channels:
            if channel.gone:
                return True
        return False

    def report(self) -> list[str]:
        """Human-readable summary lines for the end of a run."""
        lines = []
        for name, counts in self.stats().items():
            lines.append(f"Output {name}: " + " ".join(f"{k}={v}" for k, v in counts.items()))
        s = self.suppressed()
        if s["total"]:
            lines.append(f"Alerts suppressed by rate limit: {s['total']} ("
                         + ", ".join(f"{rule}: {n}" for rule, n in s["by_rule"].items()) + ")")
        return lines


def build_channels(config: Config, stream: TextIO | None = None,
                   syslog_send: Callable[[int, str], None] | None = None) -> list[Channel]:
    renderer = Renderer(config)
    buffered: bool = config.buffered_outputs
    channels: list[Channel] = []
    if config.stdout_output.enabled:
        channels.append(StdoutChannel(renderer, buffered, stream))
    if config.file_output.enabled:
        channels.append(FileChannel(renderer, config.file_output.filename,
                                    config.file_output.keep_alive, buffered))
    if config.program_output.enabled:
        channels.append(ProgramChannel(renderer, config.program_output.program,
                                       config.program_output.keep_alive, buffered,
                                       config.output_timeout / 1000.0))
    if config.http_output.enabled:
        channels.append(HttpChannel(renderer, config))
    if config.syslog_output.enabled:
        channels.append(SyslogChannel(renderer, syslog_send))
    return channels


def build_outputs(config: Config, *, stream: TextIO | None = None,
                  syslog_send: Callable[[int, str], None] | None = None) -> Outputs:
    """The `Outputs` of a run, from its config.  `stream` replaces sys.stdout (tests)."""
    outputs = config.outputs
    suppressed: Channel | None = None
    if outputs.suppressed_file:
        suppressed = FileChannel(Renderer(config), outputs.suppressed_file, keep_alive=True,
                                 buffered=config.buffered_outputs, name="suppressed", as_json=True)
    return Outputs(build_channels(config, stream, syslog_send),
                   capacity=config.outputs_queue.capacity,
                   retry=RetryPolicy(outputs.retry_attempts, outputs.retry_backoff, outputs.retry_max_backoff),
                   spool_dir=Path(outputs.spool_dir) if outputs.spool_dir else None,
                   rate=outputs.rate, max_burst=outputs.max_burst,
                   summary_interval=outputs.summary_interval, suppressed=suppressed)
