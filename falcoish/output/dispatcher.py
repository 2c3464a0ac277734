"""Alerts from detection to every enabled channel, without ever holding detection up.

Step 9 of the pipeline (delivered).  `Outputs.emit(alert)` is what the run loop calls for
each alert; it costs a token-bucket check and, per channel, a lock and a queue put (plus, for
http, program and syslog, one line written to the channel's journal first; or, when that
channel is backed up, a line appended to its spool file).  Everything slow -- formatting,
writing, HTTP, retries with backoff -- happens in one worker thread per channel
(output/worker.py), so a slow or dead webhook delays only the webhook.

What "loses nothing" means here, channel by channel:
* process killed (`kill -9`, crash): alerts queued for http, program and syslog are in the
  journal (output/journal.py) and delivered by the next start; stdout and file lose what their
  queue held (output/worker.py says why);
* queue full -> the alert is appended to the channel's spool (output/spool.py) and delivered,
  in order, once the queue has drained;
* delivery fails -> retried `outputs.retry_attempts` times with exponential backoff; then,
  for http and program, spooled and re-sent (head first, backoff capped at
  `outputs.retry_max_backoff`) until the endpoint is back.  stdout, file and syslog are local:
  an alert they still cannot write is counted `failed` and logged;
* the endpoint refuses an alert for good (HTTP 4xx) -> dead-letter file, counted `failed`;
* `close(timeout)` (SIGTERM) drains every queue; whatever is not delivered by the deadline is
  moved to the spool and sent at the next start.  `interrupt()` (a signal during the close)
  ends the draining at once, a second one also the wait for sends in flight;
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

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

import structlog

from ..config.settings import Config
from .channels import Channel, Renderer
from .channels.file import FileChannel
from .channels.http import HttpChannel
from .channels.program import ProgramChannel
from .channels.stdout import StdoutChannel
from .channels.syslog import SyslogChannel
from .durable import Syncer
from .format import HOSTNAME, Alert
from .spool import default_spool_dir
from .worker import ChannelStats, ChannelWorker, RetryPolicy

__all__ = ["SUMMARY_RULE", "ChannelStats", "ChannelWorker", "Outputs", "RetryPolicy", "TokenBucket",
           "build_channels", "build_outputs"]

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


class Outputs:
    """Every enabled channel, the rate limit and its summaries.  Thread-safe `emit`."""

    def __init__(self, channels: Iterable[Channel], *, capacity: int = 10000,
                 retry: RetryPolicy | None = None, spool_dir: Path | None = None,
                 rate: float = 0.0, max_burst: int = 1000, summary_interval: float = 60.0,
                 suppressed: Channel | None = None, hostname: str = HOSTNAME,
                 fsync_interval: float = 0.1) -> None:
        retry = retry or RetryPolicy(3, 0.5, 30.0)
        folder = spool_dir or default_spool_dir()
        self.syncer = Syncer(fsync_interval)
        self.workers = [ChannelWorker(ch, capacity, retry, folder, self.syncer) for ch in channels]
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
        self._suppressed_worker = (ChannelWorker(suppressed, capacity, retry, folder, self.syncer)
                                   if suppressed is not None else None)
        self._closed = False
        self._interrupts = 0
        self._noticed = 0
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

    def interrupt(self) -> None:
        """The user asked to stop (again) while falcoish is stopping: the first call ends the
        draining of `close` (what is left is spooled now), the second also its wait for sends
        in flight.  Only sets a number, so a signal handler may call it at any moment."""
        self._interrupts += 1

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
            worker.close(deadline, self._interrupted)
        self.syncer.close()
        return self.stats()

    def _interrupted(self) -> int:
        """`interrupt()` calls so far, said in the log as `close` first notices each (here,
        in the closing thread: a signal handler must not write to stderr itself)."""
        level = self._interrupts
        if level > self._noticed:
            self._noticed = level
            if level == 1:
                self.log.warning("stop requested while flushing: undelivered alerts are spooled "
                                 "for the next start")
            else:
                self.log.warning("stop requested again: not waiting for sends in flight")
        return level

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
        for worker in self._all_workers():
            if worker.recovered:
                lines.append(f"Output {worker.name}: {worker.recovered} alerts resumed from the journal "
                             "of a run that did not finish (the first may have been delivered twice)")
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
                                       config.output_timeout / 1000.0,
                                       shell=config.program_output.shell))
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
                   summary_interval=outputs.summary_interval, suppressed=suppressed,
                   fsync_interval=outputs.fsync_interval)
