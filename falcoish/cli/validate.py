"""`falcoish validate`: load rules and report every error and warning."""

from __future__ import annotations

import argparse

import orjson

from .common import add_rules_options, load


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("validate", help="check rules files; exit 0 when valid, 1 when not")
    add_rules_options(parser, selection=False)
    parser.add_argument("--json", action="store_true", help='print {"errors": [...], "warnings": [...]}')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = load(args)
    problems = result.problems
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
    return 0 if result.ok else 1
