"""`falcoish events`: the event types the enabled rules need, for a capture filter.

With `--kernel-filter`: the filter live capture installs in the kernel for each of those
types (derived from the rules, see docs/kernel-filter.md), and for a type that cannot be
filtered, the rule and the term that keep it wide open.
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
