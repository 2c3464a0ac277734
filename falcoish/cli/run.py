"""`falcoish run`: detect on events and print alerts (replay with `-e`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..engine import Engine
from ..sources.replay import read_events
from .common import add_rules_options, load_or_exit, select

SAMPLE_TRACE = Path(__file__).resolve().parent.parent / "data" / "sample_trace.jsonl"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("run", help="detect threats in events and print alerts")
    add_rules_options(parser)
    parser.add_argument("-e", "--events", metavar="FILE",
                        help="replay events from FILE (JSON lines, plain or gzip; '-' = stdin); "
                             "default: the bundled sample trace")
    parser.add_argument("--json", action="store_true", help="print alerts in Falco's JSON shape")
    parser.add_argument("--iso8601", action="store_true", help="ISO 8601 times in text alerts")
    parser.add_argument("--rule-matching", choices=("first", "all"), default="first",
                        help="fire only the first matching rule per event (Falco's default) or all")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = load_or_exit(args)
    engine = Engine.from_load(result, select(args, result), args.rule_matching)
    source = args.events
    if source is None:
        source = str(SAMPLE_TRACE)
        print(f"falcoish: replaying the bundled sample trace {source}", file=sys.stderr)
    bad = 0

    def on_bad(number: int, reason: str) -> None:
        nonlocal bad
        bad += 1
        print(f"{source}:{number}: skipped: {reason}", file=sys.stderr)

    try:
        events = read_events(source, on_bad)
    except OSError as exc:
        print(f"falcoish: cannot read events from {source}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    out = sys.stdout
    for event in events:
        for alert in engine.process(event):
            out.write((alert.json_line() if args.json else alert.text_line(args.iso8601)) + "\n")
    out.flush()
    _summary(engine, bad)
    return 0


def _summary(engine: Engine, bad: int) -> None:
    alerts = sum(engine.alerts_by_rule.values())
    lines = [f"Events processed: {engine.events}", f"Bad records skipped: {bad}", f"Alerts: {alerts}"]
    lines += [f"  {name}: {count}" for name, count in engine.alerts_by_rule.most_common()]
    print("\n".join(lines), file=sys.stderr)
