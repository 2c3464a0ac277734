"""`falcoish events`: the event types the enabled rules need, for a capture filter."""

from __future__ import annotations

import argparse
import sys

from .common import add_rules_options, load_or_exit, select


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("events", help="event types needed by the enabled rules (comma-separated)")
    add_rules_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ruleset = select(args, load_or_exit(args))
    specific = sorted({t for r in ruleset.enabled if not r.all_types for t in r.event_types})
    catch_all = [r.name for r in ruleset.enabled if r.all_types]
    if catch_all:
        print(f"note: {len(catch_all)} rule(s) match every event type and need an unfiltered "
              f"capture: {', '.join(catch_all)}", file=sys.stderr)
    print(",".join(specific))
    return 0
