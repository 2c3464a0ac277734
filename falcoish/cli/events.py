"""`falcoish events`: the event types the enabled rules need, for a capture filter.

With `--kernel-filter`: the filter live capture installs in the kernel for each of those
types (derived from the rules, see docs/kernel-filter.md), and for a type that cannot be
filtered, the rule and the term that keep it wide open.

With `--all` (Falco's `--list-events`): every event type the rules language accepts in
`evt.type`, with its category and parameters, marking the ones live capture provides (the
others match only in replays of recordings that carry them); `-N` prints the names only.
"""

from __future__ import annotations

import argparse
import sys

from .common import add_rules_options, load_or_exit, select


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("events", help="event types needed by the enabled rules (comma-separated)")
    add_rules_options(parser)
    parser.add_argument("--kernel-filter", action="store_true",
                        help="print, per event type, the filter live capture applies in the kernel")
    parser.add_argument("--all", action="store_true",
                        help="list every event type rules may name, marking those live capture provides "
                             "(Falco's --list-events); no rules are loaded")
    parser.add_argument("-N", "--names-only", action="store_true", help="with --all: event names only")
    parser.set_defaults(func=run)


def list_all(names_only: bool) -> int:
    """Every known event type: name, whether live capture provides it, category, parameters."""
    from ..events.table import EVENTS
    from ..sources.live.spec import SUPPORTED
    for name in sorted(EVENTS):
        if names_only:
            print(name)
            continue
        info = EVENTS[name]
        params = ", ".join(p.name for p in info.params)
        print(f"{name:<26} {'live' if name in SUPPORTED else '-':<5} {info.category:<10} {name}({params})")
    live = sum(name in SUPPORTED for name in EVENTS)
    if not names_only:
        print(f"{len(EVENTS)} event types, {live} captured live (live); the others match in replays only")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.all:
        return list_all(args.names_only)
    ruleset = select(args, load_or_exit(args))
    specific = sorted({t for r in ruleset.enabled if not r.all_types for t in r.event_types})
    catch_all = [r.name for r in ruleset.enabled if r.all_types]
    if catch_all:
        print(f"note: {len(catch_all)} rule(s) match every event type and need an unfiltered "
              f"capture: {', '.join(catch_all)}", file=sys.stderr)
    if not args.kernel_filter:
        print(",".join(specific))
        return 0
    from ..sources.live import spec
    from ..sources.live.kcontrol import plan_for
    wanted = frozenset(specific) if not catch_all else spec.IMPLICIT
    captured = frozenset(t for t in wanted if t in spec.SYSCALLS)
    plans = plan_for(ruleset, captured)
    lifecycle = sorted(t for t in captured if t in spec.LIFECYCLE)
    open_types = sorted(t for t, p in plans.items() if p.rules and p.open and t not in spec.LIFECYCLE)
    print(f"# kernel filter for {len(ruleset.enabled)} enabled rules; an event passes when a term "
          f"holds; a test the probe cannot decide (relative path, string cut at 512 bytes, unknown "
          f"process name) counts as holding")
    if lifecycle:
        print(f"# always sent (process lifecycle, reserved lane): {', '.join(lifecycle)}")
    if open_types:
        print(f"# wide open (every event sent, bulk lane): {', '.join(open_types)}")
    unsupported = sorted(set(wanted) - set(spec.SUPPORTED))
    if unsupported:
        print(f"# not captured live: {', '.join(unsupported)}")
    for name, plan in plans.items():
        if name in spec.LIFECYCLE or not plan.rules:
            continue
        print("\n".join(plan.render()))
    return 0
