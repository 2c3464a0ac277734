"""`falcoish fields`: the supported fields with their types and descriptions.

`fields SOURCE` lists one event source's fields, and `-N` prints only the names, one per
line, as Falco's `--list SOURCE -N` does (falcoish has one source, `syscall`: every field
belongs to it).
"""

from __future__ import annotations

import argparse
import sys

import orjson

from ..rulefiles.collector import KNOWN_SOURCES
from ..fields import catalogue


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("fields", help="list supported fields")
    parser.add_argument("source", nargs="?", metavar="SOURCE",
                        help="only the fields of this event source (" + ", ".join(sorted(KNOWN_SOURCES)) + ")")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("-N", "--names-only", action="store_true", help="print field names only, one per line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.source is not None and args.source not in KNOWN_SOURCES:
        print(f"falcoish: unknown event source '{args.source}': falcoish has "
              + ", ".join(sorted(KNOWN_SOURCES)), file=sys.stderr)
        return 2
    specs = sorted(catalogue(), key=lambda s: s.name)
    if args.names_only:
        for s in specs:
            print(s.name)
        return 0
    if args.json:
        for s in specs:
            print(orjson.dumps({"name": s.name, "type": str(s.ftype), "arg": s.arg, "desc": s.desc,
                                "available": s.available, "filter_only": s.filter_only}).decode())
        return 0
    for s in specs:
        arg = {"none": "", "index": "[N]", "key": "[KEY]", "index_or_key": "[N|KEY]",
               "optional_index": "[N]", "required": ".NAME"}.get(s.arg, "")
        note = "" if s.available else "  (falcoish cannot get this data: always <NA>)"
        print(f"{s.name + arg:<42} {str(s.ftype):<9} {s.desc}{note}")
    print(f"{len(specs)} fields")
    return 0
