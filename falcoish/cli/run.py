"""`falcoish run`: detect threats and deliver alerts.

With `-e FILE` events are replayed from a recording (falcoish's own format, or Tracee's with
`--input tracee`); without it falcoish watches this host live through eBPF, and where live
capture is impossible it says why and replays the bundled sample trace instead, so the
command always shows what falcoish does.  Alerts go to the output channels of the
configuration (stdout by default); rules reload on SIGHUP and when their files change.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterator

from ..config.settings import Config
from ..runtime.engine import Engine
from ..events.event import Event
from ..runtime.health import Health, capture_summary, configure_logging
from ..runtime.internal_alerts import flood_alerts, tamper_alerts
from ..output.dispatcher import Outputs, build_outputs
from ..output.format import Alert
from ..rules.loader import LoadResult
from ..runtime.reload import Reloader
from ..rules.ruleset import RuleSet
from ..sources.replay import ReplayLimits, read_events
from .common import (add_rules_options, address_arg, config_or_exit, load_or_exit, port_arg, reload_rules,
                     rules_paths, select)
from .run_record import Recorder, add_record_options, capture_types, open_recorder, record_overrides
from .run_status import Progress, banner_head, banner_tail

OUTPUT_SWITCH_INTERVAL = 0.0002   # seconds; CPython's default is 0.005
SAMPLE_TRACE = Path(__file__).resolve().parent.parent / "data" / "sample_trace.jsonl"
Reader = Callable[[str, Callable[[int, str], None]], Iterator[Event]]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("run", help="detect threats (live on this host, or replay with -e) and deliver alerts")
    add_rules_options(parser)
    parser.add_argument("-e", "--events", metavar="FILE",
                        help="replay events from FILE (JSON lines, plain or gzip; '-' = stdin) "
                             "instead of capturing live")
    parser.add_argument("--input", choices=("falcoish", "tracee"), default="falcoish",
                        help="format of -e: falcoish's event records, or Tracee's JSON events")
    parser.add_argument("--output", choices=("falco", "tracee"), default="falco",
                        help="alert shape on stdout: Falco's (text or --json) or tracee-rules' detection block")
    parser.add_argument("--json", action="store_true", help="alerts in Falco's JSON shape (= -o json_output=true)")
    parser.add_argument("--iso8601", action="store_true", help="ISO 8601 times (= -o time_format_iso_8601=true)")
    parser.add_argument("--rule-matching", choices=("first", "all"), default=None,
                        help="fire only the first matching rule per event (Falco's default) or all")
    add_record_options(parser)
    parser.add_argument("-M", "--duration", type=float, metavar="SECONDS",
                        help="stop after this many seconds (as Falco's -M)")
    parser.add_argument("--all-events", action="store_true",
                        help="live: capture every supported event type, not only those the rules need")
    parser.add_argument("--no-kernel-filter", action="store_true",
                        help="live: send every event of the captured types to user space (no "
                             "rule-derived filtering in the kernel; = -o kernel_filter.enabled=false)")
    parser.add_argument("--metrics-port", type=port_arg, metavar="PORT",
                        help="serve Prometheus metrics on PORT (= -o metrics.listen_port=PORT)")
    parser.add_argument("--metrics-address", type=address_arg, metavar="ADDR",
                        help="address the metrics endpoint listens on (default 127.0.0.1; "
                             "= -o metrics.listen_address=ADDR)")
    parser.add_argument("--allow-rules-shrink", action="store_true",
                        help="let a rules reload leave fewer than half of the enabled rules, or none "
                             "(refused by default; = -o rules_reload.allow_shrink=true)")
    parser.add_argument("--watch", choices=("on", "off"), default=None,
                        help="reload rules when their files change (default: watch_config_files)")
    parser.add_argument("--dry-run", action="store_true",
                        help="load the configuration and the rules, open the outputs, then exit "
                             "without processing events (as Falco's --dry-run)")
    parser.add_argument("-U", "--unbuffered", action="store_true",
                        help="write every alert as soon as it is made (= -o buffered_outputs=false; "
                             "as Falco's -U)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no start banner and no progress lines on stderr")
    parser.add_argument("--progress", type=float, default=60.0, metavar="SECONDS",
                        help="print events, events/s, alerts and drops on stderr every SECONDS "
                             "(default 60; 0 = never)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    configure_logging()
    if args.json:
        args.overrides.append("json_output=true")
    if args.iso8601:
        args.overrides.append("time_format_iso_8601=true")
    if getattr(args, "no_kernel_filter", False):
        args.overrides.append("kernel_filter.enabled=false")
    if args.metrics_port:
        args.overrides.append(f"metrics.listen_port={args.metrics_port}")
    if args.metrics_address is not None:
        args.overrides.append(f"metrics.listen_address={args.metrics_address}")
    if args.allow_rules_shrink:
        args.overrides.append("rules_reload.allow_shrink=true")
    if args.unbuffered:
        args.overrides.append("buffered_outputs=false")
    args.overrides.extend(record_overrides(args))
    config = config_or_exit(args)
    if not args.quiet:
        banner_head(args.config)
    result = load_or_exit(args, files=not args.quiet, warnings=True)
    rule_matching = args.rule_matching or str(config.rule_matching)
    selected = select(args, result, config)
    engine = Engine.from_load(result, selected, rule_matching)
    health = Health(engine)
    if not args.quiet:
        banner_tail(_source_text(args), len(selected.rules), sum(r.enabled for r in selected.rules))
    # Output channels write from their own threads.  After each write (a system call, which
    # releases the GIL) a worker waits for the busy detection thread to hand the GIL back,
    # by default 5 ms later: bursts of alerts then overflow the queue into the spool.  A
    # short switch interval only costs anything while a worker actually wants the GIL.
    sys.setswitchinterval(OUTPUT_SWITCH_INTERVAL)
    outputs = _outputs(args, config)
    if args.dry_run:
        outputs.close(1.0)
        print("falcoish: dry run: configuration and rules loaded, outputs opened; no events "
              "processed", file=sys.stderr)
        return 0
    if not _serve_metrics(config, health, outputs):
        outputs.close(1.0)
        return 2
    stop = threading.Event()
    # A replay can be interrupted while it waits for input (opening `-e -` already reads);
    # the stop signals and -M are in place before the source is opened.
    # -M counts from when events start to flow: a live capture's seconds of compiling and
    # attaching do not count (the timer starts once it is ready).
    replaying = args.events is not None
    shutdown = _Shutdown(outputs, stop, interrupt=replaying)
    _install_stop_signals(shutdown)
    timer = _stop_after(args.duration, stop, shutdown) if replaying else None
    try:
        source = shutdown.opening(lambda: _open_source(args, engine, health, stop, config, outputs))
    except _Stopped:
        source = iter(())                  # stopped before the first record arrived
    if not replaying:
        timer = _stop_after(args.duration, stop, shutdown)
    if source is None:
        if timer is not None:
            timer.cancel()
        outputs.close(1.0)
        return 2
    reloader = _reloader(args, config, engine, outputs, health.capture)
    writer = open_recorder(args)
    _install_control_signals(health, outputs, reloader)
    progress = Progress(health, 0.0 if args.quiet else args.progress).start()
    tracee_block = _tracee_formatter() if args.output == "tracee" else None
    try:
        _process(shutdown.guard(source), engine, outputs, writer, tracee_block, stop)
    except _Stopped:
        pass
    finally:
        if timer is not None:
            timer.cancel()
        shutdown.begin()        # from here on a signal cannot raise: it makes the close hurry
        progress.stop()
        if reloader is not None:
            reloader.stop()
        # Close the source first (a live capture detaches and reads the probe's final
        # counters): the summary below then shows the counts at exit, not an earlier read.
        close = getattr(source, "close", None)
        if close is not None:
            close()
        if writer is not None:
            writer.close()
        sys.stdout.flush()
        delivered = outputs.close(5.0)
        health.report()
        for line in outputs.report():
            print(line, file=sys.stderr)
    return _exit_status(delivered)


def _exit_status(stats: dict[str, dict[str, int]]) -> int:
    """1 when some alert was given up (dead-lettered, or a write that kept failing): a run
    whose alerts reached nobody must not look like a success to a supervisor or a script.
    Alerts spooled for the next start are not lost, so they do not count."""
    failed = sum(counts.get("failed", 0) for counts in stats.values())
    if failed:
        print(f"falcoish: {failed} alert(s) could not be delivered (see the Output lines above); "
              "exit status 1", file=sys.stderr)
        return 1
    return 0


def _source_text(args: argparse.Namespace) -> str:
    if args.events is not None:
        return f"replay of {args.events} ({args.input} format)"
    return "live capture (eBPF), or the bundled sample trace where live capture is not possible"


class _Stopped(Exception):
    """SIGTERM/SIGINT: leave the event loop, then flush outputs and report."""


def _process(source: Iterator[Event], engine: Engine, outputs: Outputs, writer: Recorder | None,
             tracee_block: Callable[[Alert, Event], str] | None, stop: threading.Event) -> None:
    """The event loop: record, evaluate, deliver."""
    emit = outputs.emit
    for event in source:
        if writer is not None:
            writer.write(event)
        alerts = engine.process(event)
        if alerts:
            for alert in alerts:
                if tracee_block is not None:
                    sys.stdout.write(tracee_block(alert, event) + "\n")
                else:
                    emit(alert)
            # only writing alerts can find standard output closed (`| head`), so only then ask
            if outputs.stdout_closed:
                break
        if stop.is_set():
            break


def _outputs(args: argparse.Namespace, config: Config) -> Outputs:
    if args.output == "tracee":          # stdout carries detection blocks instead
        args.overrides.append("stdout_output.enabled=false")
        config = config_or_exit(args)
    return build_outputs(config)


def _tracee_formatter() -> Callable[[Alert, Event], str]:
    from ..output.tracee import format_detection
    return format_detection


def _reloader(args: argparse.Namespace, config: Config, engine: Engine, outputs: Outputs,
              capture: Any = None) -> Reloader:
    watch = (args.watch == "on") if args.watch else bool(config.watch_config_files)
    paths = rules_paths(args, config) + ([args.config] if args.config else [])
    swap = None
    if capture is not None:
        def swap(ruleset: RuleSet, result: LoadResult) -> None:
            # the kernel filter widens to old-or-new rules, the rules change, then it narrows
            capture.set_rules(ruleset, lambda: engine.swap(ruleset, result.outputs))
    reloader = Reloader(engine, lambda: reload_rules(args), lambda r: select(args, r, config, check=False),
                        paths, watch, outputs.emit, allow_shrink=bool(config.rules_reload.allow_shrink), swap=swap)
    reloader.start()
    return reloader


def _serve_metrics(config: Config, health: Health, outputs: Outputs) -> bool:
    """Start the metrics endpoint when a port is set; False (said on stderr) when it cannot
    listen there.  Before any event is read, so nothing is detected and then dropped."""
    port = int(config.metrics.listen_port)
    if not port:
        return True
    from ..runtime.metrics import MetricsError, serve_metrics
    try:
        serve_metrics(port, health, outputs.stats, address=str(config.metrics.listen_address))
    except MetricsError as err:
        print(f"falcoish: {err}", file=sys.stderr)
        return False
    return True


def _open_source(args: argparse.Namespace, engine: Engine, health: Health,
                 stop: threading.Event, config: Config, outputs: Outputs) -> Iterator[Event] | None:
    reader = _reader(args.input, config)
    if args.events is not None:
        return _replay(reader, args.events, health)
    from ..sources.live.setup import check_live_support
    reason = check_live_support()
    if reason is not None:
        print(f"falcoish: live capture is not possible here: {reason}", file=sys.stderr)
        print(f"falcoish: replaying the bundled sample trace {SAMPLE_TRACE} instead", file=sys.stderr)
        return _replay(read_events, str(SAMPLE_TRACE), health)
    return _live(args, engine, health, stop, config, outputs)


def _reader(kind: str, config: Config) -> Reader:
    if kind == "tracee":
        from ..sources.tracee import read_tracee_events
        return read_tracee_events
    limits = ReplayLimits(int(config.replay.max_line_bytes), int(config.replay.max_shared_sections),
                          int(config.replay.max_shared_bytes))
    return lambda path, on_bad: read_events(path, on_bad, limits)


def _replay(reader: Reader, path: str, health: Health) -> Iterator[Event] | None:
    def on_bad(number: int, reason: str) -> None:
        health.bad_records += 1
        print(f"{path}:{number}: skipped: {reason}", file=sys.stderr)

    try:
        return reader(path, on_bad)
    except OSError as exc:
        print(f"falcoish: cannot read events from {path}: {exc.strerror or exc}", file=sys.stderr)
        return None


def _live(args: argparse.Namespace, engine: Engine, health: Health, stop: threading.Event,
          config: Config, outputs: Outputs) -> Iterator[Event]:
    from ..sources.live.capture import FloodSettings, LiveCapture
    needed = capture_types(args, engine.ruleset)
    flood = FloodSettings(int(config.syscall_flood.threshold), int(config.syscall_flood.duration),
                          float(config.syscall_flood.rate_limit))
    capture = LiveCapture(set(needed) if needed is not None else None, rules=engine.ruleset,
                          kernel_filter=bool(config.kernel_filter.enabled), flood=flood)
    health.capture = capture
    def count_flood_alert() -> None:
        capture.stats["flood_alerts"] = capture.stats.get("flood_alerts", 0) + 1
    capture.on_flood = flood_alerts(outputs.emit, lambda: capture_summary(capture)["lanes"], count_flood_alert)

    def count_tamper_alert() -> None:
        capture.stats["tamper_alerts"] = capture.stats.get("tamper_alerts", 0) + 1
    capture.on_tamper = tamper_alerts(outputs.emit, str(config.syscall_tamper.priority), count_tamper_alert)
    if capture.unsupported:
        health.log.warning("event types the rules need but live capture does not provide",
                           types=",".join(capture.unsupported))

    def stop_capture_on_request() -> None:
        stop.wait()
        capture.stop()

    threading.Thread(target=stop_capture_on_request, daemon=True).start()
    capture.start()
    health.log.info("live capture started", event_types=len(capture.attach),
                    missing_tracepoints=",".join(capture.stats.get("missing_tracepoints", [])),
                    kernel_filter="on" if capture.filter.enabled else "off")
    if "kernel_filter_unavailable" in capture.stats:
        health.log.warning("kernel filter unavailable on this kernel: every event of the attached "
                           "types is sent to user space", reason=capture.stats["kernel_filter_unavailable"])
    if "kernel_copies_unavailable" in capture.stats:
        health.log.warning("kernel copies of path arguments unavailable: paths come from the "
                           "process's memory, and the kernel filter passes every event that has one",
                           reason=capture.stats["kernel_copies_unavailable"])
    if "io_uring_unavailable" in capture.stats:
        health.log.warning("io_uring hook unavailable: io_uring opens are not seen",
                           reason=capture.stats["io_uring_unavailable"])
    for line in capture.filter.describe():
        if "wide open" in line or "off" in line:
            health.log.info("kernel filter", detail=line)
    return capture.events()


class _Shutdown:
    """What SIGTERM/SIGINT do, by phase of the run.

    Why phases: an exception raised by a signal handler lands wherever the main thread happens
    to be -- inside writing the journal, inside closing the outputs -- and cuts that short
    (a traceback, exit 1, queued alerts neither delivered nor spooled).  So the handler raises
    `_Stopped` only while the main thread waits for the next input event (`guard`): a replay
    blocked reading a pipe has to be interrupted, and nothing is half-done there.  Anywhere
    else in the event loop the first signal sets `stop` and the loop ends after the current
    event.  Once falcoish is stopping (`stop` set, or `begin` called when the loop is over), a
    signal only calls `Outputs.interrupt()`: the close stops draining and spools what is left,
    a second signal also stops waiting for a send in flight; the summary is still printed and
    the exit status is still 0.  Live capture is never interrupted by an exception (raising
    there could land inside BCC's ring-buffer callback and lose the record being delivered);
    it checks `stop` every poll."""

    def __init__(self, outputs: Outputs, stop: threading.Event, interrupt: bool) -> None:
        self.outputs = outputs
        self.stop = stop
        self.interrupt = interrupt
        self.reading = False
        self.closing = False

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.closing or self.stop.is_set():
            self.outputs.interrupt()
            self.stop.set()
            return
        self.stop.set()
        if self.reading:
            raise _Stopped()

    def guard(self, source: Iterator[Event]) -> Iterator[Event]:
        """`source`, marked as interruptible while it is asked for the next event."""
        return self._guarded(source) if self.interrupt else source

    def _guarded(self, source: Iterator[Event]) -> Iterator[Event]:
        while True:
            try:
                self.reading = True
                if self.stop.is_set():      # a signal that came just before `reading` was set
                    return
                event = next(source)
            except StopIteration:
                return
            finally:
                self.reading = False
            yield event

    def opening(self, open_source: Callable[[], Any]) -> Any:
        """`open_source()`, interruptible like a read (opening `-e -` reads its first bytes)."""
        try:
            self.reading = self.interrupt
            if self.stop.is_set():
                raise _Stopped()
            return open_source()
        finally:
            self.reading = False

    def begin(self) -> None:
        self.closing = True
        self.reading = False


def _install_stop_signals(shutdown: _Shutdown) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, shutdown.on_signal)
        signal.signal(signal.SIGINT, shutdown.on_signal)


def _install_control_signals(health: Health, outputs: Outputs, reloader: Reloader) -> None:
    def on_usr1(signum: int, frame: FrameType | None) -> None:
        health.report()
        outputs.reopen()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        reloader.request()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, on_usr1)
        signal.signal(signal.SIGHUP, on_hup)


class _Alarm:
    """-M: stop after `seconds`.  In the main thread a real-time interval timer (SIGALRM) goes
    through the same handler as SIGTERM, so a replay blocked reading a pipe that sends
    nothing still ends on time; elsewhere (tests calling run() from a thread) a timer thread
    sets `stop`."""

    def __init__(self, seconds: float, stop: threading.Event, shutdown: _Shutdown) -> None:
        self.timer: threading.Timer | None = None
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGALRM, shutdown.on_signal)
            signal.setitimer(signal.ITIMER_REAL, seconds)
        else:
            self.timer = threading.Timer(seconds, stop.set)
            self.timer.daemon = True
            self.timer.start()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        else:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _stop_after(seconds: float | None, stop: threading.Event, shutdown: _Shutdown) -> _Alarm | None:
    return _Alarm(seconds, stop, shutdown) if seconds else None
