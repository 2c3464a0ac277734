"""`falcoish test`: run rule test files and report pass/fail per case."""

from __future__ import annotations

import argparse
import sys

from ..runtime.ruletests import (RuleTestError, RuleTestFile, coverage, find_test_files, load_for, run_file,
                                 unknown_rules)
from .common import default_rules_paths


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("test", help="run rule test files (events + rules that must/must not fire)")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="test file, or folder searched for test files")
    parser.add_argument("-r", "--rules", action="append", default=[], metavar="PATH",
                        help="rules for test files that do not name their own (default: what `run` loads)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print passing cases too")
    parser.add_argument("--require-coverage", action="store_true",
                        help="fail unless every enabled rule has a case where it fires and one where it must not")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    files = find_test_files(args.paths)
    if not files:
        print("falcoish test: no test files found in " + ", ".join(args.paths), file=sys.stderr)
        return 2
    passed = failed = 0
    broken = False
    covered: dict[str, tuple[int, int]] = {}
    for path in files:
        try:
            test_file = RuleTestFile(path)
        except RuleTestError as err:
            print(f"ERROR {err}")
            broken = True
            continue
        loaded = load_for(test_file, args.rules or default_rules_paths())
        if loaded.problems.errors:
            for problem in loaded.problems.errors:
                print(f"ERROR {problem}")
            broken = True
            continue
        for name in unknown_rules(test_file, loaded):
            print(f"ERROR {path}: no loaded rule is named '{name}'")
            broken = True
        results = run_file(test_file, loaded)
        for result in results:
            if not result.passed or args.verbose:
                print(result.describe())
        passed += sum(r.passed for r in results)
        failed += sum(not r.passed for r in results)
        enabled = [r.name for r in loaded.ruleset.enabled]
        for name, (pos, neg) in coverage(results, enabled).items():
            old = covered.get(name, (0, 0))
            covered[name] = (old[0] + pos, old[1] + neg)
    if args.require_coverage:
        for name, (pos, neg) in sorted(covered.items()):
            if pos == 0 or neg == 0:
                print(f"UNCOVERED {name}: {pos} case(s) where it fires, {neg} where it must not")
                broken = True
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or broken else 0
