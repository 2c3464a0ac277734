"""`falcoish validate`: load rules and report every error and warning.

The files read are named on stderr as they are at `run` (stdout stays the report, so
`--json` remains parseable); `--strict` makes warnings fail too, for CI."""

from __future__ import annotations

import argparse
import sys

import orjson

from .common import add_rules_options, config_or_exit, load


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("validate", help="check rules files; exit 0 when valid, 1 when not")
    add_rules_options(parser, selection=False)
    parser.add_argument("--json", action="store_true", help='print {"errors": [...], "warnings": [...]}')
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 on warnings too (a misspelt key, an unused macro...), not only on errors")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = load(args)
    problems = result.problems
    for path in result.files:
        print(f"Loading rules from file {path}", file=sys.stderr)
    if args.json:
        print(orjson.dumps({"errors": [p.to_json() for p in problems.errors],
                            "warnings": [p.to_json() for p in problems.warnings]},
                           option=orjson.OPT_INDENT_2).decode())
    else:
        for problem in problems:
            print(problem)
        status = "OK" if result.ok else "FAILED"
        print(f"{', '.join(result.files)}: {status} ({len(problems.errors)} errors, "
              f"{len(problems.warnings)} warnings, {len(result.ruleset.rules)} rules)")
    warned = len(problems.warnings) + len(config_or_exit(args).warnings)     # rules and configuration
    failed = not result.ok or (args.strict and warned > 0)
    if failed and result.ok and not args.json:
        print(f"falcoish: {warned} warning(s) and --strict: validation failed", file=sys.stderr)
    return 1 if failed else 0
