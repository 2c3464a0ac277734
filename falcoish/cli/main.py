"""The `falcoish` command: one short module per subcommand.

Falco's own flags (`-r`, `-V`, `-L`, `-l`, `--list`, `--version`, `--support`, ...) are
rewritten into falcoish commands before parsing, by falco_flags.py.
"""

from __future__ import annotations

import argparse
import sys

from . import events, falco_flags, fields, hunt, init, rules, run, support, tail, test, validate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="falcoish", description="Runtime-security detection with Falco rules",
                                     epilog=falco_flags.epilog(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run, validate, rules, events, fields, test, tail, support, init, hunt):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    commands = [name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
                for name in action.choices]
    try:
        translated = falco_flags.translate(given, commands, falco_flags.option_arity(parser))
    except falco_flags.FlagError as err:
        parser.error(str(err))
    args = parser.parse_args(translated)
    args.argv = given
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
