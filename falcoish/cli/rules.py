"""`falcoish rules`: list the loaded rules (name, priority, tags, enabled, description)."""

from __future__ import annotations

import argparse
import shutil
import textwrap

import orjson

from ..ruleset import CompiledRule
from .common import add_rules_options, load_or_exit, select


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("rules", help="list loaded rules")
    add_rules_options(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per rule")
    parser.set_defaults(func=run)


def rule_id(rule: CompiledRule) -> str:
    """The rule's Tracee signature id (its `TRC-N` tag), as `tracee-rules --list` shows, or "-"."""
    ids = sorted(t for t in rule.tags if t.upper().startswith("TRC-"))
    return ids[0].upper() if ids else "-"


def run(args: argparse.Namespace) -> int:
    ruleset = select(args, load_or_exit(args))
    if args.json:
        for r in ruleset.rules:
            print(orjson.dumps({"id": rule_id(r), "rule": r.name, "priority": r.priority, "tags": sorted(r.tags),
                                "enabled": r.enabled, "desc": r.desc.strip(), "source": r.source,
                                "file": r.location.file,
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
