"""`falcoish run --record …`: the recording options, kept apart from the run loop.

`--record FILE` writes one recording (today's format, `.gz` compresses).  `--record DIR` (an
existing folder, a path ending in `/`, or any of the `--record-rotate`, `--record-max-bytes`,
`--record-host` options) writes a fleet recording:
`DIR/HOST/START-END.jsonl.gz` files with their sidecar index (sources/record_dir.py).
`--record-types` says what a live run captures, and so records: what the enabled rules need
(`rules`, the default), every type live capture provides (`all`), or also what the rules of
a rules FILE need, enabled or not, so that a recording can later be hunted with rules that
are not running today.  Recording more than the enabled rules need turns the kernel filter
off: it is derived from the enabled rules and would drop exactly the events wanted here.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Union

from ..rules.loader import load_rules
from ..rules.ruleset import RuleSet
from ..sources.record import EventWriter
from ..sources.record_dir import FleetRecorder, parse_duration

__all__ = ["Recorder", "add_record_options", "capture_types", "open_recorder",
           "record_overrides"]

Recorder = Union[EventWriter, FleetRecorder]


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    raw = text.strip().lower().removesuffix("b")
    scale = units.get(raw[-1:], 1)
    digits = raw[:-1] if raw[-1:] in units else raw
    if not digits.isdigit() or int(digits) <= 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 50000000, 64M, 1G)")
    return int(digits) * scale


def add_record_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--record", metavar="FILE|DIR",
                        help="also write every event in the replay format: to FILE (.gz "
                             "compresses), or, for an existing folder, a path ending in '/' or "
                             "with --record-rotate/-max-bytes/-host, as a fleet recording "
                             "DIR/HOST/START-END.jsonl.gz with an index per file")
    parser.add_argument("--record-rotate", type=_duration, metavar="DURATION",
                        help="fleet recording: a new file per period of event time (90s, 15m, 1h, 1d)")
    parser.add_argument("--record-max-bytes", type=_size, metavar="N",
                        help="fleet recording: a new file once one reaches about N compressed "
                             "bytes (K, M, G suffixes)")
    parser.add_argument("--record-host", metavar="NAME",
                        help="fleet recording: the host folder name (default: this host's name)")
    parser.add_argument("--record-types", default="rules", metavar="all|rules|FILE",
                        help="live: event types to capture and record: those the enabled rules "
                             "need (rules, default), every type capture provides (all), or also "
                             "those any rule of the rules FILE needs")


def _fleet_mode(args: argparse.Namespace) -> bool:
    path = str(args.record)
    return (os.path.isdir(path) or path.endswith("/") or args.record_rotate is not None
            or args.record_max_bytes is not None or args.record_host is not None)


def record_overrides(args: argparse.Namespace) -> list[str]:
    """Configuration overrides the recording options imply (the kernel filter off when more
    than the enabled rules' events are recorded)."""
    if args.events is None and args.record_types != "rules":
        return ["kernel_filter.enabled=false"]
    return []


def open_recorder(args: argparse.Namespace) -> Recorder | None:
    """The writer `--record` asks for, or None; exits 2 with a message when it cannot open."""
    if not args.record:
        return None
    try:
        if _fleet_mode(args):
            return FleetRecorder(args.record, args.record_host, args.record_rotate,
                                 args.record_max_bytes)
        return EventWriter(args.record)
    except OSError as exc:
        print(f"falcoish: cannot record to {args.record}: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(2) from None


def capture_types(args: argparse.Namespace, ruleset: RuleSet) -> frozenset[str] | None:
    """The event types live capture attaches to (None = every type it provides)."""
    if args.all_events or args.record_types == "all":
        return None
    needed = ruleset.needed_event_types()
    if args.record_types == "rules" or needed is None:
        return needed
    extra = _rules_file_types(args.record_types)
    return None if extra is None else needed | extra


def _rules_file_types(path: str) -> frozenset[str] | None:
    """Every event type some rule of `path` needs, enabled or not (None: some rule needs all)."""
    result = load_rules([path])
    if result.errors or not os.path.exists(path):
        for problem in result.errors:
            print(f"falcoish: --record-types {path}: {problem.message}", file=sys.stderr)
        if not os.path.exists(path):
            print(f"falcoish: --record-types: {path} is neither all, rules nor a rules file",
                  file=sys.stderr)
        raise SystemExit(2)
    types: set[str] = set()
    for rule in result.rules:
        if rule.all_types:
            return None
        types |= rule.event_types
    return frozenset(types)
