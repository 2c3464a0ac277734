"""`falcoish run`: detect threats and print alerts.

With `-e FILE` events are replayed from a recording; without it falcoish watches this host
live through eBPF, and where live capture is impossible it says why and replays the bundled
sample trace instead, so the command always shows what falcoish does.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Iterator

from ..engine import Engine
from ..event import Event
from ..health import Health, configure_logging
from ..sources.record import EventWriter
from ..sources.replay import read_events
from .common import add_rules_options, load_or_exit, select

SAMPLE_TRACE = Path(__file__).resolve().parent.parent / "data" / "sample_trace.jsonl"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("run", help="detect threats (live on this host, or replay with -e) and print alerts")
    add_rules_options(parser)
    parser.add_argument("-e", "--events", metavar="FILE",
                        help="replay events from FILE (JSON lines, plain or gzip; '-' = stdin) "
                             "instead of capturing live")
    parser.add_argument("--json", action="store_true", help="print alerts in Falco's JSON shape")
    parser.add_argument("--iso8601", action="store_true", help="ISO 8601 times in text alerts")
    parser.add_argument("--rule-matching", choices=("first", "all"), default="first",
                        help="fire only the first matching rule per event (Falco's default) or all")
    parser.add_argument("--record", metavar="FILE",
                        help="also write every event to FILE in the replay format (.gz compresses)")
    parser.add_argument("-M", "--duration", type=float, metavar="SECONDS",
                        help="stop after this many seconds (as Falco's -M)")
    parser.add_argument("--all-events", action="store_true",
                        help="live: capture every supported event type, not only those the rules need")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    configure_logging()
    result = load_or_exit(args)
    engine = Engine.from_load(result, select(args, result), args.rule_matching)
    health = Health(engine)
    stop = threading.Event()
    source = _open_source(args, engine, health, stop)
    if source is None:
        return 2
    writer = EventWriter(args.record) if args.record else None
    _install_signals(health, stop)
    timer = _stop_after(args.duration, stop)
    write = sys.stdout.write
    try:
        for event in source:
            if writer is not None:
                writer.write(event)
            for alert in engine.process(event):
                write((alert.json_line() if args.json else alert.text_line(args.iso8601)) + "\n")
            if stop.is_set():
                break
    finally:
        if timer is not None:
            timer.cancel()
        sys.stdout.flush()
        if writer is not None:
            writer.close()
        health.report()
    return 0


def _open_source(args: argparse.Namespace, engine: Engine, health: Health,
                 stop: threading.Event) -> Iterator[Event] | None:
    if args.events is not None:
        return _replay(args.events, health, stop)
    from ..sources.live.setup import check_live_support
    reason = check_live_support()
    if reason is not None:
        print(f"falcoish: live capture is not possible here: {reason}", file=sys.stderr)
        print(f"falcoish: replaying the bundled sample trace {SAMPLE_TRACE} instead", file=sys.stderr)
        return _replay(str(SAMPLE_TRACE), health, stop)
    return _live(args, engine, health, stop)


def _replay(path: str, health: Health, stop: threading.Event) -> Iterator[Event] | None:
    def on_bad(number: int, reason: str) -> None:
        health.bad_records += 1
        print(f"{path}:{number}: skipped: {reason}", file=sys.stderr)

    try:
        return read_events(path, on_bad)
    except OSError as exc:
        print(f"falcoish: cannot read events from {path}: {exc.strerror or exc}", file=sys.stderr)
        return None


def _live(args: argparse.Namespace, engine: Engine, health: Health, stop: threading.Event) -> Iterator[Event]:
    from ..sources.live.capture import LiveCapture
    needed = None if args.all_events else engine.ruleset.needed_event_types()
    capture = LiveCapture(set(needed) if needed is not None else None)
    health.capture = capture
    if capture.unsupported:
        health.log.warning("event types the rules need but live capture does not provide",
                           types=",".join(capture.unsupported))
    threading.Thread(target=lambda: (stop.wait(), capture.stop()), daemon=True).start()
    capture.start()
    health.log.info("live capture started", event_types=len(capture.attach),
                    missing_tracepoints=",".join(capture.stats.get("missing_tracepoints", [])))
    return capture.events()


def _install_signals(health: Health, stop: threading.Event) -> None:
    def on_usr1(signum: int, frame: FrameType | None) -> None:
        health.report()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, on_usr1)
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)


def _stop_after(seconds: float | None, stop: threading.Event) -> threading.Timer | None:
    if not seconds:
        return None
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return timer


