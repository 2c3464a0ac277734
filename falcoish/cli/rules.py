"""`falcoish rules`: list the loaded rules (name, priority, tags, enabled, description), or,
given rule names, show each one's effective definition and where it came from (describe.py)."""

from __future__ import annotations

import argparse
import shutil
import textwrap

import sys

import orjson

from ..rules.describe import (describe_rule, exception_json, find_rules, history_json, not_found_message,
                              render_text)
from ..rules.loader import LoadResult
from ..rules.ruleset import CompiledRule, RuleSet
from .common import add_rules_options, load_or_exit, select


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("rules", help="list loaded rules, or show the effective definition of NAMEs")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="show this rule's effective condition (as written and expanded), output, "
                             "exceptions and every file:line that defined, appended to or overrode it "
                             "(a TRC id works too)")
    add_rules_options(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per rule")
    parser.set_defaults(func=run)


def rule_id(rule: CompiledRule) -> str:
    """The rule's Tracee signature id (its `TRC-N` tag), as `tracee-rules --list` shows, or "-"."""
    ids = sorted(t for t in rule.tags if t.upper().startswith("TRC-"))
    return ids[0].upper() if ids else "-"


def run(args: argparse.Namespace) -> int:
    result = load_or_exit(args)
    ruleset = select(args, result)
    if args.names:
        return _describe(args, result, ruleset)
    if args.json:
        for r in ruleset.rules:
            history = history_json(result.book, "rule", r.name)
            decl = result.book.rules.get(r.name)
            output = result.outputs.get(r.name)
            print(orjson.dumps({"id": rule_id(r), "rule": r.name, "priority": r.priority, "tags": sorted(r.tags),
                                "enabled": r.enabled, "desc": r.desc.strip(), "source": r.source,
                                "file": history[0]["file"] if history else r.location.file,
                                "condition": decl.condition.text.strip() if decl else "",
                                "output": output.text if output is not None else r.output,
                                "exceptions": [exception_json(e) for e in (decl.exceptions if decl else ())],
                                "history": history,
                                "event_types": None if r.all_types else sorted(r.event_types)}).decode())
        return 0
    width = shutil.get_terminal_size((160, 24)).columns
    name_w = min(50, max((len(r.name) for r in ruleset.rules), default=4))
    print(f"{'ID':<7}  {'RULE':<{name_w}}  {'PRIORITY':<13}  {'ENABLED':<7}  TAGS / DESCRIPTION")
    for r in ruleset.rules:
        print(f"{rule_id(r):<7}  {r.name:<{name_w}}  {r.priority:<13}  {'yes' if r.enabled else 'no':<7}  "
              f"{', '.join(sorted(r.tags))}")
        desc = " ".join(r.desc.split())
        indent = " " * (name_w + 36)
        print(textwrap.fill(desc, width=max(60, width), initial_indent=indent, subsequent_indent=indent))
    enabled = sum(r.enabled for r in ruleset.rules)
    print(f"{len(ruleset.rules)} rules, {enabled} enabled")
    return 0


def _describe(args: argparse.Namespace, result: LoadResult, ruleset: RuleSet) -> int:
    """Each named rule's effective definition; a name that matches none is an error (exit 2)
    naming the closest rule names, after the rules that were found."""
    missing = []
    shown: list[CompiledRule] = []
    for name in args.names:
        found = find_rules(ruleset.rules, name)
        if not found:
            missing.append(name)
        shown.extend(r for r in found if all(r is not s for s in shown))
    for i, rule in enumerate(shown):
        info = {"id": rule_id(rule), **describe_rule(result, rule)}
        if args.json:
            print(orjson.dumps(info).decode())
        else:
            print(("\n" if i else "") + render_text(info))
    for name in missing:
        print(f"falcoish: {not_found_message(name, ruleset.rules)}", file=sys.stderr)
    return 2 if missing else 0
