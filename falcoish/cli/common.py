"""Options shared by the subcommands: which rules files, and Falco's rule selection."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..collector import PRIORITIES, parse_priority
from ..loader import LoadResult, load_rules
from ..ruleset import RuleSet

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def default_rules_paths() -> list[str]:
    """falcoish's own rules: $FALCOISH_DEFAULT_RULES or the `default_rules/` folder."""
    env = os.environ.get("FALCOISH_DEFAULT_RULES")
    return [env] if env else [str(REPO_ROOT / "default_rules")]


def add_rules_options(parser: argparse.ArgumentParser, selection: bool = True) -> None:
    parser.add_argument("-r", "--rules", action="append", default=[], metavar="PATH",
                        help="rules file or folder; repeat to load several, in order "
                             "(default: falcoish's default rules)")
    if not selection:
        return
    parser.add_argument("-D", dest="disable", action="append", default=[], metavar="SUBSTRING",
                        help="disable rules whose name contains SUBSTRING")
    parser.add_argument("-T", dest="disable_tag", action="append", default=[], metavar="TAG",
                        help="disable rules with this tag")
    parser.add_argument("-t", dest="only_tag", action="append", default=[], metavar="TAG",
                        help="enable only rules with this tag")
    parser.add_argument("--rule", dest="only_rule", action="append", default=[], metavar="NAME",
                        help="enable only the named rule (repeatable)")
    parser.add_argument("--min-priority", type=_priority, default=None, metavar="PRIORITY",
                        help="drop rules less severe than this (" + ", ".join(p.lower() for p in PRIORITIES) + ")")


def _priority(text: str) -> str:
    priority = parse_priority(text)
    if priority is None:
        raise argparse.ArgumentTypeError(f"unknown priority '{text}': must be one of "
                                         + ", ".join(p.lower() for p in PRIORITIES))
    return priority


def load(args: argparse.Namespace) -> LoadResult:
    return load_rules(args.rules or default_rules_paths())


def select(args: argparse.Namespace, result: LoadResult) -> RuleSet:
    return result.ruleset.select(
        disable_substrings=args.disable, disable_tags=args.disable_tag, only_tags=args.only_tag,
        only_rules=args.only_rule, min_priority=args.min_priority)


def load_or_exit(args: argparse.Namespace) -> LoadResult:
    """Load rules; print every error and exit 1 if there are any (like Falco at start-up)."""
    result = load(args)
    if result.problems.errors:
        for problem in result.problems.errors:
            print(problem, file=sys.stderr)
        print(f"falcoish: {len(result.problems.errors)} error(s) in rules; nothing was run", file=sys.stderr)
        raise SystemExit(1)
    return result
