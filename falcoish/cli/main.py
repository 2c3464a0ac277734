"""The `falcoish` command: one short module per subcommand."""

from __future__ import annotations

import argparse
import sys

from . import events, fields, rules, run, tail, test, validate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="falcoish", description="Runtime-security detection with Falco rules")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run, validate, rules, events, fields, test, tail):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
