"""`falcoish fields`: the supported fields with their types and descriptions."""

from __future__ import annotations

import argparse

import orjson

from ..fields import catalogue


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("fields", help="list supported fields")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    specs = sorted(catalogue(), key=lambda s: s.name)
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
